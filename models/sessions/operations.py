"""Opening, finding and ending server-side sessions; the use cases of each kind of user audit why."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from ..formats import device_summary
from .entities import WebSession

#: Last activity is written at most this often (a write per request would be wasteful).
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives: idle time, and an absolute lifetime counted from sign-in."""

    idle_minutes: int = 15
    absolute_hours: int = 12
    #: Re-authentication (password and a code) lasts this long for sensitive changes.
    reauthentication_minutes: int = 10


class SessionEnd:
    """Why a session ended (``WebSession.end_reason``)."""

    SIGNED_OUT = "signed_out"
    IDLE = "idle"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET = "password_reset"
    ENDED_BY_OWNER = "ended_by_owner"
    ENDED_BY_ADMIN = "ended_by_admin"
    DEACTIVATED = "deactivated"
    ROLE_CHANGED = "role_changed"
    LOCKED = "locked"


def key_hash(key: str) -> str:
    """What the database keeps of a session key."""
    return hashlib.sha256(key.encode()).hexdigest()


def open_session(session: Session, *, member_id: int | None = None, staff_id: int | None = None,
                 policy: SessionPolicy, ip: str | None, user_agent: str | None, now: datetime) -> str:
    """Open a session for a member or a staff member; returns the random key for the cookie (256 bits)."""
    key = secrets.token_urlsafe(32)
    session.add(WebSession(key_hash=key_hash(key), member_id=member_id, staff_id=staff_id, created_at=now,
                           last_seen_at=now, expires_at=now + timedelta(hours=policy.absolute_hours),
                           ip=ip, device=device_summary(user_agent or "")))
    session.flush()
    return key


def _idle_since(policy: SessionPolicy, now: datetime) -> datetime:
    # The last activity is written once a minute: allow that much on top of the idle time.
    return now - timedelta(minutes=policy.idle_minutes) - TOUCH_EVERY


def _live(policy: SessionPolicy, now: datetime):
    return (WebSession.ended_at.is_(None), WebSession.expires_at > now,
            WebSession.last_seen_at > _idle_since(policy, now))


def well_formed_key(key) -> bool:
    """True when ``key`` may be a session key of a cookie (a short string)."""
    return bool(key) and isinstance(key, str) and len(key) <= 100


def live_key_conditions(key: str | None, *, policy: SessionPolicy, now: datetime) -> tuple | None:
    """SQL conditions of the live session behind a cookie key, or None when ``key`` cannot be one."""
    if not well_formed_key(key):
        return None
    return (WebSession.key_hash == key_hash(key), *_live(policy, now))


def find_session(session: Session, key: str | None, *, policy: SessionPolicy, now: datetime) -> WebSession | None:
    """The live session behind a cookie key (not ended, within its idle time and absolute lifetime), or None."""
    conditions = live_key_conditions(key, policy=policy, now=now)
    return None if conditions is None else session.scalar(select(WebSession).where(*conditions))


def live_key_clauses() -> tuple:
    """The conditions of ``live_key_conditions`` with their values left as parameters (``live_key_parameters``),
    for a query built once and run on every request."""
    return (WebSession.key_hash == bindparam("key_hash"), WebSession.ended_at.is_(None),
            WebSession.expires_at > bindparam("now"), WebSession.last_seen_at > bindparam("idle_since"))


def live_key_parameters(key: str | None, *, policy: SessionPolicy, now: datetime) -> dict | None:
    """The values of ``live_key_clauses`` for a cookie key, or None when ``key`` cannot be one."""
    if not well_formed_key(key):
        return None
    return {"key_hash": key_hash(key), "now": now, "idle_since": _idle_since(policy, now)}


def needs_touch(web_session: WebSession, now: datetime) -> bool:
    """True when the session's last activity is older than ``TOUCH_EVERY`` and should be written again."""
    return now - web_session.last_seen_at >= TOUCH_EVERY


def touch(session: Session, session_id: int, now: datetime) -> None:
    """Note activity in a session. Callers run it in a transaction of its own, committed at once, so that
    it is kept whatever the request does with its own."""
    session.execute(update(WebSession).where(WebSession.id == session_id).values(last_seen_at=now))


def live_sessions(session: Session, *, member_id: int | None = None, staff_id: int | None = None,
                  policy: SessionPolicy, now: datetime) -> list[WebSession]:
    """The live sessions of a member or a staff member, most recent activity first."""
    owner = WebSession.member_id == member_id if member_id is not None else WebSession.staff_id == staff_id
    return list(session.scalars(select(WebSession).where(owner, *_live(policy, now))
                                .order_by(WebSession.last_seen_at.desc(), WebSession.id.desc())))


def end_session(web_session: WebSession, *, reason: str, now: datetime) -> None:
    """End one session: its cookie no longer signs anyone in."""
    if web_session.ended_at is None:
        web_session.ended_at = now
        web_session.end_reason = reason


def end_sessions(session: Session, *, member_id: int | None = None, staff_id: int | None = None, reason: str,
                 now: datetime, keep_id: int | None = None) -> int:
    """End every session of a member or a staff member (but ``keep_id``); returns how many ended."""
    owner = WebSession.member_id == member_id if member_id is not None else WebSession.staff_id == staff_id
    query = update(WebSession).where(owner, WebSession.ended_at.is_(None))
    if keep_id is not None:
        query = query.where(WebSession.id != keep_id)
    result = session.execute(query.values(ended_at=now, end_reason=reason).execution_options(
        synchronize_session="fetch"))
    return result.rowcount or 0


def reauthenticated(web_session: WebSession | None, *, policy: SessionPolicy, now: datetime) -> bool:
    """True when password and second factor were asked again in this session a short while ago."""
    return bool(web_session is not None and web_session.reauthenticated_at is not None
                and now - web_session.reauthenticated_at <= timedelta(minutes=policy.reauthentication_minutes))
