"""Content use cases run by managers in the back office: terms of use, downloadable documents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.operations import record
from ..content.entities import ContentDocument, ContentDocumentVersion, TermsVersion
from ..errors import DomainError
from ..files import storage
from ..files.entities import StoredFile
from .entities import StaffUser

MAX_DOCUMENT_BYTES = 10 * 1024 * 1024


def publish_terms_version(session: Session, terms: TermsVersion, *, staff: StaffUser, now: datetime) -> None:
    """Publish a new version of the terms of use; members are asked to accept it at their next visit.

    A published version is final: it can be neither published again nor edited.
    """
    if terms.published_at is not None:
        raise DomainError(f"La version {terms.version} est déjà publiée.")
    if not (terms.body or "").strip():
        raise DomainError(f"La version {terms.version} n'a pas de texte.", field="body")
    terms.published_at = now
    record(session, "terms.published", actor_type="staff", actor_id=staff.id, subject=terms, now=now,
           version=terms.version)


def attach_document_file(
    session: Session, document: ContentDocument, *, data: bytes, filename: str, staff: StaffUser, now: datetime
) -> None:
    """Store a new PDF version of a downloadable document and make it the current one.

    Every version is kept and listed with its date (``document_versions``); ``document.file_id`` names the current.
    """
    if not data.startswith(b"%PDF-"):
        raise DomainError("Le fichier doit être un PDF.", field="upload")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DomainError("Le fichier dépasse 10 Mo.", field="upload")
    stored = storage.store_bytes(session, data, filename=filename or "document.pdf", content_type="application/pdf")
    session.flush()
    if document.id is None:
        session.flush()
    document.file_id = stored.id
    session.add(ContentDocumentVersion(document_id=document.id, file_id=stored.id, uploaded_at=now,
                                       uploaded_by_id=staff.id))
    record(session, "content_document.file_attached", actor_type="staff", actor_id=staff.id, subject=document,
           now=now, file_id=stored.id)


def document_versions(session: Session, document: ContentDocument) -> list[dict]:
    """The PDF versions of ``document``, newest first: date, file name, size, who uploaded it, whether current."""
    rows = session.execute(
        select(ContentDocumentVersion.uploaded_at, StoredFile.id, StoredFile.filename, StoredFile.size,
               StaffUser.full_name)
        .join(StoredFile, StoredFile.id == ContentDocumentVersion.file_id)
        .outerjoin(StaffUser, StaffUser.id == ContentDocumentVersion.uploaded_by_id)
        .where(ContentDocumentVersion.document_id == document.id)
        .order_by(ContentDocumentVersion.uploaded_at.desc(), ContentDocumentVersion.id.desc())
    ).all()
    if not rows and document.file_id is not None:  # attached before versions were kept
        stored = session.get(StoredFile, document.file_id)
        rows = [(stored.created_at, stored.id, stored.filename, stored.size, None)] if stored else []
    return [{"uploaded_at": at, "filename": name, "size": size, "uploaded_by": by, "current": file_id == document.file_id}
            for at, file_id, name, size, by in rows]
