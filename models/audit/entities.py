"""Mapped class of audit events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base, utcnow


class AuditEvent(Base):
    """One audited action; ``details`` never holds a secret, a code, a NIR or an IBAN."""

    __tablename__ = "audit_event"
    # The journal lists newest first (at, id), unfiltered or by action, member, author or kind of record.
    __table_args__ = (
        Index("ix_audit_event_at", "at", "id"),
        Index("ix_audit_event_member_at", "member_id", "at", "id"),
        Index("ix_audit_event_action_at", "action", "at", "id"),
        Index("ix_audit_event_actor_at", "actor_id", "at", "id"),
        Index("ix_audit_event_subject_at", "subject_type", "at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_type: Mapped[str] = mapped_column(String(10), comment="member, staff, system or anonymous")
    actor_id: Mapped[int | None]
    action: Mapped[str] = mapped_column(String(50))
    subject_type: Mapped[str | None] = mapped_column(String(50))
    subject_id: Mapped[int | None]
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"))
    ip: Mapped[str | None] = mapped_column(String(45))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
