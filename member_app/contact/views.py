"""Contacter la mutuelle: the form; on success, the request's page in "Mes demandes"."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from models.base import utcnow
from models.content.queries import contact_reason_choices
from models.contracts.reimbursements import family_people, family_people_reads
from models.requests.contact import submit_contact
from models.requests.operations import DuplicateFiles
from web import client_ip

from ..ahead import reads_ahead
from ..extensions import db, limit_posts
from ..forms import FreshForm, people_choices, send_form, submitted
from ..my_requests.views import flash_sent
from .forms import ContactForm

bp = Blueprint("contact", __name__)
NEW = "member/contact/new.html"
_FORM = FreshForm(ContactForm, "member/contact/_form.html")


def _choices() -> dict[str, list[tuple[str, str]]]:
    """The choices of each select: the staff-managed reasons, the family."""
    return {"reason_id": [("", _("Choisissez"))] + [(str(id_), name)
                                                   for id_, name in contact_reason_choices(db.session)],
            "beneficiary_id": people_choices(family_people(db.session, current_user.id), _("Choisissez"))}


@bp.route("/", methods=["GET", "POST"])
@login_required
@limit_posts("20 per hour")
@reads_ahead(lambda now: family_people_reads())
def new():
    """Contacter la mutuelle: reason, person, message, optional attachments, "Envoyer"."""
    if not submitted():
        return render_template(NEW, form=None, form_html=_FORM.fresh(
            choices={name: (items, None) for name, items in _choices().items()}, duplicates=False))
    form = ContactForm()
    for name, items in _choices().items():
        getattr(form, name).choices = items
    form.ensure_token()
    form.validate()  # CSRF only: every rule is checked by the model
    sent, refusal = send_form(form, lambda: submit_contact(db.session, current_user, form.to_input(), now=utcnow(),
                                                           ip=client_ip()), fallback="message")
    if refusal is None:
        flash_sent()
        return redirect(url_for("my_requests.show", reference=sent.reference), code=303)
    return render_template(NEW, form=form, form_html=_FORM.render(form, duplicates=isinstance(refusal, DuplicateFiles)))
