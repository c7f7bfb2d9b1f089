"""What a staff member may do to one item of a request queue, beyond the workflow itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..errors import InvalidTransition
from ..requests.entities import OPEN_STATUSES, RequestEvent, RequestMixin, RequestStatus
from ..requests.workflow import claim, transition
from .entities import StaffRole, StaffUser

SUPERVISORS = (StaffRole.MANAGER, StaffRole.ADMIN)


def claim_request(session: Session, request: RequestMixin, *, staff: StaffUser, now: datetime) -> None:
    """``staff`` takes one given new request (the queue's "next" button uses claim_next instead).

    The caller loads ``request`` locked (``FOR UPDATE``), so two agents clicking together cannot
    both take it: the second one sees it in progress and is refused.
    """
    if request.status is not RequestStatus.NEW:
        raise InvalidTransition("Cette demande a déjà été prise en charge.")
    claim(session, request, staff=staff, now=now)


def release_request(session: Session, request: RequestMixin, *, staff: StaffUser, now: datetime) -> None:
    """Put an in-progress request back in the queue, unassigned.

    Only its assignee may do so, or a manager or admin (for an absent colleague).
    """
    if request.status is not RequestStatus.IN_PROGRESS:
        raise InvalidTransition("Seule une demande en cours de traitement peut être remise dans la file.")
    if request.assigned_to_id != staff.id and staff.role not in SUPERVISORS:
        raise InvalidTransition(
            "Seul l'agent en charge de la demande, ou un responsable, peut la remettre dans la file.")
    transition(session, request, RequestStatus.NEW, staff=staff, now=now, note="Remise dans la file")


@dataclass(frozen=True)
class QueueOverview:
    """The state of one queue, as the back-office home page shows it."""

    counts: dict[RequestStatus, int]
    overdue: int
    mine: list[RequestMixin]


def queue_overview(session: Session, model: type[RequestMixin], *, staff: StaffUser, today: date,
                   limit: int = 20) -> QueueOverview:
    """Open requests per status, how many are late, and those ``staff`` is working on.

    Every count is restricted to one open status, so the ``(status, created_at, id)`` index
    answers it without reading the closed history of the table.
    """
    counts = {
        status: session.scalar(select(func.count()).select_from(model).where(model.status == status))
        for status in OPEN_STATUSES
    }
    overdue = session.scalar(
        select(func.count()).select_from(model).where(model.status.in_(OPEN_STATUSES), model.due_on < today))
    mine = list(session.scalars(
        select(model).where(model.status == RequestStatus.IN_PROGRESS, model.assigned_to_id == staff.id)
        .order_by(model.due_on, model.id).limit(limit)))
    return QueueOverview(counts=counts, overdue=overdue, mine=mine)


def staff_names(session: Session, events: list[RequestEvent]) -> dict[int, str]:
    """Names of the staff members who wrote ``events`` (history lines), by id."""
    ids = {e.staff_id for e in events if e.staff_id}
    if not ids:
        return {}
    return dict(session.execute(select(StaffUser.id, StaffUser.full_name).where(StaffUser.id.in_(ids))).all())
