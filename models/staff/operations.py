"""Staff accounts: creation, sign-in (password, TOTP, lock), password expiry and administration."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pyotp
from pyotp.exceptions import OTPVerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.operations import record
from ..base import utcnow
from ..errors import DomainError, ValidationFailed
from ..members.entities import new_session_token
from ..members.passwords import hash_password, verify_password
from .entities import StaffRole, StaffUser

#: Consecutive failed passwords or codes after which an account is locked until an admin unlocks it.
MAX_FAILED_LOGINS = 5
#: One answer for every refused password, whether the e-mail exists, is locked or the password is wrong.
LOGIN_REFUSED_MESSAGE = (
    "Adresse e-mail ou mot de passe incorrect. Après 5 essais infructueux, le compte est verrouillé : "
    "contactez un administrateur."
)
STAFF_PASSWORD_MIN_LENGTH = 12


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


def find_staff_by_email(session: Session, email: str) -> StaffUser | None:
    """The staff user with this e-mail (case and surrounding spaces ignored), or None."""
    return session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))


def is_locked(user: StaffUser) -> bool:
    """True when too many consecutive failures locked the account."""
    return user.failed_login_count >= MAX_FAILED_LOGINS


def _count_failure(session: Session, user: StaffUser, *, reason: str, now: datetime, ip: str | None) -> None:
    user.failed_login_count += 1
    record(session, "staff.login_failed", actor_type="anonymous", subject=user, ip=ip, now=now, reason=reason,
           failures=user.failed_login_count)
    if user.failed_login_count == MAX_FAILED_LOGINS:
        record(session, "staff.locked", actor_type="system", subject=user, ip=ip, now=now)


def authenticate_staff(
    session: Session, email: str, password: str, *, now: datetime, ip: str | None = None
) -> StaffUser | None:
    """First step of the staff sign-in: check the e-mail and password.

    Returns the user when the password is right and the account active and unlocked; otherwise
    None, after counting the failure and auditing it. Unknown e-mails cost the same Argon2
    verification as known ones, so neither the answer nor its time tells whether an account exists.
    The caller commits in both cases, so that failures are kept.
    """
    user = find_staff_by_email(session, email) if email.strip() else None
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None:
        record(session, "staff.login_failed", actor_type="anonymous", ip=ip, now=now, reason="unknown_email")
        return None
    if not user.active:
        record(session, "staff.login_failed", actor_type="anonymous", subject=user, ip=ip, now=now,
               reason="inactive")
        return None
    if is_locked(user):
        record(session, "staff.login_failed", actor_type="anonymous", subject=user, ip=ip, now=now, reason="locked")
        return None
    if not password_ok:
        _count_failure(session, user, reason="wrong_password", now=now, ip=ip)
        return None
    return user


def verify_staff_totp(
    session: Session, user: StaffUser, code: str, *, now: datetime, ip: str | None = None
) -> bool:
    """Second step of the staff sign-in: check the authenticator code, once only.

    A code is accepted one step either side of ``now`` and only if its time step is later than
    the last accepted one (no replay, even of a code still valid). The row is locked while
    checking, so two simultaneous submissions of one code cannot both pass. Failures count
    towards the lock like wrong passwords. The caller commits in both cases.
    """
    user = session.get(StaffUser, user.id, with_for_update=True, populate_existing=True)
    if user is None or not user.active or is_locked(user) or not user.totp_secret:
        return False
    try:
        timecode = pyotp.TOTP(user.totp_secret).verify_and_get_timecode(
            re.sub(r"\s", "", code or ""), for_time=now, valid_window=1)
    except (OTPVerificationError, ValueError):
        _count_failure(session, user, reason="wrong_code", now=now, ip=ip)
        return False
    if user.totp_last_timecode is not None and timecode <= user.totp_last_timecode:
        _count_failure(session, user, reason="replayed_code", now=now, ip=ip)
        return False
    user.totp_last_timecode = timecode
    return True


def complete_staff_login(session: Session, user: StaffUser, *, now: datetime, ip: str | None = None) -> None:
    """Every factor passed: clear the failure count and audit the sign-in."""
    user.failed_login_count = 0
    user.last_login_at = now
    record(session, "staff.login_succeeded", actor_type="staff", actor_id=user.id, subject=user, ip=ip, now=now)


def record_staff_logout(session: Session, user: StaffUser, *, now: datetime, ip: str | None = None,
                        reason: str = "logout") -> None:
    """Audit the end of a staff session (``reason``: logout or idle)."""
    record(session, "staff.logout", actor_type="staff", actor_id=user.id, subject=user, ip=ip, now=now,
           reason=reason)


def staff_password_expired(user: StaffUser, *, now: datetime, max_age_days: int) -> bool:
    """True when the password is older than ``max_age_days`` (0 disables expiry)."""
    return max_age_days > 0 and user.password_set_at + timedelta(days=max_age_days) <= now


def staff_password_problems(password: str, *, email: str) -> list[str]:
    """What is wrong with ``password`` as a staff password (empty when acceptable)."""
    problems = []
    if len(password) < STAFF_PASSWORD_MIN_LENGTH:
        problems.append(f"Le mot de passe doit comporter au moins {STAFF_PASSWORD_MIN_LENGTH} caractères.")
    if not re.search(r"[a-z]", password) or not re.search(r"[A-Z]", password):
        problems.append("Le mot de passe doit comporter une minuscule et une majuscule.")
    if not re.search(r"[\d\W_]", password):
        problems.append("Le mot de passe doit comporter un chiffre ou un caractère spécial.")
    local_part = email.split("@", 1)[0].lower()
    if len(local_part) >= 4 and local_part in password.lower():
        problems.append("Le mot de passe ne doit pas contenir votre adresse e-mail.")
    return problems


def change_staff_password(
    session: Session, user: StaffUser, *, current_password: str, new_password: str, confirmation: str,
    now: datetime, ip: str | None = None,
) -> None:
    """A staff member replaces their password (required once it has expired).

    Checks the current password, the policy, the confirmation and that it changes. Rotates the
    session token, which ends every other session of this user; the caller signs the user in
    again with the new token. Raises ValidationFailed with the field of each error.
    """
    errors: dict[str, list[str]] = {}
    if not verify_password(user.password_hash, current_password):
        errors["current_password"] = ["Le mot de passe actuel est incorrect."]
    problems = staff_password_problems(new_password, email=user.email)
    if problems:
        errors["new_password"] = problems
    elif new_password == current_password:
        errors["new_password"] = ["Le nouveau mot de passe doit être différent de l'actuel."]
    if new_password != confirmation:
        errors["confirmation"] = ["Les deux mots de passe ne sont pas identiques."]
    if errors:
        raise ValidationFailed(errors)
    user.password_hash = hash_password(new_password)
    user.password_set_at = now
    user.session_token = new_session_token()
    record(session, "staff.password_changed", actor_type="staff", actor_id=user.id, subject=user, ip=ip, now=now)


def unlock_staff(
    session: Session, user: StaffUser, *, by: StaffUser | None, now: datetime, ip: str | None = None
) -> None:
    """An admin (or, with ``by=None``, the command line) unlocks an account locked by failed sign-ins."""
    user.failed_login_count = 0
    record(session, "staff.unlocked", actor_type="staff" if by else "system", actor_id=by.id if by else None,
           subject=user, ip=ip, now=now)


def end_staff_sessions(
    session: Session, user: StaffUser, *, by: StaffUser, now: datetime, ip: str | None = None
) -> None:
    """Sign ``user`` out everywhere by rotating the token their sessions carry."""
    user.session_token = new_session_token()
    record(session, "staff.sessions_ended", actor_type="staff", actor_id=by.id, subject=user, ip=ip, now=now)


def update_staff(
    session: Session, user: StaffUser, *, by: StaffUser, full_name: str, role: StaffRole, active: bool,
    now: datetime, ip: str | None = None,
) -> None:
    """An admin changes a staff member's name, role or active flag.

    Admins cannot demote or deactivate themselves (the last door into the back office must not
    close by mistake). A change of role or deactivation ends the user's sessions.
    """
    full_name = " ".join((full_name or "").split())
    if not full_name:
        raise DomainError("Le nom est obligatoire.", field="full_name")
    if user.id == by.id and (role is not user.role or not active):
        raise DomainError("Vous ne pouvez pas modifier votre propre rôle ni désactiver votre propre compte.",
                          field="role")
    changes = {}
    if full_name != user.full_name:
        changes["full_name"] = True
    if role is not user.role:
        changes["role"] = f"{user.role.value}->{role.value}"
    if active != user.active:
        changes["active"] = active
    user.full_name, user.role, user.active = full_name, role, active
    if "role" in changes or "active" in changes:
        user.session_token = new_session_token()
    record(session, "staff.updated", actor_type="staff", actor_id=by.id, subject=user, ip=ip, now=now, **changes)
