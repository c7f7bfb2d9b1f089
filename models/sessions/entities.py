"""Mapped class of server-side sign-in sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base


class WebSession(Base):
    """One signed-in browser of a member or a staff member; the cookie holds a random key, this row its SHA-256."""

    __tablename__ = "web_session"
    __table_args__ = (CheckConstraint("(member_id IS NULL) <> (staff_id IS NULL)", name="one_owner"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True, comment="SHA-256 of the key in the cookie")
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(comment="absolute end, however active")
    ip: Mapped[str | None] = mapped_column(String(45))
    device: Mapped[str] = mapped_column(String(100), default="", comment="browser and system, from the user agent")
    reauthenticated_at: Mapped[datetime | None] = mapped_column(
        comment="last time password and second factor were asked again in this session")
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(30))
