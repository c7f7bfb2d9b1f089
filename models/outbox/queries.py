"""Reads of the outbox for the back office: the story of a message's attempts, the messages staff may resend."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from .entities import OutboxAttempt, OutboxMessage, OutboxStatus


def attempt_story(session: Session, message_id: int) -> list[OutboxAttempt]:
    """Every attempt at delivering message ``message_id``, first to last."""
    return list(session.scalars(
        select(OutboxAttempt).where(OutboxAttempt.message_id == message_id).order_by(OutboxAttempt.number)))


def may_be_resent(message: OutboxMessage) -> bool:
    """Only a dead message goes again, and never one holding a code or a personal link (the member asks anew)."""
    return message.status is OutboxStatus.DEAD and not message.secret


def resend_candidates(session: Session, ids: Iterable[int]) -> list[OutboxMessage]:
    """Those of ``ids`` that staff may resend, oldest first."""
    return [m for m in session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(list(ids)))
                                       .order_by(OutboxMessage.id)) if may_be_resent(m)]
