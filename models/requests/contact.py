"""Contacter la mutuelle: a member writes about a reason and a beneficiary; an agent replies, then closes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from ..content.entities import ContactReason
from ..errors import DomainError, ValidationFailed
from ..members.entities import Member
from .entities import ContactRequest
from .operations import (
    REQUIRED_MESSAGE, already_submitted, attach_files, checked_files, family_member, member_text, submitted,
    valid_form_token,
)
from .workflow import start_request

SUBMITTED_ACTION = "contact.submitted"
_MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class ContactInput:
    """What the member chose and wrote on "Contacter la mutuelle"."""

    reason_id: int | None
    beneficiary_id: int | None
    message: str
    files: Sequence[tuple[str, bytes]] = field(default_factory=list)
    form_token: str = ""
    confirm_duplicates: bool = False


def submit_contact(session: Session, member: Member, data: ContactInput, *, now: datetime,
                   ip: str | None = None) -> ContactRequest:
    """A member writes to MESE (optional attachments, same rules as documents); acknowledged by e-mail.

    Every field is checked before anything is written; a second submission of the same form returns the
    first request.
    """
    token = valid_form_token(data.form_token)
    existing = already_submitted(session, member, ContactRequest, SUBMITTED_ACTION, token, now)
    if existing is not None:
        return existing
    errors: dict[str, list[str]] = {}
    reason = session.get(ContactReason, data.reason_id) if data.reason_id and 0 < data.reason_id <= _MAX_ID else None
    if reason is None or not reason.active:
        errors["reason_id"] = [REQUIRED_MESSAGE]
    beneficiary = message = None
    try:
        beneficiary = family_member(session, member, data.beneficiary_id)
    except DomainError as exc:
        errors["beneficiary_id"] = [exc.message]
    try:
        message = member_text(data.message, field="message")
    except DomainError as exc:
        errors["message"] = [exc.message]
    if errors:
        raise ValidationFailed(errors)
    files = checked_files(session, member, data.files, now=now, required=False,
                          confirm_duplicates=data.confirm_duplicates)
    request = ContactRequest(member_id=member.id, reason_id=reason.id, beneficiary_id=beneficiary.id, message=message)
    start_request(session, request, now=now)
    attach_files(session, request, files, now=now)
    submitted(session, member, request, action=SUBMITTED_ACTION, token=token, now=now, ip=ip, files=len(files))
    return request
