"""Member sign-in: guessing limits, captcha replay guard, SMS codes, authenticator app, terms, sessions."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, fields
from functools import cache
from datetime import datetime, timedelta

import altcha
import pyotp
from pyotp.exceptions import OTPVerificationError
from sqlalchemy import bindparam, delete, func, inspect, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased

from ..audit.operations import record
from ..content.entities import TermsVersion
from ..crypto import blind_index
from ..db import DriverRead, as_loaded
from ..errors import DomainError
from ..formats import display_phone, mask_email
from ..i18n import Message, localize
from ..outbox.operations import notify_member, queue_sms
from ..sessions.entities import WebSession
from ..requests.deadlines import local_today
from ..sessions.operations import (SessionEnd, SessionPolicy, end_session, end_sessions,
                                   live_key_clauses, live_key_parameters, open_session, reauthenticated)
from .entities import CodePurpose, Member, OneTimeCode, SecondFactor, UsedCaptcha
from .passwords import ExpiryPolicy, hash_password, needs_rehash, set_password, verify_password

#: Proof-of-work algorithm of the captcha; bundled with the widget, no WebAssembly needed.
CAPTCHA_ALGORITHM = "PBKDF2/SHA-256"
TOTP_ISSUER = "MESE"


@dataclass(frozen=True)
class SignInPolicy:
    """The numbers of the sign-in rules, in one place (the member app builds it from its settings)."""

    #: After this many consecutive failures, each new try waits a growing delay (ANS: > 1 min after 5).
    delay_after_failures: int = 5
    #: After this many consecutive failures the account is locked until a password reset (CNIL: <= 10).
    lock_after_failures: int = 10
    #: First delay; it doubles with each further failure (1, 2, 4, 8, 16 minutes).
    base_delay_seconds: int = 60
    code_minutes: int = 5
    code_attempts: int = 5
    code_resend_seconds: int = 60
    codes_per_hour: int = 5
    captcha_minutes: int = 10
    captcha_cost: int = 5000
    password_max_age_days: int = 180

    @property
    def expiry(self) -> ExpiryPolicy:
        """The password expiry rule."""
        return ExpiryPolicy(self.password_max_age_days)


class Throttle(enum.StrEnum):
    """Whether an account may try to sign in now."""

    OPEN = "open"
    DELAYED = "delayed"
    LOCKED = "locked"


class CodeCheck(enum.StrEnum):
    """Outcome of checking a 6-digit code."""

    OK = "ok"
    WRONG = "wrong"
    EXPIRED = "expired"
    EXHAUSTED = "exhausted"
    MISSING = "missing"
    REPLAYED = "replayed"


class CodeNotSent(DomainError):
    """A new code was refused: the previous one is too recent, or too many were sent this hour."""


def _actor(member: Member | None) -> dict:
    return {"actor_type": "member", "actor_id": member.id, "member_id": member.id} if member else \
        {"actor_type": "anonymous"}


def canonical_identifier(value: str) -> str:
    """The member number as typed, without spaces, full-width digits folded; control characters refused."""
    number = re.sub(r"\s+", "", unicodedata.normalize("NFKC", value or ""))[:20]
    return "" if any(unicodedata.category(c) == "Cc" for c in number) else number


def find_member(session: Session, identifier: str, *, for_update: bool = False) -> Member | None:
    """The member whose number is ``identifier``, or None; ``for_update`` locks the row until commit."""
    number = canonical_identifier(identifier)
    if not number:
        return None
    query = select(Member).where(Member.number == number)
    return session.scalar(query.with_for_update() if for_update else query)


# ---------------------------------------------------------------------------------------------------------
# Guessing limits


def throttle(member: Member, policy: SignInPolicy, now: datetime) -> Throttle:
    """Locked after too many failures; else delayed while the growing wait since the last failure runs."""
    if member.locked_at is not None:
        return Throttle.LOCKED
    over = member.failed_login_count - policy.delay_after_failures
    if over >= 0 and member.last_failed_login_at is not None:
        wait = timedelta(seconds=policy.base_delay_seconds * 2 ** over)
        if now < member.last_failed_login_at + wait:
            return Throttle.DELAYED
    return Throttle.OPEN


def register_failure(session: Session, member: Member, *, policy: SignInPolicy, ip: str | None, now: datetime,
                     step: str) -> None:
    """Count one failed sign-in (password or code); lock the account and tell its owner at the limit."""
    member.failed_login_count += 1
    member.last_failed_login_at = now
    if member.failed_login_count >= policy.lock_after_failures and member.locked_at is None:
        member.locked_at = now
        record(session, "signin.locked", subject=member, ip=ip, now=now, step=step,
               failures=member.failed_login_count, **_actor(member))
        notify_member(session, member, template="account_locked", context={"failures": member.failed_login_count})


def check_password(session: Session, identifier: str, password: str, *, policy: SignInPolicy,
                   ip: str | None, now: datetime) -> Member | None:
    """First step of sign-in: the member if the password is right and the account may sign in, else None.

    Unknown, locked, delayed or wrong: the caller answers the same, and one hash is computed in every case.
    """
    # The row lock makes concurrent guesses count one by one (no lost increments of the counter).
    member = find_member(session, identifier, for_update=True)
    if member is None:
        verify_password(None, password)
        record(session, "signin.failed", ip=ip, now=now, reason="unknown_identifier", **_actor(None))
        return None
    state = throttle(member, policy, now)
    if state is not Throttle.OPEN:
        verify_password(None, password)
        record(session, "signin.refused", subject=member, ip=ip, now=now, reason=state.value, **_actor(member))
        return None
    if not verify_password(member.password_hash, password):
        register_failure(session, member, policy=policy, ip=ip, now=now, step="password")
        record(session, "signin.failed", subject=member, ip=ip, now=now,
               reason="no_password" if member.password_hash is None else "wrong_password",
               failures=member.failed_login_count, **_actor(member))
        return None
    if needs_rehash(member.password_hash):
        member.password_hash = hash_password(password)
    # Failures are forgiven only once the second factor succeeds (complete_sign_in): otherwise a right
    # password would reset the count of wrong codes, and the lock would never come.
    record(session, "signin.password_ok", subject=member, ip=ip, now=now, **_actor(member))
    return member


# ---------------------------------------------------------------------------------------------------------
# Captcha (ALTCHA proof of work, verified here, replay refused)


def captcha_challenge(secret: str, *, policy: SignInPolicy, now: datetime) -> dict:
    """A signed proof-of-work challenge for the widget, valid ``captcha_minutes``."""
    challenge = altcha.create_challenge(CAPTCHA_ALGORITHM, policy.captcha_cost, hmac_secret=secret,
                                        expires_at=now + timedelta(minutes=policy.captcha_minutes))
    return challenge.to_dict()


def verify_captcha(session: Session, payload: str, *, secret: str, now: datetime) -> bool:
    """True once per solved challenge: checks the proof, then records its signature until it expires."""
    if not payload or len(payload) > 4000:
        return False
    result = altcha.verify_solution(payload, secret)
    if not result.verified:
        return False
    challenge = altcha.Payload.from_base64(payload).challenge
    expires_ts = challenge.parameters.expires_at
    if not isinstance(expires_ts, int) or not challenge.signature:
        return False
    expires_at = datetime.fromtimestamp(expires_ts, tz=now.tzinfo)
    if expires_at <= now:
        return False
    session.execute(delete(UsedCaptcha).where(UsedCaptcha.expires_at < now))
    if session.get(UsedCaptcha, challenge.signature) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(UsedCaptcha(signature=challenge.signature, expires_at=expires_at))
    except IntegrityError:  # the same proof sent twice at once: the other request won
        return False
    return True


# ---------------------------------------------------------------------------------------------------------
# One-time codes sent by SMS


def attempt_binding(attempt: str) -> str:
    """What a code stores to belong to one sign-in attempt (a hash of the attempt's random id)."""
    return hashlib.sha256(attempt.encode()).hexdigest()


def _code_hash(binding: str, code: str) -> str:
    return blind_index(f"one-time-code:{binding}:{code}")


def normalise_code(code: str) -> str:
    """Digits of a typed code: spaces dropped, full-width digits folded."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", code or ""))


def mask_mobile(e164: str | None) -> str:
    """A mobile number as a code page shows it: ``06 ** ** ** 22``."""
    digits = display_phone(e164 or "")
    return f"{digits[:2]} ** ** ** {digits[-2:]}" if len(digits) == 10 else ""


def _check_can_send(session: Session, member: Member, binding: str, policy: SignInPolicy, now: datetime,
                    purpose: CodePurpose | None = None) -> None:
    recent = [OneTimeCode.member_id == member.id, OneTimeCode.binding == binding]
    if purpose is not None:  # only a code of the same purpose must be waited for
        recent.append(OneTimeCode.purpose == purpose)
    last = session.scalar(select(func.max(OneTimeCode.created_at)).where(*recent))
    if last is not None and now - last < timedelta(seconds=policy.code_resend_seconds):
        raise CodeNotSent(Message(
            "Un code vient de vous être envoyé : patientez une minute avant d'en demander un autre."))
    # Codes sent by SMS cost money and reach a phone: the hourly cap counts those only.
    sent = session.scalar(select(func.count()).select_from(OneTimeCode).where(
        OneTimeCode.member_id == member.id, OneTimeCode.purpose != CodePurpose.MOBILE_EMAIL,
        OneTimeCode.created_at > now - timedelta(hours=1)))
    if sent >= policy.codes_per_hour:
        raise CodeNotSent(Message("Trop de codes ont été demandés : réessayez dans une heure."))


def _issue_code(session: Session, member: Member, *, purpose: CodePurpose, binding: str, destination: str | None,
                policy: SignInPolicy, now: datetime) -> tuple[OneTimeCode, str]:
    """A fresh random code for ``purpose``; earlier codes of the member for that purpose stop working."""
    session.execute(update(OneTimeCode).where(
        OneTimeCode.member_id == member.id, OneTimeCode.purpose == purpose,
        OneTimeCode.used_at.is_(None), OneTimeCode.revoked_at.is_(None)).values(revoked_at=now))
    code = f"{secrets.randbelow(10 ** 6):06d}"
    otc = OneTimeCode(member_id=member.id, purpose=purpose, code_hash=_code_hash(binding, code), binding=binding,
                      destination=destination, created_at=now,
                      expires_at=now + timedelta(minutes=policy.code_minutes))
    session.add(otc)
    return otc, code


def issue_code(session: Session, member: Member, *, purpose: CodePurpose, attempt: str, destination: str,
               policy: SignInPolicy, now: datetime) -> str:
    """A fresh 6-digit code for this session (or sign-in attempt), within the limits of sending codes.

    For a code the caller delivers itself (an e-mail); raises :class:`CodeNotSent` as :func:`send_code` does,
    except that only a recent code of the same ``purpose`` must be waited for (the re-authentication code sent a
    moment before does not hold the e-mail back).
    """
    binding = attempt_binding(attempt)
    _check_can_send(session, member, binding, policy, now, purpose=purpose)
    _otc, code = _issue_code(session, member, purpose=purpose, binding=binding, destination=destination,
                             policy=policy, now=now)
    session.flush()
    return code


def _queue_code_sms(session: Session, member: Member, *, to: str, code: str, purpose: CodePurpose,
                    policy: SignInPolicy) -> None:
    text = Message("MESE : votre code de sécurité est %(code)s. Il est valable %(minutes)d minutes. "
                   "Ne le communiquez à personne, même pas à MESE.", code=code, minutes=policy.code_minutes)
    queue_sms(session, to=to, member_id=member.id, template=f"code_{purpose.value}",
              text=localize(text, member.language), secret=True)


def send_code(session: Session, member: Member, *, attempt: str, purpose: CodePurpose, destination: str,
              policy: SignInPolicy, ip: str | None, now: datetime) -> OneTimeCode:
    """Send a fresh random 6-digit code by SMS to ``destination`` for this sign-in attempt (or session).

    Earlier codes of the member for the same purpose stop working. Raises :class:`CodeNotSent` when the
    last code of this attempt is younger than ``code_resend_seconds``, or ``codes_per_hour`` codes were sent
    to the member in the last hour.
    """
    binding = attempt_binding(attempt)
    _check_can_send(session, member, binding, policy, now)
    otc, code = _issue_code(session, member, purpose=purpose, binding=binding, destination=destination,
                            policy=policy, now=now)
    _queue_code_sms(session, member, to=destination, code=code, purpose=purpose, policy=policy)
    session.flush()
    record(session, "signin.code_sent", subject=member, ip=ip, now=now, channel="sms", purpose=purpose.value,
           **_actor(member))
    return otc


class MobileRefused(DomainError):
    """A mobile number that cannot be confirmed online (no e-mail address on file to confirm it with)."""


def request_mobile_confirmation(session: Session, member: Member, mobile: str, *, attempt: str,
                                policy: SignInPolicy, ip: str | None, now: datetime) -> bool:
    """Sign-in with no verified mobile: a code by SMS to the number typed, and, for a number other than the
    one on file, a second code to the e-mail address on file (the password alone must not register a phone).

    Returns True when the e-mail code is needed too. Raises :class:`CodeNotSent`, or :class:`MobileRefused`
    for a new number of a member without e-mail address; an authenticator-app user has no such step.
    """
    if member.second_factor is SecondFactor.TOTP:
        raise MobileRefused(Message("Votre connexion se confirme avec votre application d'authentification."),
                            field="mobile")
    email_needed = mobile != member.mobile
    if email_needed and not member.email:
        raise MobileRefused(Message("Ce numéro ne peut pas être confirmé en ligne : nous n'avons pas d'adresse "
                                    "e-mail pour vous. Appelez le Service Adhérents MESE au 04 76 60 56 36."),
                            field="mobile")
    binding = attempt_binding(attempt)
    _check_can_send(session, member, binding, policy, now)
    _otc, code = _issue_code(session, member, purpose=CodePurpose.MOBILE, binding=binding, destination=mobile,
                             policy=policy, now=now)
    _queue_code_sms(session, member, to=mobile, code=code, purpose=CodePurpose.MOBILE, policy=policy)
    if email_needed:
        _otc, email_code = _issue_code(session, member, purpose=CodePurpose.MOBILE_EMAIL, binding=binding,
                                       destination=mobile, policy=policy, now=now)
        notify_member(session, member, template="account_mobile_confirmation", secret=True,
                      context={"code": email_code, "masked_mobile": mask_mobile(mobile), "minutes": policy.code_minutes})
    session.flush()
    record(session, "mobile.confirmation_requested", subject=member, ip=ip, now=now, email_code=email_needed,
           **_actor(member))
    return email_needed


def mobile_needs_email_code(session: Session, member: Member, attempt: str) -> bool:
    """True when the number awaiting confirmation in this sign-in is not the one on file (see above)."""
    pending = pending_mobile(session, member, attempt)
    return pending is not None and pending != member.mobile


def masked_email(member: Member) -> str:
    """The member's e-mail address as a code page shows it."""
    return mask_email(member.email)


def pending_mobile(session: Session, member: Member, attempt: str) -> str | None:
    """The new mobile number awaiting confirmation in this sign-in attempt, if any."""
    return session.scalar(select(OneTimeCode.destination).where(
        OneTimeCode.member_id == member.id, OneTimeCode.purpose == CodePurpose.MOBILE,
        OneTimeCode.binding == attempt_binding(attempt)).order_by(OneTimeCode.id.desc()).limit(1))


def _latest_code(session: Session, member: Member, purpose: CodePurpose, binding: str) -> OneTimeCode | None:
    return session.scalar(
        select(OneTimeCode).where(OneTimeCode.member_id == member.id, OneTimeCode.purpose == purpose,
                                  OneTimeCode.binding == binding, OneTimeCode.used_at.is_(None),
                                  OneTimeCode.revoked_at.is_(None))
        .order_by(OneTimeCode.id.desc()).limit(1).with_for_update())


def _try_code(otc: OneTimeCode | None, typed: str, binding: str, policy: SignInPolicy, now: datetime) -> CodeCheck:
    if otc is None:
        return CodeCheck.MISSING
    if now >= otc.expires_at:
        return CodeCheck.EXPIRED
    if otc.attempts >= policy.code_attempts:
        return CodeCheck.EXHAUSTED
    otc.attempts += 1
    typed = normalise_code(typed)
    right = bool(re.fullmatch(r"\d{6}", typed)) and hmac.compare_digest(otc.code_hash, _code_hash(binding, typed))
    if not right and otc.attempts >= policy.code_attempts:
        otc.revoked_at = now
    return CodeCheck.OK if right else CodeCheck.WRONG


def check_code(session: Session, member: Member, code: str, *, attempt: str, purpose: CodePurpose,
               policy: SignInPolicy, ip: str | None, now: datetime, email_code: str = "") -> CodeCheck:
    """Check a code typed for this sign-in attempt (or session): right, unexpired, unused, within its attempts.

    A wrong code counts against the code (``code_attempts``) and as a failed sign-in of the member.
    A right code for a new mobile number records that number as the member's verified mobile; during
    sign-in, a number other than the one on file also needs the right ``email_code``.
    """
    session.flush()
    session.refresh(member, with_for_update=True)  # concurrent wrong codes each count against the member
    binding = attempt_binding(attempt)
    otc = _latest_code(session, member, purpose, binding)
    outcome = _try_code(otc, code, binding, policy, now)
    email_otc = None
    if outcome is CodeCheck.OK and purpose is CodePurpose.MOBILE and otc.destination != member.mobile:
        email_otc = _latest_code(session, member, CodePurpose.MOBILE_EMAIL, binding)
        if email_otc is not None and email_otc.destination != otc.destination:
            email_otc = None
        outcome = _try_code(email_otc, email_code, binding, policy, now)
    if outcome is not CodeCheck.OK:
        if outcome is CodeCheck.WRONG:
            register_failure(session, member, policy=policy, ip=ip, now=now, step="code")
        record(session, "signin.code_failed", subject=member, ip=ip, now=now, channel="sms",
               purpose=purpose.value, reason=outcome.value, email_code=email_otc is not None, **_actor(member))
        return outcome
    otc.used_at = now
    if email_otc is not None:
        email_otc.used_at = now
    if purpose in (CodePurpose.MOBILE, CodePurpose.MOBILE_CHANGE):
        member.mobile = otc.destination
        member.mobile_verified = True
        record(session, "mobile.confirmed", subject=member, ip=ip, now=now, email_code=email_otc is not None,
               signed_in=purpose is CodePurpose.MOBILE_CHANGE, **_actor(member))
        notify_member(session, member, template="account_mobile_added",
                      context={"masked_mobile": mask_mobile(otc.destination)})
    return CodeCheck.OK


# ---------------------------------------------------------------------------------------------------------
# Authenticator app (TOTP)


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret)


class ReauthenticationRequired(DomainError):
    """A change of the second factor needs the password and a code asked again in this session."""


def require_reauthentication(web_session: WebSession | None, session_policy: SessionPolicy,
                             now: datetime) -> None:
    """Raise :class:`ReauthenticationRequired` unless password and code were asked again in this session lately."""
    if not reauthenticated(web_session, policy=session_policy, now=now):
        raise ReauthenticationRequired(Message("Pour modifier la sécurité de votre connexion, confirmez d'abord "
                                               "votre identité avec votre mot de passe et un code."))


def begin_totp_enrolment(session: Session, member: Member, *, now: datetime) -> str:
    """Give the member a new authenticator secret (not yet in use) and return its otpauth:// URI."""
    if member.second_factor is SecondFactor.TOTP:
        raise DomainError(Message("Une application d'authentification est déjà active."))
    member.totp_secret = pyotp.random_base32()
    return totp_uri(member)


def totp_uri(member: Member) -> str:
    """The otpauth:// URI of the member's pending or active secret, for the QR code."""
    return _totp(member.totp_secret).provisioning_uri(name=member.number, issuer_name=TOTP_ISSUER)


def _verify_totp(member: Member, code: str, now: datetime) -> int | None:
    typed = normalise_code(code)
    if not member.totp_secret or not re.fullmatch(r"\d{6}", typed):
        return None
    try:
        return _totp(member.totp_secret).verify_and_get_timecode(typed, for_time=now, valid_window=1)
    except OTPVerificationError:
        return None


def confirm_totp_enrolment(session: Session, member: Member, code: str, *, web_session: WebSession | None,
                           session_policy: SessionPolicy, ip: str | None, now: datetime) -> bool:
    """Switch the member to the authenticator app once it shows a right code; tell the member by e-mail.

    Needs a recent re-authentication in this session (ASVS 7.5.1): raises :class:`ReauthenticationRequired`.
    """
    require_reauthentication(web_session, session_policy, now)
    timecode = _verify_totp(member, code, now)
    if timecode is None:
        record(session, "totp.enrolment_failed", subject=member, ip=ip, now=now, **_actor(member))
        return False
    member.second_factor = SecondFactor.TOTP
    member.totp_last_timecode = timecode
    record(session, "totp.enabled", subject=member, ip=ip, now=now, **_actor(member))
    notify_member(session, member, template="account_second_factor_changed",
                  context={"method": Message("une application d'authentification")})
    return True


def disable_totp(session: Session, member: Member, *, web_session: WebSession | None, session_policy: SessionPolicy,
                 ip: str | None, now: datetime) -> None:
    """Go back to SMS codes, after a re-authentication with the app's code; tell the member by e-mail."""
    require_reauthentication(web_session, session_policy, now)
    if member.second_factor is not SecondFactor.TOTP:
        raise DomainError(Message("Vous recevez déjà le code de connexion par SMS."))
    member.second_factor = SecondFactor.SMS
    member.totp_secret = None
    member.totp_last_timecode = None
    record(session, "totp.disabled", subject=member, ip=ip, now=now, **_actor(member))
    notify_member(session, member, template="account_second_factor_changed",
                  context={"method": Message("un code reçu par SMS")})


def check_totp_code(member: Member, code: str, now: datetime) -> CodeCheck:
    """Check an authenticator code and consume its time step, so the same code never works twice."""
    timecode = _verify_totp(member, code, now)
    if timecode is None:
        return CodeCheck.WRONG
    if member.totp_last_timecode is not None and timecode <= member.totp_last_timecode:
        return CodeCheck.REPLAYED
    member.totp_last_timecode = timecode
    return CodeCheck.OK


def check_totp(session: Session, member: Member, code: str, *, policy: SignInPolicy, ip: str | None,
               now: datetime) -> CodeCheck:
    """Second step of sign-in with the authenticator app; a wrong or replayed code is a failed sign-in."""
    session.flush()
    session.refresh(member, with_for_update=True)  # two requests with one code: the second sees its time step
    outcome = check_totp_code(member, code, now) if member.second_factor is SecondFactor.TOTP else CodeCheck.MISSING
    if outcome is not CodeCheck.OK:
        register_failure(session, member, policy=policy, ip=ip, now=now, step="totp")
        record(session, "signin.code_failed", subject=member, ip=ip, now=now, channel="totp",
               reason=outcome.value, **_actor(member))
    return outcome


# ---------------------------------------------------------------------------------------------------------
# Re-authentication before a change of the second factor (ASVS 7.5.1)


def send_reauthentication_code(session: Session, member: Member, *, web_session_key: str, policy: SignInPolicy,
                               ip: str | None, now: datetime) -> None:
    """Send a code by SMS to the member's verified mobile, to confirm a change in this session."""
    if member.second_factor is SecondFactor.TOTP or not (member.mobile and member.mobile_verified):
        raise CodeNotSent(Message("Aucun numéro de mobile confirmé ne peut recevoir ce code."))
    send_code(session, member, attempt=web_session_key, purpose=CodePurpose.REAUTH, destination=member.mobile,
              policy=policy, ip=ip, now=now)


def reauthenticate(session: Session, member: Member, web_session: WebSession, password: str, code: str, *,
                   web_session_key: str, policy: SignInPolicy, ip: str | None, now: datetime) -> CodeCheck:
    """Ask again for the password and a code of the current second factor before a sensitive change.

    Wrong answers count as failed sign-ins (the account locks as on the login page); success opens a short
    window (``SessionPolicy.reauthentication_minutes``) for changes in this session.
    """
    session.flush()
    session.refresh(member, with_for_update=True)
    if not verify_password(member.password_hash, password):
        register_failure(session, member, policy=policy, ip=ip, now=now, step="reauthentication")
        outcome = CodeCheck.WRONG
        reason = "wrong_password"
    elif member.second_factor is SecondFactor.TOTP:
        outcome = check_totp_code(member, code, now)
        if outcome is not CodeCheck.OK:
            register_failure(session, member, policy=policy, ip=ip, now=now, step="reauthentication")
        reason = outcome.value
    else:
        outcome = check_code(session, member, code, attempt=web_session_key, purpose=CodePurpose.REAUTH,
                             policy=policy, ip=ip, now=now)
        reason = outcome.value
    if outcome is not CodeCheck.OK:
        record(session, "reauthentication.failed", subject=member, ip=ip, now=now, reason=reason, **_actor(member))
        return outcome
    web_session.reauthenticated_at = now
    record(session, "reauthentication.succeeded", subject=member, ip=ip, now=now, **_actor(member))
    return CodeCheck.OK


def request_mobile_change(session: Session, member: Member, mobile: str, *, web_session: WebSession | None,
                          web_session_key: str, session_policy: SessionPolicy, policy: SignInPolicy,
                          ip: str | None, now: datetime) -> None:
    """A signed-in member, re-authenticated, asks to receive codes on another mobile: a code goes to it."""
    require_reauthentication(web_session, session_policy, now)
    send_code(session, member, attempt=web_session_key, purpose=CodePurpose.MOBILE_CHANGE, destination=mobile,
              policy=policy, ip=ip, now=now)


def pending_mobile_change(session: Session, member: Member, web_session_key: str) -> str | None:
    """The new number awaiting its code in this session, if any."""
    return session.scalar(select(OneTimeCode.destination).where(
        OneTimeCode.member_id == member.id, OneTimeCode.purpose == CodePurpose.MOBILE_CHANGE,
        OneTimeCode.binding == attempt_binding(web_session_key), OneTimeCode.used_at.is_(None),
        OneTimeCode.revoked_at.is_(None)).order_by(OneTimeCode.id.desc()).limit(1))


# ---------------------------------------------------------------------------------------------------------
# End of sign-in, sessions, terms


def sign_in_stamp(member: Member) -> str:
    """What a sign-in waiting for its second factor keeps of the account: it stops if the password changes."""
    return hashlib.sha256((member.password_hash or "").encode()).hexdigest()


def complete_sign_in(session: Session, member: Member, *, method: str, via: str, session_policy: SessionPolicy,
                     user_agent: str | None, ip: str | None, now: datetime) -> str:
    """Record a sign-in whose second factor succeeded and open its session; returns the session key."""
    member.failed_login_count = 0
    member.last_failed_login_at = None
    member.last_login_at = now
    key = open_session(session, member_id=member.id, policy=session_policy, ip=ip, user_agent=user_agent, now=now)
    record(session, "signin.succeeded", subject=member, ip=ip, now=now, method=method, via=via, **_actor(member))
    return key


@dataclass(frozen=True)
class SignedInSession:
    """What a page uses of its server-side session, read with the sign-in check (no mapped object: most pages
    only read it); ``session_entity`` gives the mapped ``WebSession`` to change it."""

    id: int
    member_id: int
    last_seen_at: datetime
    reauthenticated_at: datetime | None
    ended_at: datetime | None


#: The member's secrets, never read by the sign-in check: read from the database if a page asks for them.
_SECRET_COLUMNS = frozenset({"password_hash", "nir", "nir_index", "totp_secret"})


@cache
def _signed_in_read() -> tuple[DriverRead, tuple[str, ...]]:
    # Built once: it runs on every request of the member area, straight on the driver (models.db.DriverRead);
    # the member is then made from the row (models.db.as_loaded). Whether the member holds a collective contract today
    # (the menu shows the future retirees' pages) comes in the same query.
    from ..contracts.cover import collective_contract_in_force

    # The member's table as "m": a page's reads ride in this statement (member_app.ahead), and psycopg keeps the
    # conversion of statements up to 4 KB only.
    member_keys = tuple(a.key for a in inspect(Member).column_attrs if a.key not in _SECRET_COLUMNS)
    session_columns = [getattr(WebSession, f.name) for f in fields(SignedInSession)]
    m = aliased(Member, name="m")
    query = (select(*session_columns, *[getattr(m, k) for k in member_keys],
                    collective_contract_in_force(m.id, bindparam("today")))
             .join_from(WebSession, m, m.id == WebSession.member_id).where(*live_key_clauses()))
    return DriverRead(query), member_keys


@cache
def _session_member():
    # The member of the cookie's session, for the reads riding with the check: a subquery of its own (never
    # correlated), as the reads nest it in subqueries of their own; it is evaluated only in the row of a live
    # session (models.db.DriverRead.first_with).
    ws = aliased(WebSession, name="ws")
    return select(ws.member_id).where(ws.key_hash == bindparam("key_hash")).correlate(None).scalar_subquery()


def session_entity(session: Session, signed_in: SignedInSession) -> WebSession:
    """The mapped ``WebSession`` of a signed-in session (to change it), made from what the sign-in check read."""
    return as_loaded(session, WebSession, {f.name: getattr(signed_in, f.name) for f in fields(SignedInSession)})


def signed_in_member(session: Session, key: str | None, *, session_policy: SessionPolicy, now: datetime,
                     ahead: Sequence[tuple[DriverRead, dict]] = ()) -> tuple[Member, SignedInSession] | None:
    """The member and session behind a cookie key: live session, unlocked account (one query).

    The member comes with ``holds_collective_contract``: a collective contract in force today. The reads
    ``ahead`` (each with its parameters but ``member_id``) ride in the same statement, kept for the page
    (``DriverRead.first_with``)."""
    parameters = live_key_parameters(key, policy=session_policy, now=now)
    if parameters is None:
        return None
    read, member_keys = _signed_in_read()
    row = read.first_with(session, {**parameters, "today": local_today(now)}, ahead, key="member_id",
                          key_value=_session_member())
    if row is None:
        return None
    member_values = dict(zip(member_keys, row[5:-1]))
    if member_values["locked_at"] is not None:
        return None
    member = as_loaded(session, Member, member_values)
    member.web_session_key = key
    member.holds_collective_contract = bool(row[-1])
    return member, SignedInSession(*row[:5])


def sign_out(session: Session, member: Member, web_session: WebSession | None, *, ip: str | None,
             now: datetime) -> None:
    """Se déconnecter: this session ends on the server, so no copy of its cookie works any more."""
    if web_session is not None:
        end_session(web_session, reason=SessionEnd.SIGNED_OUT, now=now)
    record(session, "signin.signed_out", subject=member, ip=ip, now=now, **_actor(member))


def end_own_session(session: Session, member: Member, session_id: int, *, ip: str | None, now: datetime) -> bool:
    """"Fermer cette session" from the list of one's sessions; False when it is not one of the member's."""
    web_session = session.get(WebSession, session_id) if isinstance(session_id, int) else None
    if web_session is None or web_session.member_id != member.id or web_session.ended_at is not None:
        return False
    end_session(web_session, reason=SessionEnd.ENDED_BY_OWNER, now=now)
    record(session, "session.ended", subject=member, ip=ip, now=now, session_id=session_id,
           reason=SessionEnd.ENDED_BY_OWNER, **_actor(member))
    return True


def current_terms(session: Session, now: datetime) -> TermsVersion | None:
    """The latest published version of the terms of use."""
    return session.scalar(select(TermsVersion).where(TermsVersion.published_at <= now)
                          .order_by(TermsVersion.published_at.desc(), TermsVersion.id.desc()).limit(1))


def terms_to_accept(session: Session, member: Member, now: datetime) -> TermsVersion | None:
    """The version the member must accept before anything else, or None."""
    terms = current_terms(session, now)
    return terms if terms is not None and member.accepted_terms_id != terms.id else None


def accept_terms(session: Session, member: Member, terms: TermsVersion, *, ip: str | None, now: datetime) -> None:
    """Record that the member accepted ``terms``."""
    member.accepted_terms_id = terms.id
    member.accepted_terms_at = now
    record(session, "terms.accepted", subject=member, ip=ip, now=now, version=terms.version, **_actor(member))


def password_expired(member: Member, policy: SignInPolicy, now: datetime) -> bool:
    """True when the member must set a new password before anything else."""
    return policy.expiry.expired(member, now)


class WrongCurrentPassword(DomainError):
    """The current password given to change it is wrong."""


def change_password(session: Session, member: Member, current: str, new: str, *, policy: SignInPolicy,
                    session_policy: SessionPolicy, user_agent: str | None, ip: str | None, now: datetime) -> str:
    """Modifier mon mot de passe: check the current one, apply the rules, end every session, notify.

    Returns the key of a new session for the caller's browser (all others have ended). Raises
    :class:`WrongCurrentPassword` (counted as a failed sign-in) or ``PasswordRejected``.
    """
    if not verify_password(member.password_hash, current):
        register_failure(session, member, policy=policy, ip=ip, now=now, step="password_change")
        record(session, "password.change_failed", subject=member, ip=ip, now=now, reason="wrong_current",
               **_actor(member))
        raise WrongCurrentPassword(Message("Le mot de passe actuel est incorrect."), field="current_password")
    set_password(session, member, new, now=now)
    member.failed_login_count = 0
    end_sessions(session, member_id=member.id, reason=SessionEnd.PASSWORD_CHANGED, now=now)
    key = open_session(session, member_id=member.id, policy=session_policy, ip=ip, user_agent=user_agent, now=now)
    record(session, "password.changed", subject=member, ip=ip, now=now, **_actor(member))
    notify_member(session, member, template="account_password_changed", context={"changed_at": now})
    return key
