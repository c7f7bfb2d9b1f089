"""Use cases of a member's own account settings (not the sign-in: see security.py)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.operations import record
from ..errors import DomainError, ValidationFailed
from ..formats import canonical_email, mask_email
from ..i18n import Message, supported
from ..outbox.operations import notify_member, queue_email
from .entities import CodePurpose, Member, OneTimeCode
from ..sessions.entities import WebSession
from ..sessions.operations import SessionPolicy
from .security import CodeCheck, SignInPolicy, attempt_binding, check_code, issue_code, require_reauthentication


def choose_language(session: Session, member: Member, language: str, *, ip: str | None, now: datetime) -> bool:
    """Keep ``language`` (fr or en) as the member's language for e-mails and SMS; True when it changed."""
    language = supported(language)
    if member.language == language:
        return False
    record(session, "member.language_changed", actor_type="member", actor_id=member.id, subject=member,
           member_id=member.id, ip=ip, now=now, language=language, previous=member.language)
    member.language = language
    return True


# ---------------------------------------------------------------------------------------------------------
# Mes informations personnelles: postal address and e-mail address (the mobile: security.request_mobile_change)

ADDRESS_REQUIRED = Message("Ce champ est obligatoire.")
POSTCODE_FORMAT = Message("Saisissez un code postal de 5 chiffres.")
EMAIL_FORMAT = Message("Saisissez une adresse e-mail valide (par exemple : nom@exemple.fr).")
EMAIL_SAME = Message("Cette adresse est déjà celle de votre espace adhérent.")
ADDRESS_UNCHANGED = Message("Cette adresse est déjà celle que nous connaissons.")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class AddressInput:
    """A postal address as typed: street and number, postcode, town."""

    address_line: str
    postcode: str
    city: str


def _clean_line(value: str | None) -> str:
    return " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFKC", value or "")).split())


def change_address(session: Session, member: Member, data: AddressInput, *, ip: str | None,
                   now: datetime) -> None:
    """Keep the member's new postal address (upper case, as MESE prints it); audited, and told by e-mail.

    Raises ``ValidationFailed`` with a message per wrong field (nothing is changed then).
    """
    fields = {"address_line": (_clean_line(data.address_line).upper(), 200),
              "postcode": (_clean_line(data.postcode).replace(" ", ""), 10),
              "city": (_clean_line(data.city).upper(), 100)}
    errors: dict[str, list[str]] = {}
    for name, (value, limit) in fields.items():
        if not value:
            errors[name] = [ADDRESS_REQUIRED]
        elif len(value) > limit:
            errors[name] = [Message("%(n)d caractères au maximum.", n=limit)]
    if "postcode" not in errors and not re.fullmatch(r"\d{5}", fields["postcode"][0], re.ASCII):
        errors["postcode"] = [POSTCODE_FORMAT]
    if errors:
        raise ValidationFailed(errors)
    new = {name: value for name, (value, _limit) in fields.items()}
    if all(getattr(member, name) == value for name, value in new.items()):
        raise ValidationFailed({"address_line": [ADDRESS_UNCHANGED]})
    changed = sorted(name for name, value in new.items() if getattr(member, name) != value)
    for name, value in new.items():
        setattr(member, name, value)
    record(session, "member.address_changed", actor_type="member", actor_id=member.id, subject=member,
           member_id=member.id, ip=ip, now=now, fields=changed)
    notify_member(session, member, template="account_details_changed",
                  context={"change": Message("votre adresse postale")})


def request_email_change(session: Session, member: Member, email: str, *, web_session: WebSession | None,
                         web_session_key: str, session_policy: SessionPolicy, policy: SignInPolicy,
                         ip: str | None, now: datetime) -> str:
    """Send a code to the new address ``email``; the change waits for it (see :func:`confirm_email_change`).

    Needs a recent re-authentication in this session, as a change of mobile does (ASVS 7.5.1): raises
    ``ReauthenticationRequired``. Returns the checked address. Raises ``DomainError`` (field ``email``) for a
    malformed or unchanged address, and ``CodeNotSent`` when codes are asked too often (the limits of the
    sign-in codes).
    """
    require_reauthentication(web_session, session_policy, now)
    if not (email or "").strip():
        raise DomainError(ADDRESS_REQUIRED, field="email")
    try:
        address = canonical_email(email)
    except ValueError:
        raise DomainError(EMAIL_FORMAT, field="email") from None
    if member.email and address.lower() == member.email.lower():
        raise DomainError(EMAIL_SAME, field="email")
    code = issue_code(session, member, purpose=CodePurpose.EMAIL_CHANGE, attempt=web_session_key,
                      destination=address, policy=policy, now=now)
    queue_email(session, to=address, template="account_email_confirmation", member_id=member.id, secret=True,
                language=member.language,
                context={"member": member, "code": code, "masked_email": mask_email(address),
                         "minutes": policy.code_minutes})
    record(session, "email.change_requested", actor_type="member", actor_id=member.id, subject=member,
           member_id=member.id, ip=ip, now=now, domain=address.rpartition("@")[2])
    return address


def pending_email_change(session: Session, member: Member, web_session_key: str, now: datetime) -> str | None:
    """The new address awaiting its code in this session, if its code still works."""
    return session.scalar(select(OneTimeCode.destination).where(
        OneTimeCode.member_id == member.id, OneTimeCode.purpose == CodePurpose.EMAIL_CHANGE,
        OneTimeCode.binding == attempt_binding(web_session_key), OneTimeCode.used_at.is_(None),
        OneTimeCode.revoked_at.is_(None), OneTimeCode.expires_at > now).order_by(OneTimeCode.id.desc()).limit(1))


def confirm_email_change(session: Session, member: Member, code: str, *, web_session_key: str,
                         policy: SignInPolicy, ip: str | None, now: datetime) -> CodeCheck:
    """The code sent to the new address, typed back: the address becomes the member's, the previous one is told.

    A wrong code counts as for any code (against the code, and as a failed sign-in).
    """
    outcome = check_code(session, member, code, attempt=web_session_key, purpose=CodePurpose.EMAIL_CHANGE,
                         policy=policy, ip=ip, now=now)
    if outcome is not CodeCheck.OK:
        return outcome
    address = session.scalar(select(OneTimeCode.destination).where(
        OneTimeCode.member_id == member.id, OneTimeCode.purpose == CodePurpose.EMAIL_CHANGE,
        OneTimeCode.binding == attempt_binding(web_session_key), OneTimeCode.used_at == now)
        .order_by(OneTimeCode.id.desc()).limit(1))
    previous = member.email
    member.email = address
    record(session, "email.changed", actor_type="member", actor_id=member.id, subject=member, member_id=member.id,
           ip=ip, now=now, domain=address.rpartition("@")[2], had_email=previous is not None)
    if previous:
        queue_email(session, to=previous, template="account_email_changed", member_id=member.id,
                    language=member.language,
                    context={"member": member, "masked_email": mask_email(address)})
    return CodeCheck.OK
