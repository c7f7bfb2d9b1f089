"""Activer la télétransmission: one beneficiary, the attestation of rights; on success, "Mes demandes"."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for
from flask_login import current_user, login_required

from models.base import utcnow
from models.contracts.queries import family_person, family_person_reads
from models.requests.operations import DuplicateFiles
from models.requests.teletransmission import TeletransmissionInput, submit_teletransmission
from web import client_ip

from ..ahead import reads_ahead
from ..extensions import db, limit_posts
from ..forms import FreshForm, send_form, submitted
from ..my_requests.views import flash_sent
from .forms import TeletransmissionForm

bp = Blueprint("teletransmission", __name__)
NEW = "member/teletransmission/new.html"
_FORM = FreshForm(TeletransmissionForm, "member/teletransmission/_form.html")


def _person(beneficiary_id: int):
    """The person of the family and the reference of their open request; another family's person: 404."""
    found = family_person(db.session, current_user.id, beneficiary_id)
    if found is None:
        abort(404)
    person, pending = found
    return person, pending, {"action": url_for(".new", beneficiary_id=person.id), "person_name": person.full_name}


@bp.route("/<int:beneficiary_id>", methods=["GET", "POST"])
@login_required
@limit_posts("20 per hour")
@reads_ahead(lambda now, beneficiary_id: family_person_reads(beneficiary_id))
def new(beneficiary_id: int):
    """The request for one person of the family; another family's person: 404."""
    person, pending, texts = _person(beneficiary_id)
    if not submitted():
        return render_template(NEW, form=None, person=person, pending=pending,
                               form_html=_FORM.fresh(texts=texts, duplicates=False))
    form = TeletransmissionForm()
    form.ensure_token()
    form.validate()  # CSRF only: every rule is checked by the model
    data = TeletransmissionInput(beneficiary_id=person.id, files=form.uploaded(),
                                 form_token=form.form_token.data or "",
                                 confirm_duplicates=bool(form.confirm_duplicates.data))
    sent, refusal = send_form(form, lambda: submit_teletransmission(db.session, current_user, data, now=utcnow(),
                                                                    ip=client_ip()), fallback="files")
    if refusal is None:
        flash_sent()
        return redirect(url_for("my_requests.show", reference=sent.reference), code=303)
    return render_template(NEW, form=form, person=person, pending=pending,
                           form_html=_FORM.render(form, duplicates=isinstance(refusal, DuplicateFiles), **texts))
