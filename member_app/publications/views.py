"""Documents contractuels and Documents d'informations: the PDFs MESE publishes, for the member's contracts."""

from __future__ import annotations

from flask import Blueprint, Response, abort, render_template
from flask_login import current_user, login_required

from models.base import utcnow
from models.content.entities import DocumentKind
from models.content.queries import member_document, member_documents, member_documents_reads
from models.files.storage import read_bytes
from models.requests.workflow import local_today

from ..ahead import reads_ahead
from ..extensions import db

bp = Blueprint("publications", __name__)
#: A downloaded document is never shown in the page's origin.
DOWNLOAD_POLICY = "default-src 'none'; sandbox"


def _documents(kind: DocumentKind) -> tuple:
    return tuple(member_documents(db.session, current_user.id, kind, local_today(utcnow())))


@bp.get("/documents-contractuels")
@login_required
@reads_ahead(lambda now: member_documents_reads(DocumentKind.CONTRACTUAL, local_today(now)))
def contractual():
    """Consulter les barèmes de garanties et de cotisations, the enrolment form, etc."""
    return render_template("member/publications/contractual.html", documents=_documents(DocumentKind.CONTRACTUAL))


@bp.get("/documents-d-information")
@login_required
@reads_ahead(lambda now: member_documents_reads(DocumentKind.INFORMATION, local_today(now)))
def information():
    """The Bulletins Santé (MESE's biannual magazine) and other information documents."""
    return render_template("member/publications/information.html", documents=_documents(DocumentKind.INFORMATION))


@bp.get("/documents/<int:document_id>")
@login_required
def download(document_id: int):
    """A published document the member's contracts may see, downloaded; any other: 404."""
    document = member_document(db.session, current_user.id, document_id, local_today(utcnow()))
    if document is None or document.file is None:
        abort(404)
    stored = document.file
    response = Response(read_bytes(stored), mimetype=stored.content_type or "application/pdf")
    response.headers.set("Content-Disposition", "attachment", filename=stored.filename)
    response.headers["Content-Security-Policy"] = DOWNLOAD_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "private, max-age=0"
    return response
