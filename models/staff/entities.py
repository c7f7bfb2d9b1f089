"""Mapped class of staff users."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base, StrEnumType, TimestampMixin
from ..crypto import EncryptedString


class StaffRole(enum.StrEnum):
    """What a staff user may do: agents work queues, managers also report and edit content."""

    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"


class StaffUser(TimestampMixin, Base):
    """A person of MESE who signs in to the back office."""

    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    full_name: Mapped[str] = mapped_column(String(150))
    role: Mapped[StaffRole] = mapped_column(StrEnumType(StaffRole, 10))
    password_hash: Mapped[str] = mapped_column(String(255))
    password_set_at: Mapped[datetime]
    totp_secret: Mapped[str | None] = mapped_column(EncryptedString())
    totp_last_timecode: Mapped[int | None]
    totp_pending_secret: Mapped[str | None] = mapped_column(
        EncryptedString(), comment="secret shown during enrolment, until its first code is typed")
    active: Mapped[bool] = mapped_column(default=True)
    failed_login_count: Mapped[int] = mapped_column(default=0)
    last_failed_login_at: Mapped[datetime | None]
    locked_until: Mapped[datetime | None] = mapped_column(comment="timed lock after too many failures")
    last_login_at: Mapped[datetime | None]

    #: Key of the server-side session (models.sessions) this object was signed in or loaded with; never
    #: stored here. Flask-Login keeps it in the cookie as the user's id.
    web_session_key = None

    # The four members below are the user protocol of Flask-Login, written out so that
    # models/ stays free of Flask. The cookie carries the session key, never the user's id.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str | None:
        return self.web_session_key

    def __str__(self) -> str:
        return self.full_name


class StaffPasswordHistory(Base):
    """A password hash a staff member used before, so that it is never used again (as for members)."""

    __tablename__ = "staff_password_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class StaffInvitation(Base):
    """A single-use, expiring link e-mailed to a new staff member to set a password; only its SHA-256 is kept."""

    __tablename__ = "staff_invitation"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"),
                                                      comment="empty when sent by the command line")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class TotpResetRequest(Base):
    """An admin's request to reset a staff member's authenticator app; a second admin confirms it."""

    __tablename__ = "staff_totp_reset"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    requested_at: Mapped[datetime]
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    confirmed_at: Mapped[datetime | None]
