"""Mes demandes: the list of the family's requests, one request's page, the answer to a question, its files."""

from __future__ import annotations

import io

from flask import Blueprint, abort, flash, redirect, render_template, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from models.base import utcnow
from models.files.storage import read_bytes
from models.formats import date_fr
from models.requests import operations, queries
from models.requests.operations import DuplicateFiles
from models.requests.workflow import history
from web import client_ip

from ..ahead import reads_ahead
from ..extensions import db, limit_posts
from ..forms import send_form
from ..i18n import translate
from ..layout import fill, part
from .forms import AnswerForm

bp = Blueprint("my_requests", __name__)
#: The member's own copy of a file is downloaded, never shown in the page's origin.
DOWNLOAD_POLICY = "default-src 'none'; sandbox"


def flash_sent() -> None:
    """Tell the member the request is sent, and whether an acknowledgement is on its way."""
    if current_user.email:
        flash(_("Votre demande a bien été envoyée : un accusé de réception vous a été envoyé par email."), "success")
    else:
        flash(_("Votre demande a bien été envoyée. Nous n'avons pas d'adresse email pour vous : pensez à la "
                "renseigner pour recevoir nos accusés de réception."), "success")


@bp.get("/")
@login_required
@reads_ahead(lambda now: queries.family_requests_reads())
def index():
    """Every request of the family, all types, newest first."""
    requests = queries.family_requests(db.session, current_user.id)
    return render_template("member/my_requests/index.html", requests=requests, rows=request_rows(requests))


def request_rows(requests) -> Markup:
    """The table's lines: each request's line part (drawn once per language and status) filled with its values,
    escaped."""
    return Markup("\n    ").join(fill(part("member/my_requests/_row.html", status=r.status), {
        "reference": r.reference,
        "what": f"{translate(r.type_label)} · {r.beneficiary}" if r.beneficiary else translate(r.type_label),
        "created_on": date_fr(r.created_at), "due_on": date_fr(r.due_on), "updated_on": date_fr(r.updated_at)})
        for r in requests)


def _own_request(reference: str):
    found = operations.open_member_request(db.session, current_user, reference, ip=client_ip(), now=utcnow())
    if found is None:
        db.session.commit()  # the refusal is audited
        abort(404)
    return found


def _page(item, form: AnswerForm, duplicates: bool = False):
    form.ensure_token()
    return render_template("member/my_requests/show.html", item=item, form=form, duplicates=duplicates,
                           events=history(db.session, item), messages=queries.request_messages(db.session, item),
                           files=[f for f in queries.request_files(db.session, item) if f.message_id is None])


@bp.route("/<reference>", methods=["GET", "POST"])
@login_required
@limit_posts("20 per hour")
def show(reference: str):
    """One request of the family: reference, status, dates, what was sent, messages; another family's: 404.

    When MESE asked for something, the member answers here (text and files) and the request goes back to
    the agent.
    """
    item = _own_request(reference)
    form = AnswerForm()
    duplicates = False
    if form.is_submitted() and form.validate():  # CSRF only: the rules are checked by the model
        _sent, refusal = send_form(form, lambda: operations.answer(
            db.session, current_user, item, text=form.text.data or "", files=form.uploaded(), now=utcnow(),
            ip=client_ip(), confirm_duplicates=bool(form.confirm_duplicates.data)), fallback="text")
        if refusal is None:
            flash(_("Votre réponse a bien été envoyée."), "success")
            return redirect(url_for(".show", reference=item.reference), code=303)
        duplicates = isinstance(refusal, DuplicateFiles)
    return _page(item, form, duplicates)


@bp.get("/<reference>/fichiers/<int:file_id>")
@login_required
def file(reference: str, file_id: int):
    """A file the family sent with one of its requests, downloaded; any other file: 404."""
    stored = queries.request_file(db.session, _own_request(reference), file_id)
    if stored is None:
        abort(404)
    response = send_file(io.BytesIO(read_bytes(stored)), mimetype="application/octet-stream", as_attachment=True,
                         download_name=stored.filename, max_age=0)
    response.headers["Content-Security-Policy"] = DOWNLOAD_POLICY
    return response
