"""Use cases of a member's own account settings (not the sign-in: see security.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ..audit.operations import record
from ..i18n import supported
from .entities import Member


def choose_language(session: Session, member: Member, language: str, *, ip: str | None, now: datetime) -> bool:
    """Keep ``language`` (fr or en) as the member's language for e-mails and SMS; True when it changed."""
    language = supported(language)
    if member.language == language:
        return False
    record(session, "member.language_changed", actor_type="member", actor_id=member.id, subject=member,
           member_id=member.id, ip=ip, now=now, language=language, previous=member.language)
    member.language = language
    return True
