"""Dépôt de documents: a member sends files of one category and type; an agent classifies, asks, closes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from ..content.entities import DocumentCategory, DocumentType
from ..errors import DomainError, ValidationFailed
from ..i18n import Message
from ..members.entities import Member
from ..staff.entities import StaffUser
from .entities import Action, DocumentSubmission
from .operations import (
    REQUIRED_MESSAGE, already_submitted, attach_files, checked_files, family_member, member_text, submitted,
    valid_form_token,
)
from .workflow import note_event, require, start_request

SUBMITTED_ACTION = "document.submitted"
TYPE_NOT_IN_CATEGORY_MESSAGE = Message("Choisissez un type de document de la catégorie choisie.")
_MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class DocumentInput:
    """What the member chose and typed on "Envoyez-nous vos documents et justificatifs"."""

    category_id: int | None
    type_id: int | None
    beneficiary_id: int | None
    comment: str = ""
    files: Sequence[tuple[str, bytes]] = field(default_factory=list)
    form_token: str = ""
    confirm_duplicates: bool = False


def _category_and_type(session: Session, category_id: int | None,
                       type_id: int | None) -> tuple[DocumentCategory, DocumentType]:
    """The active category and one of its active types, or ValidationFailed on the fields."""
    category = session.get(DocumentCategory, category_id) if category_id and 0 < category_id <= _MAX_ID else None
    if category is None or not category.active:
        raise ValidationFailed({"category_id": [REQUIRED_MESSAGE]})
    doc_type = session.get(DocumentType, type_id) if type_id and 0 < type_id <= _MAX_ID else None
    if doc_type is None or not doc_type.active or doc_type.category_id != category.id:
        raise ValidationFailed({"type_id": [TYPE_NOT_IN_CATEGORY_MESSAGE if type_id else REQUIRED_MESSAGE]})
    return category, doc_type


def submit_documents(session: Session, member: Member, data: DocumentInput, *, now: datetime,
                     ip: str | None = None) -> DocumentSubmission:
    """A member sends documents: checked (fields, then files), stored, acknowledged by e-mail.

    Every field is checked before anything is written; refused files leave no row and no stored file.
    A second submission of the same form (double click) returns the first request.
    """
    token = valid_form_token(data.form_token)
    existing = already_submitted(session, member, DocumentSubmission, SUBMITTED_ACTION, token, now)
    if existing is not None:
        return existing
    errors: dict[str, list[str]] = {}
    category = doc_type = beneficiary = None
    try:
        category, doc_type = _category_and_type(session, data.category_id, data.type_id)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    for name, check in (("beneficiary_id", lambda: family_member(session, member, data.beneficiary_id)),
                        ("comment", lambda: member_text(data.comment, field="comment", required=False))):
        try:
            value = check()
        except DomainError as exc:
            errors[name] = [exc.message]
        else:
            if name == "beneficiary_id":
                beneficiary = value
    if errors:
        raise ValidationFailed(errors)
    files = checked_files(session, member, data.files, now=now, required=True,
                          confirm_duplicates=data.confirm_duplicates)
    request = DocumentSubmission(member_id=member.id, category_id=category.id, type_id=doc_type.id,
                                 beneficiary_id=beneficiary.id, comment=data.comment.strip())
    start_request(session, request, now=now)
    attach_files(session, request, files, now=now)
    submitted(session, member, request, action=SUBMITTED_ACTION, token=token, now=now, ip=ip, files=len(files))
    return request


def classify_documents(session: Session, request: DocumentSubmission, *, staff: StaffUser, type_id: int | None,
                       now: datetime) -> None:
    """The agent corrects the type (and so the category) the member chose; the history keeps both."""
    require(request, staff, Action.CLASSIFY)
    doc_type = session.get(DocumentType, type_id) if type_id and 0 < type_id <= _MAX_ID else None
    try:
        category, doc_type = _category_and_type(session, doc_type.category_id if doc_type else None, type_id)
    except ValidationFailed as exc:
        raise DomainError("Choisissez une catégorie et un type de cette catégorie.", field="type_id") from exc
    before = f"{request.category.name} / {request.document_type.name}"
    request.category_id, request.type_id = category.id, doc_type.id
    note_event(session, request, staff=staff, now=now, action="classified",
               note=f"Classement : {before} → {category.name} / {doc_type.name}",
               category_id=category.id, type_id=doc_type.id)
