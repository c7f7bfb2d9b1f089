"""Demo data of Member 360: Léa RIMON's file was opened by a manager, who then showed her IBAN for a reason, and
an agent looked at one of her requests, so that "Consultations de mon dossier" has something to show."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .audit.operations import record
from .members.entities import Member
from .members.member360 import member_file, record_opening, unmask
from .requests.entities import REQUEST_MODELS
from .staff.entities import StaffRole, StaffUser


def load_member360_demo(session: Session, *, now: datetime) -> None:
    """Three consultations of Léa RIMON's file (4400000), over the last days."""
    lea = session.scalar(select(Member).where(Member.number == "4400000"))
    staff = {u.role: u for u in session.scalars(select(StaffUser).where(StaffUser.email.like("%@mese.fr")))}
    manager, agent = staff.get(StaffRole.MANAGER), staff.get(StaffRole.AGENT)
    if lea is None or manager is None or agent is None:
        return
    record_opening(session, lea, staff=manager, ip="10.1.0.12", now=now - timedelta(days=3, hours=2))
    found = member_file(session, lea)
    iban = next((choice for choice, _label in found.unmask_choices if choice.startswith("iban:")), None)
    if iban:
        unmask(session, found, target=iban, reason="Appel de l'adhérente : vérification d'un remboursement non reçu",
               staff=manager, ip="10.1.0.12", now=now - timedelta(days=3, hours=1, minutes=55))
    for model in REQUEST_MODELS.values():
        request = session.scalar(select(model).where(model.member_id == lea.id).order_by(model.id))
        if request is not None:
            record(session, "backoffice.viewed", actor_type="staff", actor_id=agent.id, subject=request,
                   member_id=lea.id, ip="10.1.0.20", now=now - timedelta(days=1), view=model.kind, role="agent")
            break
    session.flush()
