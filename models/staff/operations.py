"""Staff accounts: creation (sign-in rules come with the back office)."""

from __future__ import annotations

from datetime import datetime

import pyotp
from sqlalchemy.orm import Session

from ..audit.operations import record
from ..base import utcnow
from ..members.passwords import hash_password
from .entities import StaffRole, StaffUser


def create_staff(
    session: Session, *, email: str, full_name: str, role: StaffRole, password: str,
    now: datetime | None = None, totp_secret: str | None = None,
) -> tuple[StaffUser, str]:
    """Create a staff user with a fresh TOTP secret; returns the user and its otpauth:// URI."""
    now = now or utcnow()
    secret = totp_secret or pyotp.random_base32()
    user = StaffUser(email=email.strip().lower(), full_name=full_name, role=role,
                     password_hash=hash_password(password), password_set_at=now, totp_secret=secret)
    session.add(user)
    session.flush()
    record(session, "staff.created", actor_type="system", subject=user, now=now, role=role.value)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name="MESE back office")
    return user, uri
