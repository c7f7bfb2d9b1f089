"""Dépôt de documents: the form of the guide; on success, the request's page in "Mes demandes"."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from models.base import utcnow
from models.content.queries import document_choices
from models.contracts.reimbursements import family_people, family_people_reads
from models.requests.documents import submit_documents
from models.requests.operations import DuplicateFiles
from web import client_ip

from ..ahead import reads_ahead
from ..extensions import db, limit_posts
from ..forms import FreshForm, people_choices, send_form, submitted
from ..my_requests.views import flash_sent
from .forms import DocumentForm

bp = Blueprint("documents", __name__)
NEW = "member/documents/new.html"
_FORM = FreshForm(DocumentForm, "member/documents/_form.html")


def _people() -> list[tuple[str, str]]:
    return people_choices(family_people(db.session, current_user.id), _("Choisissez"))


@bp.route("/", methods=["GET", "POST"])
@login_required
@limit_posts("20 per hour")
@reads_ahead(lambda now: family_people_reads())
def new():
    """Envoyez-nous vos documents et justificatifs."""
    if not submitted():
        choices = DocumentForm.choices(document_choices(db.session), _("Choisissez")) | {"beneficiary_id": _people()}
        return render_template(NEW, form=None, form_html=_FORM.fresh(
            choices={name: (items, None) for name, items in choices.items()}, duplicates=False))
    form = DocumentForm()
    form.offer(document_choices(db.session), _people(), _("Choisissez"))
    form.ensure_token()
    form.validate()  # CSRF only: every rule is checked by the model
    sent, refusal = send_form(form, lambda: submit_documents(db.session, current_user, form.to_input(), now=utcnow(),
                                                             ip=client_ip()), fallback="files")
    if refusal is None:
        flash_sent()
        return redirect(url_for("my_requests.show", reference=sent.reference), code=303)
    return render_template(NEW, form=form, form_html=_FORM.render(form, duplicates=isinstance(refusal, DuplicateFiles)))
