"""Contacter la mutuelle: the form; on success, the request's page in "Mes demandes"."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from models.base import utcnow
from models.content.queries import contact_reason_choices
from models.contracts.reimbursements import family_people
from models.errors import DomainError, ValidationFailed
from models.requests.contact import submit_contact
from models.requests.operations import DuplicateFiles
from web import client_ip

from ..extensions import db, limiter
from ..forms import FreshForm, people_choices, show_errors, submitted
from ..my_requests.views import flash_sent
from .forms import ContactForm

bp = Blueprint("contact", __name__)
NEW = "member/contact/new.html"
_FORM = FreshForm(ContactForm, "member/contact/_form.html")


@bp.route("/", methods=["GET", "POST"])
@login_required
@limiter.limit("20 per hour", methods=["POST"])
def new():
    """Contacter la mutuelle: reason, person, message, optional attachments, "Envoyer"."""
    reasons = [("", _("Choisissez"))] + [(str(id_), name) for id_, name in contact_reason_choices(db.session)]
    people = people_choices(family_people(db.session, current_user.id), _("Choisissez"))
    if not submitted():
        return render_template(NEW, form=None, form_html=_FORM.fresh(
            choices={"reason_id": (reasons, None), "beneficiary_id": (people, None)}, duplicates=False))
    form = ContactForm()
    form.reason_id.choices = reasons
    form.beneficiary_id.choices = people
    form.ensure_token()
    duplicates = False
    form.validate()  # CSRF only: every rule is checked by the model
    try:
        submitted_request = submit_contact(db.session, current_user, form.to_input(), now=utcnow(), ip=client_ip())
    except ValidationFailed as exc:
        db.session.rollback()
        show_errors(form, exc.errors, fallback="message")
    except DomainError as exc:
        db.session.rollback()
        duplicates = isinstance(exc, DuplicateFiles)
        show_errors(form, {exc.field: [exc.message]}, fallback="message")
    else:
        db.session.commit()
        flash_sent()
        return redirect(url_for("my_requests.show", reference=submitted_request.reference), code=303)
    return render_template(NEW, form=form, form_html=_FORM.render(form, duplicates=duplicates))
