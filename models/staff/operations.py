"""Staff accounts: creation, sign-in (password, TOTP, growing delays, timed lock), sessions, passwords, admin."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from pyotp.exceptions import OTPVerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.operations import record
from ..base import utcnow
from ..db import DriverRead, as_loaded
from ..errors import DomainError, ValidationFailed
from ..formats import PARIS, date_fr
from ..members.passwords import (
    RULE_HISTORY, ExpiryPolicy, hash_password, install_password_hash, is_common_password, verify_password,
    was_used_before,
)
from ..outbox.operations import queue_email
from ..sessions.entities import WebSession
from ..sessions.operations import (SessionEnd, SessionPolicy, end_session, end_sessions, live_key_clauses,
                                  live_key_parameters, open_session)
from .entities import StaffRole, StaffUser

#: One answer for every refused password, whether the e-mail exists, is locked, delayed or the password is wrong.
LOGIN_REFUSED_MESSAGE = (
    "Adresse e-mail ou mot de passe incorrect, ou accès temporairement suspendu après plusieurs erreurs."
)
STAFF_PASSWORD_MIN_LENGTH = 12
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}", re.ASCII)


@dataclass(frozen=True)
class StaffSignInPolicy:
    """The numbers of the staff sign-in rules (the back office builds it from its settings)."""

    #: After this many consecutive failures, each new try waits a growing delay (1, 2, 4... minutes).
    delay_after_failures: int = 5
    #: After this many, the account is locked for ``lock_minutes`` (then tries resume, each failure relocks).
    lock_after_failures: int = 10
    base_delay_seconds: int = 60
    lock_minutes: int = 30


class StaffThrottle(enum.StrEnum):
    """Whether a staff account may try to sign in now."""

    OPEN = "open"
    DELAYED = "delayed"
    LOCKED = "locked"


def staff_password_problems(password: str, *, email: str) -> list[str]:
    """What is wrong with ``password`` as a staff password (empty when acceptable)."""
    problems = []
    if len(password) < STAFF_PASSWORD_MIN_LENGTH:
        problems.append(f"Le mot de passe doit comporter au moins {STAFF_PASSWORD_MIN_LENGTH} caractères.")
    if len(password) > 256:
        problems.append("Le mot de passe doit comporter 256 caractères au plus.")
    if not re.search(r"[a-z]", password) or not re.search(r"[A-Z]", password):
        problems.append("Le mot de passe doit comporter une minuscule et une majuscule.")
    if not re.search(r"[\d\W_]", password):
        problems.append("Le mot de passe doit comporter un chiffre ou un caractère spécial.")
    local_part = email.split("@", 1)[0].lower()
    if len(local_part) >= 4 and local_part in password.lower():
        problems.append("Le mot de passe ne doit pas contenir votre adresse e-mail.")
    if password and is_common_password(password):
        problems.append("Ce mot de passe est trop courant : il figure dans la liste des mots de passe connus des "
                        "pirates.")
    return problems


def new_staff_identity(session: Session, email: str | None, full_name: str | None
                       ) -> tuple[str, str, dict[str, list[str]]]:
    """The cleaned e-mail and name of a new staff account, with the errors of each (address taken, malformed...)."""
    email = (email or "").strip().lower()
    full_name = " ".join((full_name or "").split())
    errors: dict[str, list[str]] = {}
    if not _EMAIL.fullmatch(email) or len(email) > 254:
        errors["email"] = ["Saisissez une adresse e-mail valide."]
    elif find_staff_by_email(session, email) is not None:
        errors["email"] = ["Un compte existe déjà pour cette adresse e-mail."]
    if not full_name or len(full_name) > 150:
        errors["full_name"] = ["Le nom est obligatoire (150 caractères au plus)."]
    return email, full_name, errors


def create_staff(
    session: Session, *, email: str, full_name: str, role: StaffRole, password: str,
    now: datetime | None = None, totp_secret: str | None = None,
) -> tuple[StaffUser, str]:
    """Create a staff user with a fresh TOTP secret; returns the user and its otpauth:// URI.

    The staff password rules apply; an address already used is refused. Raises ValidationFailed
    (``email``, ``full_name``, ``password``).
    """
    now = now or utcnow()
    email, full_name, errors = new_staff_identity(session, email, full_name)
    problems = staff_password_problems(password or "", email=email)
    if problems:
        errors["password"] = problems
    if errors:
        raise ValidationFailed(errors)
    secret = totp_secret or pyotp.random_base32()
    user = StaffUser(email=email, full_name=full_name, role=role, password_hash=hash_password(password),
                     password_set_at=now, totp_secret=secret)
    session.add(user)
    session.flush()
    record(session, "staff.created", actor_type="system", subject=user, now=now, role=role.value)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name="MESE back office")
    return user, uri


def find_staff_by_email(session: Session, email: str, *, for_update: bool = False) -> StaffUser | None:
    """The staff user with this e-mail (case and surrounding spaces ignored), or None; ``for_update`` locks it."""
    query = select(StaffUser).where(StaffUser.email == email.strip().lower())
    return session.scalar(query.with_for_update() if for_update else query)


# ---------------------------------------------------------------------------------------------------------
# Guessing limits


def staff_throttle(user: StaffUser, policy: StaffSignInPolicy, now: datetime) -> StaffThrottle:
    """Locked until ``locked_until``; else delayed while the growing wait since the last failure runs."""
    if user.locked_until is not None and now < user.locked_until:
        return StaffThrottle.LOCKED
    over = user.failed_login_count - policy.delay_after_failures
    if 0 <= over and user.failed_login_count < policy.lock_after_failures and user.last_failed_login_at:
        if now < user.last_failed_login_at + timedelta(seconds=policy.base_delay_seconds * 2 ** over):
            return StaffThrottle.DELAYED
    return StaffThrottle.OPEN


def is_locked(user: StaffUser, now: datetime | None = None) -> bool:
    """True while a timed lock holds the account."""
    return user.locked_until is not None and (now or utcnow()) < user.locked_until


def _count_failure(session: Session, user: StaffUser, *, reason: str, policy: StaffSignInPolicy, now: datetime,
                   ip: str | None) -> None:
    """Count one failure (the caller holds the row lock); at the limit, lock for a while and tell the owner."""
    user.failed_login_count += 1
    user.last_failed_login_at = now
    record(session, "staff.login_failed", actor_type="anonymous", subject=user, ip=ip, now=now, reason=reason,
           failures=user.failed_login_count)
    if user.failed_login_count >= policy.lock_after_failures:
        user.locked_until = now + timedelta(minutes=policy.lock_minutes)
        record(session, "staff.locked", actor_type="system", subject=user, ip=ip, now=now,
               failures=user.failed_login_count, until=user.locked_until.isoformat())
        queue_email(session, to=user.email, template="staff_locked",
                    context={"user": user, "failures": user.failed_login_count, "ip": ip or "inconnue",
                             "until": f"{date_fr(user.locked_until)} à {user.locked_until.astimezone(PARIS):%H:%M}"})


def authenticate_staff(
    session: Session, email: str, password: str, *, policy: StaffSignInPolicy, now: datetime, ip: str | None = None
) -> StaffUser | None:
    """First step of the staff sign-in: check the e-mail and password.

    Returns the user when the password is right and the account active and open; otherwise None, after
    counting the failure and auditing it. The row is locked while checking, so concurrent guesses all count.
    Unknown e-mails cost the same Argon2 verification as known ones, so neither the answer nor its time
    tells whether an account exists. The caller commits in both cases, so that failures are kept.
    """
    user = find_staff_by_email(session, email, for_update=True) if email.strip() else None
    password_ok = verify_password(user.password_hash if user else None, password)
    if user is None:
        record(session, "staff.login_failed", actor_type="anonymous", ip=ip, now=now, reason="unknown_email")
        return None
    if not user.active:
        record(session, "staff.login_failed", actor_type="anonymous", subject=user, ip=ip, now=now,
               reason="inactive")
        return None
    state = staff_throttle(user, policy, now)
    if state is not StaffThrottle.OPEN:
        record(session, "staff.login_failed", actor_type="anonymous", subject=user, ip=ip, now=now,
               reason=state.value)
        return None
    if not password_ok:
        _count_failure(session, user, reason="wrong_password", policy=policy, now=now, ip=ip)
        return None
    return user


def verify_staff_totp(
    session: Session, user: StaffUser, code: str, *, policy: StaffSignInPolicy, now: datetime, ip: str | None = None
) -> bool:
    """Second step of the staff sign-in: check the authenticator code, once only.

    A code is accepted one step either side of ``now`` and only if its time step is later than
    the last accepted one (no replay, even of a code still valid). The row is locked while
    checking, so two simultaneous submissions of one code cannot both pass. Failures count
    towards the delays and the lock like wrong passwords. The caller commits in both cases.
    """
    user = session.get(StaffUser, user.id, with_for_update=True, populate_existing=True)
    if user is None or not user.active or not user.totp_secret:
        return False
    if staff_throttle(user, policy, now) is not StaffThrottle.OPEN:
        record(session, "staff.login_failed", actor_type="anonymous", subject=user, ip=ip, now=now,
               reason="throttled_code")
        return False
    try:
        timecode = pyotp.TOTP(user.totp_secret).verify_and_get_timecode(
            re.sub(r"\s", "", code or ""), for_time=now, valid_window=1)
    except (OTPVerificationError, ValueError):
        _count_failure(session, user, reason="wrong_code", policy=policy, now=now, ip=ip)
        return False
    if user.totp_last_timecode is not None and timecode <= user.totp_last_timecode:
        _count_failure(session, user, reason="replayed_code", policy=policy, now=now, ip=ip)
        return False
    user.totp_last_timecode = timecode
    return True


def complete_staff_login(session: Session, user: StaffUser, *, session_policy: SessionPolicy,
                         user_agent: str | None, now: datetime, ip: str | None = None) -> str:
    """Every factor passed: clear the failures, audit the sign-in, open a session; returns its key."""
    user.failed_login_count = 0
    user.last_failed_login_at = None
    user.locked_until = None
    user.last_login_at = now
    record(session, "staff.login_succeeded", actor_type="staff", actor_id=user.id, subject=user, ip=ip, now=now)
    return open_session(session, staff_id=user.id, policy=session_policy, ip=ip, user_agent=user_agent, now=now)


# ---------------------------------------------------------------------------------------------------------
# Sessions


@dataclass(frozen=True)
class LiveSession:
    """The server-side session a request is signed in with: its id and last noted activity (the session itself:
    ``session.get(WebSession, id)``)."""

    id: int
    last_seen_at: datetime


def signed_in_staff(session: Session, key: str | None, *, session_policy: SessionPolicy,
                    now: datetime) -> tuple[StaffUser, LiveSession] | None:
    """The staff member and session behind a cookie key: live session, active account (one query, built once:
    it runs on every request of the back office).

    The query reads what every page uses (role, name, password date; the session's last activity); the staff
    member is put in ``session`` as if loaded, the rest of their row read if and when used: never the password
    hash nor a TOTP secret (decrypted) on every request."""
    parameters = live_key_parameters(key, policy=session_policy, now=now)
    if parameters is None:
        return None
    found = _SIGNED_IN.first(session.connection(), parameters)
    if found is None:
        return None
    user = as_loaded(session, StaffUser, dict(zip(_SIGNED_IN_KEYS, found)))
    user.web_session_key = key
    return user, LiveSession(found[-2], found[-1])


#: What signed_in_staff reads of the staff member.
_SIGNED_IN_KEYS = ("id", "email", "full_name", "role", "active", "password_set_at")
#: signed_in_staff's query: a live session (models.sessions.operations.live_key_clauses) and an active account,
#: read on the driver (models.db.DriverRead): no ORM step on every request.
_SIGNED_IN = DriverRead(
    select(*(StaffUser.__table__.c[name] for name in _SIGNED_IN_KEYS), WebSession.__table__.c.id,
           WebSession.__table__.c.last_seen_at)
    .select_from(StaffUser.__table__.join(WebSession.__table__,
                                          WebSession.__table__.c.staff_id == StaffUser.__table__.c.id))
    .where(*live_key_clauses(), StaffUser.active.is_(True)))


def record_staff_logout(session: Session, user: StaffUser, web_session: WebSession | None, *, now: datetime,
                        ip: str | None = None, reason: str = SessionEnd.SIGNED_OUT) -> None:
    """End a staff session on the server (``reason``: signed_out or idle) and audit it."""
    if web_session is not None:
        end_session(web_session, reason=reason, now=now)
    record(session, "staff.logout", actor_type="staff", actor_id=user.id, subject=user, ip=ip, now=now,
           reason="logout" if reason == SessionEnd.SIGNED_OUT else reason)


def end_own_staff_session(session: Session, user: StaffUser, session_id: int, *, now: datetime,
                          ip: str | None = None) -> bool:
    """"Fermer cette session" from the list of one's sessions; False when it is not one of this user's."""
    web_session = session.get(WebSession, session_id)
    if web_session is None or web_session.staff_id != user.id or web_session.ended_at is not None:
        return False
    end_session(web_session, reason=SessionEnd.ENDED_BY_OWNER, now=now)
    record(session, "staff.session_ended", actor_type="staff", actor_id=user.id, subject=user, ip=ip, now=now,
           session_id=session_id)
    return True


# ---------------------------------------------------------------------------------------------------------
# Passwords


def staff_password_expired(user: StaffUser, *, now: datetime, max_age_days: int) -> bool:
    """True when the password is older than ``max_age_days`` (0 disables expiry); the members' rule."""
    return max_age_days > 0 and ExpiryPolicy(max_age_days=max_age_days).expired(user, now)


def new_staff_password_errors(session: Session, user: StaffUser, password: str,
                              confirmation: str) -> dict[str, list[str]]:
    """Errors of a new staff password by field (``new_password``, ``confirmation``): the staff rules, then the
    history shared with members (the current password and every earlier one are refused)."""
    errors: dict[str, list[str]] = {}
    problems = staff_password_problems(password or "", email=user.email)
    if problems:
        errors["new_password"] = problems
    elif was_used_before(session, user, password):
        errors["new_password"] = [str(RULE_HISTORY)]
    if password != confirmation:
        errors["confirmation"] = ["Les deux mots de passe ne sont pas identiques."]
    return errors


def change_staff_password(
    session: Session, user: StaffUser, *, current_password: str, new_password: str, confirmation: str,
    policy: StaffSignInPolicy, session_policy: SessionPolicy, user_agent: str | None, now: datetime,
    ip: str | None = None,
) -> str:
    """A staff member replaces their password (required once it has expired).

    A wrong current password counts as a failed sign-in (delays, then the timed lock) and is audited; the
    caller commits it. Then checks the policy, the confirmation and that it changes. Ends every session
    of this user and opens a new one for the caller; returns its key. Raises ValidationFailed with the
    field of each error, or DomainError when the account is held by the delays or the lock.
    """
    session.flush()
    session.refresh(user, with_for_update=True)  # concurrent wrong guesses each count
    if staff_throttle(user, policy, now) is not StaffThrottle.OPEN:
        record(session, "staff.password_change_failed", actor_type="staff", actor_id=user.id, subject=user, ip=ip,
               now=now, reason="throttled")
        raise DomainError("Trop d'essais : patientez quelques minutes avant de réessayer.", field="current_password")
    if not verify_password(user.password_hash, current_password):
        record(session, "staff.password_change_failed", actor_type="staff", actor_id=user.id, subject=user, ip=ip,
               now=now, reason="wrong_current")
        _count_failure(session, user, reason="wrong_current_password", policy=policy, now=now, ip=ip)
        raise ValidationFailed({"current_password": ["Le mot de passe actuel est incorrect."]})
    if new_password == current_password:
        errors = {"new_password": ["Le nouveau mot de passe doit être différent de l'actuel."]}
        if new_password != confirmation:
            errors["confirmation"] = ["Les deux mots de passe ne sont pas identiques."]
    else:
        errors = new_staff_password_errors(session, user, new_password, confirmation)
    if errors:
        raise ValidationFailed(errors)
    install_password_hash(session, user, hash_password(new_password), now=now)
    end_sessions(session, staff_id=user.id, reason=SessionEnd.PASSWORD_CHANGED, now=now)
    record(session, "staff.password_changed", actor_type="staff", actor_id=user.id, subject=user, ip=ip, now=now)
    return open_session(session, staff_id=user.id, policy=session_policy, ip=ip, user_agent=user_agent, now=now)


# ---------------------------------------------------------------------------------------------------------
# Administration


def unlock_staff(
    session: Session, user: StaffUser, *, by: StaffUser | None, now: datetime, ip: str | None = None
) -> None:
    """An admin (or, with ``by=None``, the command line) lifts the delays and the lock of an account."""
    user.failed_login_count = 0
    user.last_failed_login_at = None
    user.locked_until = None
    record(session, "staff.unlocked", actor_type="staff" if by else "system", actor_id=by.id if by else None,
           subject=user, ip=ip, now=now)


def end_staff_sessions(
    session: Session, user: StaffUser, *, by: StaffUser, now: datetime, ip: str | None = None
) -> None:
    """Sign ``user`` out everywhere: every session of theirs ends on the server."""
    count = end_sessions(session, staff_id=user.id, reason=SessionEnd.ENDED_BY_ADMIN, now=now)
    record(session, "staff.sessions_ended", actor_type="staff", actor_id=by.id, subject=user, ip=ip, now=now,
           sessions=count)


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
    if "active" in changes and not active:
        end_sessions(session, staff_id=user.id, reason=SessionEnd.DEACTIVATED, now=now)
    elif "role" in changes:
        end_sessions(session, staff_id=user.id, reason=SessionEnd.ROLE_CHANGED, now=now)
    record(session, "staff.updated", actor_type="staff", actor_id=by.id, subject=user, ip=ip, now=now, **changes)
