"""Writing audit events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from ..base import utcnow
from .entities import AuditEvent


def record(
    session: Session,
    action: str,
    *,
    actor_type: str,
    actor_id: int | None = None,
    subject: Any = None,
    member_id: int | None = None,
    ip: str | None = None,
    now: datetime | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an audit event to the session; ``details`` must hold no secret or personal number."""
    event = AuditEvent(
        at=now or utcnow(),
        actor_type=actor_type,
        actor_id=actor_id,
        action=action,
        subject_type=type(subject).__name__ if subject is not None else None,
        subject_id=getattr(subject, "id", None),
        member_id=member_id,
        ip=ip,
        details=details,
    )
    session.add(event)
    return event


def record_at_once(session: Session, action: str, *, actor_type: str, actor_id: int | None = None,
                   member_id: int | None = None, ip: str | None = None, now: datetime | None = None,
                   **details: Any) -> None:
    """Write an audit event without a subject now (one INSERT, no object to flush: for the events of every page
    view, such as list reads); ``details`` must hold no secret or personal number. The caller commits."""
    session.execute(_INSERT, {"at": now or utcnow(), "actor_type": actor_type, "actor_id": actor_id, "action": action,
                              "subject_type": None, "subject_id": None, "member_id": member_id, "ip": ip,
                              "details": details})


_INSERT = insert(AuditEvent.__table__).inline()  # no RETURNING: nobody reads the new id
