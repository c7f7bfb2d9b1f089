"""Account activation (login ID by e-mail) and password reset links, without telling who is a member."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..audit.operations import record
from ..crypto import blind_index
from ..errors import DomainError
from ..formats import canonical_nir, normalise_text
from ..i18n import Message
from ..outbox.entities import OutboxMessage
from ..outbox.operations import notify_member, render_blocks
from .entities import AccountToken, Civility, Member, TokenPurpose
from .passwords import checked_password_hash, install_password_hash
from ..sessions.operations import SessionEnd, end_sessions
from .security import SignInPolicy, find_member

#: At most this many reset e-mails per member and hour; further requests get the same answer, no e-mail.
RESETS_PER_HOUR = 5
#: At most this many activation e-mails (login ID) per member and day, whatever the addresses asking.
ACTIVATIONS_PER_DAY = 3
#: An id no row has: the queries of an unknown identifier run as for a known one (same work, same time).
_NO_ONE = -1


def _stand_in(number: str) -> Member:
    """A member that exists nowhere, to render an e-mail no one receives (same work whoever is asked for)."""
    return Member(number=number or "0", civility=Civility.MADAME, first_name="", last_name="")


class InvalidLink(DomainError):
    """A reset link that is unknown, already used, replaced by a newer one or expired."""


@dataclass(frozen=True)
class ActivationRequest:
    """What the member types on "Activation de votre espace" (the principal insured's identity)."""

    last_name: str
    first_name: str
    birth_date: date
    nir: str


def _matches(member: Member, request: ActivationRequest) -> bool:
    return (normalise_text(member.last_name) == normalise_text(request.last_name)
            and normalise_text(member.first_name) == normalise_text(request.first_name)
            and member.birth_date == request.birth_date)


def request_activation(session: Session, request: ActivationRequest, *, login_url: str, ip: str | None,
                       now: datetime) -> Member | None:
    """Send the login ID to the e-mail on file of the member matching name, first name, birth date and NIR.

    The NIR is looked up through its blind index, never in clear. Returns the matched member for tests
    only: the page must answer the same whether or not someone matched.
    """
    try:
        index = blind_index(canonical_nir(request.nir))
    except ValueError:
        index = None
    candidates = session.scalars(select(Member).where(Member.nir_index == index)).all() if index else []
    member = next((m for m in candidates if _matches(m, request)), None)
    if member is not None:
        session.refresh(member, with_for_update=True)  # concurrent requests for one member all count
    sent_today = session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.member_id == (member.id if member else _NO_ONE),
        OutboxMessage.template == "account_activation", OutboxMessage.created_at > now - timedelta(days=1)))
    context = {"member": member or _stand_in(""), "login_url": login_url}
    if member is None or not member.email or sent_today >= ACTIVATIONS_PER_DAY:
        render_blocks("email/account_activation.html", context)  # the same work as a sent e-mail
        if member is None:
            record(session, "account.activation_requested", actor_type="anonymous", ip=ip, now=now, matched=False)
        else:
            record(session, "account.activation_requested", actor_type="member", actor_id=member.id, subject=member,
                   member_id=member.id, ip=ip, now=now, matched=True, email_on_file=bool(member.email), sent=False,
                   reason="too_many" if member.email else "no_email")
        return member
    notify_member(session, member, template="account_activation", context=context)
    record(session, "account.activation_requested", actor_type="member", actor_id=member.id, subject=member,
           member_id=member.id, ip=ip, now=now, matched=True, email_on_file=True, sent=True)
    return member


def _token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def request_password_reset(session: Session, identifier: str, *, make_link: Callable[[str], str],
                           valid_minutes: int, ip: str | None, now: datetime) -> Member | None:
    """E-mail a single-use link to set a new password to the member with this number, if any.

    Only the SHA-256 of the link's token is stored; older links stop working. Returns the member for
    tests only: the page answers the same for unknown numbers and members without an e-mail.
    """
    # Every outcome runs the same queries, draws a token and renders the e-mail, so that the time of the
    # answer does not tell a known identifier from an unknown one (ASVS 6.3.8); only a sent e-mail is saved.
    member = find_member(session, identifier)
    member_id = member.id if member else _NO_ONE
    recent = session.scalar(select(func.count()).select_from(AccountToken).where(
        AccountToken.member_id == member_id, AccountToken.purpose == TokenPurpose.PASSWORD_RESET,
        AccountToken.created_at > now - timedelta(hours=1)))
    reason = "unknown_identifier" if member is None else "no_email" if not member.email else \
        "too_many" if recent >= RESETS_PER_HOUR else None
    raw = secrets.token_urlsafe(32)
    token_hash = _token_hash(raw)
    _expire_links(session, member_id if reason is None else _NO_ONE, now)
    context = {"member": member or _stand_in(identifier[:20]), "link": make_link(raw), "minutes": valid_minutes,
               "first_password": member is None or member.password_hash is None}
    if reason is not None:
        render_blocks("email/account_password_reset.html", context)
        record(session, "password.reset_requested", actor_type="member" if member else "anonymous",
               actor_id=member.id if member else None, subject=member, member_id=member.id if member else None,
               ip=ip, now=now, sent=False, reason=reason)
        return None
    session.add(AccountToken(member_id=member.id, purpose=TokenPurpose.PASSWORD_RESET, token_hash=token_hash,
                             created_at=now, expires_at=now + timedelta(minutes=valid_minutes)))
    notify_member(session, member, template="account_password_reset", context=context, secret=True)
    record(session, "password.reset_requested", actor_type="member", actor_id=member.id, subject=member,
           member_id=member.id, ip=ip, now=now, sent=True)
    return member


def _expire_links(session: Session, member_id: int, now: datetime) -> None:
    session.execute(update(AccountToken).where(
        AccountToken.member_id == member_id, AccountToken.purpose == TokenPurpose.PASSWORD_RESET,
        AccountToken.used_at.is_(None), AccountToken.expires_at > now).values(expires_at=now))


def valid_reset_token(session: Session, raw: str, now: datetime, *, lock: bool = False) -> AccountToken | None:
    """The unused, unexpired reset token behind a link, or None."""
    if not raw or len(raw) > 100:
        return None
    query = select(AccountToken).where(
        AccountToken.token_hash == _token_hash(raw), AccountToken.purpose == TokenPurpose.PASSWORD_RESET,
        AccountToken.used_at.is_(None), AccountToken.expires_at > now)
    return session.scalar(query.with_for_update() if lock else query)


def _link_refused(session: Session, ip: str | None, now: datetime) -> InvalidLink:
    record(session, "password.reset_failed", actor_type="anonymous", ip=ip, now=now, reason="invalid_link")
    return InvalidLink(Message(
        "Ce lien n'est plus valable : il a déjà servi, a été remplacé par un plus récent ou a expiré."))


def pending_digest(token: AccountToken) -> str:
    """What the sign-in session keeps to be sure the password it confirms is the one its member chose."""
    return hashlib.sha256((token.pending_password_hash or "").encode()).hexdigest()


def begin_password_reset(session: Session, raw: str, new_password: str, *, ip: str | None,
                         now: datetime) -> AccountToken:
    """Check a new password chosen through a reset link and keep its hash on the link; the account is unchanged.

    The password is set by :func:`finish_password_reset` once the second factor succeeds (ASVS 6.4.3).
    Raises :class:`InvalidLink` or ``PasswordRejected`` (the link then stays usable).
    """
    token = valid_reset_token(session, raw, now, lock=True)
    if token is None:
        raise _link_refused(session, ip, now)
    member = session.get(Member, token.member_id)
    token.pending_password_hash = checked_password_hash(session, member, new_password)
    return token


def pending_reset(session: Session, token_id: int, digest: str, now: datetime) -> AccountToken | None:
    """The reset awaiting its second factor, if its link still works and still holds the password chosen."""
    token = session.scalar(select(AccountToken).where(
        AccountToken.id == token_id, AccountToken.purpose == TokenPurpose.PASSWORD_RESET,
        AccountToken.used_at.is_(None), AccountToken.expires_at > now).with_for_update())
    if token is None or not token.pending_password_hash or \
            not hmac.compare_digest(pending_digest(token), digest or ""):
        return None
    return token


def count_reset_code_failure(token: AccountToken, *, policy: SignInPolicy, now: datetime) -> bool:
    """Count a wrong code typed to confirm a reset; at the lock limit the link stops working. True while usable."""
    # The member's own counter may already hold the lock the reset is meant to lift: the link counts its codes.
    token.code_failures += 1
    if token.code_failures >= policy.lock_after_failures:
        token.expires_at = now
        return False
    return True


def finish_password_reset(session: Session, token_id: int, digest: str, *, ip: str | None,
                          now: datetime) -> Member:
    """After the second factor: set the pending password, use up the link, lift the lock, end other sessions.

    Raises :class:`InvalidLink` when the link expired, was replaced or its password changed meanwhile.
    """
    token = pending_reset(session, token_id, digest, now)
    if token is None:
        raise _link_refused(session, ip, now)
    member = session.get(Member, token.member_id)
    first = member.password_hash is None
    install_password_hash(session, member, token.pending_password_hash, now=now)
    token.used_at = now
    token.pending_password_hash = None
    _expire_links(session, member.id, now)
    member.failed_login_count = 0
    member.last_failed_login_at = None
    member.locked_at = None
    end_sessions(session, member_id=member.id, reason=SessionEnd.PASSWORD_RESET, now=now)
    record(session, "password.reset", actor_type="member", actor_id=member.id, subject=member, member_id=member.id,
           ip=ip, now=now, first_password=first)
    if not first:
        notify_member(session, member, template="account_password_changed", context={"changed_at": now})
    return member
