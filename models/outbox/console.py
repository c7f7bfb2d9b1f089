"""The outbox console of the back office: staff put dead messages back in the delivery queue."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.operations import record
from ..errors import DomainError
from ..requests.entities import RequestMixin
from .entities import OutboxMessage, OutboxStatus
from .operations import NEW_MESSAGES_KEY

#: What staff must accept before a dead message goes again: it may already have reached its recipient.
DUPLICATE_RISK = ("Un message en échec définitif est peut-être déjà parti : quand un envoi a été interrompu, "
                  "on ne sait pas si le destinataire l'a reçu. Le renvoyer peut lui faire recevoir un doublon "
                  "(un second e-mail, SMS ou fax).")
RISK_NOT_ACCEPTED = "Cochez la case pour confirmer que vous acceptez le risque de doublon."


def requeue_messages(session: Session, ids: Iterable[int], *, staff_id: int, now: datetime,
                     duplicate_risk_accepted: bool) -> int:
    """Give dead messages another chance: pending again, due now, attempts kept for the record.

    Staff must accept the risk of a duplicate first (``DUPLICATE_RISK``): raises DomainError otherwise.
    Only dead messages move (a pending, enqueued or sent one is left alone, so a message is
    never sent twice by mistake). A secret message (a code, a personal link) is masked once dead and
    never resent: the member asks for a new one. Returns how many were requeued; each one is audited.
    """
    if not duplicate_risk_accepted:
        raise DomainError(RISK_NOT_ACCEPTED, field="risque_doublon")
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.id.in_(list(ids)), OutboxMessage.status == OutboxStatus.DEAD,
               OutboxMessage.secret.is_(False))
        .with_for_update()
    ).all()
    for message in rows:
        message.status = OutboxStatus.PENDING
        message.next_attempt_at = now
        record(session, "outbox.requeued", actor_type="staff", actor_id=staff_id, subject=message,
               member_id=message.member_id, now=now, related=message.related, attempts=message.attempts,
               duplicate_risk_accepted=True)
    if rows:
        # Same nudge as a freshly queued message: the after-commit hook in jobs/ relays it.
        session.info[NEW_MESSAGES_KEY] = True
    return len(rows)


def messages_for_request(session: Session, request: RequestMixin) -> list[OutboxMessage]:
    """Messages sent about ``request`` (letters, faxes, e-mails to the member), oldest first.

    Narrowed by the member first: ``member_id`` is indexed, ``related`` is not.
    """
    return list(session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.member_id == request.member_id, OutboxMessage.related == request.reference)
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    ))
