"""Futur(e) retraité(e): only for members of the collective contract (403 for the others), the documents meant
for future retirees and the way to "Contacter la mutuelle"."""

from __future__ import annotations

import io

from flask import Blueprint, abort, render_template, send_file
from flask_login import login_required

from models.content.services import future_retiree_document, future_retiree_documents
from models.files.entities import StoredFile
from models.files.storage import read_bytes

from ..extensions import db
from ..menu import collective

bp = Blueprint("retirement", __name__)
DOWNLOAD_POLICY = "default-src 'none'; sandbox"


def _require_collective() -> None:
    if not collective():  # read with the sign-in check: no query of its own
        abort(403)


@bp.get("/futur-retraite")
@login_required
def index():
    """Futur(e) retraité(e): the guide's text and the documents."""
    _require_collective()
    return render_template("member/retirement/index.html", documents=future_retiree_documents(db.session))


@bp.get("/futur-retraite/documents/<int:document_id>")
@login_required
def download(document_id: int):
    """One of the future retirees' documents (PDF); 404 for any other document."""
    _require_collective()
    document = future_retiree_document(db.session, document_id)
    stored = db.session.get(StoredFile, document.file_id) if document is not None else None
    if stored is None:
        abort(404)
    response = send_file(io.BytesIO(read_bytes(stored)), mimetype="application/pdf", as_attachment=True,
                         download_name=stored.filename, max_age=0)
    response.headers["Content-Security-Policy"] = DOWNLOAD_POLICY
    return response
