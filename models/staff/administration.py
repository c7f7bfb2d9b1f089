"""Staff administration by admins: invitations, enrolment of the authenticator app, its reset by two admins."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

import pyotp
from pyotp.exceptions import OTPVerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..audit.operations import record
from ..errors import DomainError, ValidationFailed
from ..members.passwords import hash_password, install_password_hash
from ..outbox.operations import queue_email
from ..sessions.operations import SessionEnd, end_sessions
from .entities import StaffInvitation, StaffRole, StaffUser, TotpResetRequest
from .operations import new_staff_identity, new_staff_password_errors

#: Hours an invitation link answers.
INVITATION_HOURS = 72
#: What an invited account holds instead of a password hash until its owner sets one: no password matches it.
NO_PASSWORD = "!invited"
TOTP_ISSUER = "MESE back office"
INVITATION_REFUSED = "Ce lien d'invitation n'est plus valable : il a déjà servi ou il a expiré. Demandez une " \
                     "nouvelle invitation à un administrateur."


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _actor(by: StaffUser | None) -> dict:
    return {"actor_type": "staff", "actor_id": by.id} if by is not None else {"actor_type": "system"}


def invite_staff(
    session: Session, *, email: str, full_name: str, role: StaffRole, by: StaffUser | None,
    make_link: Callable[[str], str], now: datetime, ip: str | None = None, valid_hours: int = INVITATION_HOURS,
) -> StaffUser:
    """Create a staff account without password nor authenticator and e-mail its owner a single-use link.

    The link (only its SHA-256 is kept) lets them choose a password under the staff rules, then enrol the
    authenticator app. ``by`` is the admin (None: the command line). Raises ValidationFailed
    (``email``, ``full_name``).
    """
    email, full_name, errors = new_staff_identity(session, email, full_name)
    if errors:
        raise ValidationFailed(errors)
    user = StaffUser(email=email, full_name=full_name, role=role, password_hash=NO_PASSWORD, password_set_at=now,
                     totp_secret=None)
    session.add(user)
    session.flush()
    record(session, "staff.invited", subject=user, ip=ip, now=now, role=role.value, **_actor(by))
    send_invitation(session, user, by=by, make_link=make_link, now=now, ip=ip, valid_hours=valid_hours)
    return user


def send_invitation(
    session: Session, user: StaffUser, *, by: StaffUser | None, make_link: Callable[[str], str], now: datetime,
    ip: str | None = None, valid_hours: int = INVITATION_HOURS,
) -> None:
    """E-mail ``user`` a new invitation link; earlier links of theirs stop working."""
    if not user.active:
        raise DomainError("Ce compte est désactivé : réactivez-le avant d'envoyer une invitation.")
    if user.password_hash != NO_PASSWORD:
        raise DomainError(f"{user.full_name} a déjà choisi son mot de passe : l'invitation n'est plus utile.")
    session.execute(update(StaffInvitation).where(StaffInvitation.staff_id == user.id,
                                                  StaffInvitation.used_at.is_(None)).values(expires_at=now))
    raw = secrets.token_urlsafe(32)
    session.add(StaffInvitation(staff_id=user.id, token_hash=_token_hash(raw), invited_by_id=by.id if by else None,
                                created_at=now, expires_at=now + timedelta(hours=valid_hours)))
    queue_email(session, to=user.email, template="staff_invitation", secret=True,
                context={"user": user, "link": make_link(raw), "hours": valid_hours,
                         "by": by.full_name if by else None})
    record(session, "staff.invitation_sent", subject=user, ip=ip, now=now, **_actor(by))


def find_invitation(session: Session, raw: str, *, now: datetime, for_update: bool = False) -> StaffInvitation | None:
    """The unused, unexpired invitation of an active account behind the link's token, or None."""
    if not raw or len(raw) > 100:
        return None
    query = select(StaffInvitation).where(StaffInvitation.token_hash == _token_hash(raw))
    invitation = session.scalar(query.with_for_update() if for_update else query)
    if invitation is None or invitation.used_at is not None or invitation.expires_at <= now:
        return None
    user = session.get(StaffUser, invitation.staff_id)
    return invitation if user is not None and user.active else None


def accept_invitation(session: Session, raw: str, *, password: str, confirmation: str, now: datetime,
                      ip: str | None = None) -> StaffUser:
    """The invited person chooses a password (staff rules); the link is then used up.

    Raises DomainError when the link is no longer valid, ValidationFailed (``new_password``,
    ``confirmation``) when the password is refused (the link stays usable).
    """
    invitation = find_invitation(session, raw, now=now, for_update=True)
    if invitation is None:
        record(session, "staff.invitation_refused", actor_type="anonymous", ip=ip, now=now)
        raise DomainError(INVITATION_REFUSED)
    user = session.get(StaffUser, invitation.staff_id, with_for_update=True)
    errors = new_staff_password_errors(session, user, password, confirmation)
    if errors:
        raise ValidationFailed(errors)
    install_password_hash(session, user, hash_password(password), now=now)
    invitation.used_at = now
    user.totp_secret = None
    user.totp_pending_secret = None
    record(session, "staff.invitation_accepted", actor_type="staff", actor_id=user.id, subject=user, ip=ip, now=now)
    return user


# ---------------------------------------------------------------------------------------------------------
# Enrolment of the authenticator app


#: After an invitation is accepted or an authenticator reset confirmed, the password alone lets its holder enrol a
#: new authenticator app for this long; later an admin must reset it again, so that a password stolen some day
#: never becomes an account with an app of the thief's.
ENROLMENT_WINDOW = timedelta(hours=72)
ENROLMENT_EXPIRED = ("Le délai pour enregistrer votre application d'authentification est dépassé : demandez à un "
                     "administrateur de la réinitialiser.")


def enrolment_refusal(session: Session, user: StaffUser, *, now: datetime, ip: str | None = None) -> str | None:
    """Why ``user``, who proved the password and has no authenticator app, may not enrol one now (audited), or
    None within ``ENROLMENT_WINDOW`` of the invitation's acceptance or of the last confirmed reset."""
    reset_at = session.scalar(select(func.max(TotpResetRequest.confirmed_at))
                              .where(TotpResetRequest.staff_id == user.id))
    opened_at = max(d for d in (user.password_set_at, reset_at) if d is not None)
    if now - opened_at <= ENROLMENT_WINDOW:
        return None
    record(session, "staff.enrolment_expired", actor_type="staff", actor_id=user.id, subject=user, ip=ip, now=now,
           opened_at=opened_at.isoformat())
    return ENROLMENT_EXPIRED


def begin_totp_enrolment(user: StaffUser) -> str:
    """The otpauth:// URI to scan; draws the secret on first call and keeps it until a code confirms it."""
    if not user.totp_pending_secret:
        user.totp_pending_secret = pyotp.random_base32()
    return pyotp.TOTP(user.totp_pending_secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def confirm_totp_enrolment(session: Session, user: StaffUser, code: str, *, now: datetime,
                           ip: str | None = None) -> bool:
    """The first code of the app proves it holds the secret: the secret becomes the account's second factor."""
    if not user.totp_pending_secret:
        return False
    try:
        timecode = pyotp.TOTP(user.totp_pending_secret).verify_and_get_timecode(
            re.sub(r"\s", "", code or ""), for_time=now, valid_window=1)
    except (OTPVerificationError, ValueError):
        record(session, "staff.totp_enrolment_failed", actor_type="staff", actor_id=user.id, subject=user, ip=ip,
               now=now)
        return False
    user.totp_secret, user.totp_pending_secret, user.totp_last_timecode = user.totp_pending_secret, None, timecode
    record(session, "staff.totp_enrolled", actor_type="staff", actor_id=user.id, subject=user, ip=ip, now=now)
    return True


# ---------------------------------------------------------------------------------------------------------
# Reset of the authenticator app: one admin asks, another confirms


def pending_totp_reset(session: Session, user: StaffUser) -> TotpResetRequest | None:
    """The reset of ``user``'s authenticator waiting for a second admin, if any."""
    return session.scalar(select(TotpResetRequest).where(TotpResetRequest.staff_id == user.id,
                                                         TotpResetRequest.confirmed_at.is_(None)))


def request_totp_reset(session: Session, user: StaffUser, *, by: StaffUser, now: datetime,
                       ip: str | None = None) -> TotpResetRequest:
    """An admin asks to reset ``user``'s authenticator app; nothing changes until another admin confirms."""
    if by.role is not StaffRole.ADMIN:
        raise DomainError("Seul un administrateur peut demander cette réinitialisation.")
    existing = pending_totp_reset(session, user)
    if existing is not None:
        return existing
    reset = TotpResetRequest(staff_id=user.id, requested_by_id=by.id, requested_at=now)
    session.add(reset)
    session.flush()
    record(session, "staff.totp_reset_requested", actor_type="staff", actor_id=by.id, subject=user, ip=ip, now=now,
           request_id=reset.id)
    return reset


def confirm_totp_reset(session: Session, reset: TotpResetRequest, *, by: StaffUser, now: datetime,
                       ip: str | None = None) -> StaffUser:
    """A second admin confirms: the app is forgotten, every session of the user ends, and they enrol again
    at their next sign-in. The admin who asked cannot confirm (refusal audited)."""
    if reset.confirmed_at is not None:
        raise DomainError("Cette réinitialisation a déjà été confirmée.")
    user = session.get(StaffUser, reset.staff_id, with_for_update=True)
    if by.role is not StaffRole.ADMIN or by.id == reset.requested_by_id:
        record(session, "staff.totp_reset_refused", actor_type="staff", actor_id=by.id, subject=user, ip=ip, now=now,
               request_id=reset.id, reason="same_admin" if by.id == reset.requested_by_id else "role")
        raise DomainError("Un autre administrateur que celui qui l'a demandée doit confirmer cette réinitialisation.")
    reset.confirmed_by_id, reset.confirmed_at = by.id, now
    user.totp_secret = user.totp_pending_secret = user.totp_last_timecode = None
    count = end_sessions(session, staff_id=user.id, reason=SessionEnd.ENDED_BY_ADMIN, now=now)
    record(session, "staff.totp_reset", actor_type="staff", actor_id=by.id, subject=user, ip=ip, now=now,
           request_id=reset.id, requested_by=reset.requested_by_id, sessions=count)
    return user
