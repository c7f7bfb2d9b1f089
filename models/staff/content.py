"""Content use cases run by managers in the back office: terms of use, downloadable documents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ..audit.operations import record
from ..content.entities import ContentDocument, TermsVersion
from ..errors import DomainError
from ..files import storage
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
    """Store the PDF of a downloadable document and attach it (the previous file stays in storage)."""
    if not data.startswith(b"%PDF-"):
        raise DomainError("Le fichier doit être un PDF.", field="upload")
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DomainError("Le fichier dépasse 10 Mo.", field="upload")
    stored = storage.store_bytes(session, data, filename=filename or "document.pdf", content_type="application/pdf")
    session.flush()
    document.file_id = stored.id
    record(session, "content_document.file_attached", actor_type="staff", actor_id=staff.id, subject=document,
           now=now, file_id=stored.id)
