"""Writing audit events."""

from __future__ import annotations

import json
import time
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


#: An identical read repeated within this many seconds is covered by the event of the first one (RecentReads).
REPEATED_READ_SECONDS = 60


class RecentReads:
    """The reads one process has audited in the last ``seconds``, so that an identical repeat is not written again.

    This sets the granularity of the read audit: an event says that its actor read that list (view, filters,
    search, page, number of rows) from that address at ``at``, and maybe again, identically, until ``at`` plus
    ``seconds``. A read that differs in any of these is written. Each server process keeps its own memory, so
    each writes its own first read. A read counts as written only once its event is committed (``written`` is
    called after the commit); ``seconds`` = 0 writes every read.
    """

    def __init__(self, seconds: float = REPEATED_READ_SECONDS, max_entries: int = 10_000):
        self.seconds, self.max_entries = seconds, max_entries
        self._written: dict[str, float] = {}

    @staticmethod
    def key(action: str, *, actor_type: str, actor_id: int | None, ip: str | None, **details: Any) -> str:
        """What makes two reads identical."""
        return json.dumps([action, actor_type, actor_id, ip, details], sort_keys=True, default=str)

    def is_repeat(self, key: str) -> bool:
        """True when the same read was written less than ``seconds`` ago by this process."""
        at = self._written.get(key)
        return at is not None and time.monotonic() - at < self.seconds

    def written(self, key: str) -> None:
        """Note that the read ``key`` is written (call it once its event is committed)."""
        now = time.monotonic()
        if len(self._written) >= self.max_entries:
            self._written = {k: at for k, at in self._written.items() if now - at < self.seconds}
            if len(self._written) >= self.max_entries:
                self._written.clear()
        self._written[key] = now
