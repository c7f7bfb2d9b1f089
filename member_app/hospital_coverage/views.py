"""Prise en charge hospitalière: the form, the no-coverage notice, the confirmation page."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from models.base import utcnow
from models.errors import DomainError, ValidationFailed
from models.requests import queries
from models.requests.hospital_coverage import (
    FAX_OR_EMAIL_MESSAGE, MAX_DAYS_AHEAD, NoCoverageNeeded, open_member_request, selectable_beneficiaries, selectable_beneficiaries_reads,
    submit_hospital_coverage,
)
from models.requests.workflow import history, local_today
from web import client_ip

from ..ahead import reads_ahead
from ..extensions import db
from ..forms import FreshForm, submitted
from ..i18n import translate
from .forms import HospitalCoverageForm

bp = Blueprint("hospital_coverage", __name__)
NEW = "member/hospital_coverage/new.html"
_FORM = FreshForm(HospitalCoverageForm, "member/hospital_coverage/_form.html")


@bp.route("/", methods=["GET", "POST"])
@login_required
@reads_ahead(lambda now: selectable_beneficiaries_reads())
def new():
    """The form of the guide; on success, POST/redirect/GET to the confirmation page."""
    now = utcnow()
    today = local_today(now)
    choices = HospitalCoverageForm.choices(selectable_beneficiaries(db.session, current_user, today),
                                           _("Choisissez une personne"))
    page = {"no_coverage": queries.no_coverage_list(db.session)}
    shared = {"fax_or_email_message": translate(FAX_OR_EMAIL_MESSAGE)}
    dates = {"min_date": today.isoformat(), "max_date": (today + timedelta(days=MAX_DAYS_AHEAD)).isoformat(),
             "member_number": current_user.number}
    if not submitted():
        return render_template(NEW, form=None, notice=None, **page, form_html=_FORM.fresh(
            choices={"beneficiary_id": (choices, None)}, texts=dates, **shared))
    form = HospitalCoverageForm()
    form.offer(choices)
    form.ensure_token()
    notice = None
    form.validate()  # CSRF and the date's format only: every business rule is checked by the model
    try:
        submitted_request = submit_hospital_coverage(db.session, current_user, form.to_input(), now=now,
                                                     ip=client_ip())
    except NoCoverageNeeded as exc:
        db.session.rollback()
        notice = exc
    except ValidationFailed as exc:
        db.session.rollback()
        _show_errors(form, exc.errors)
    except DomainError as exc:
        db.session.rollback()
        _show_errors(form, {exc.field or "establishment_name": [exc.message]})
    else:
        db.session.commit()
        return redirect(url_for(".show", reference=submitted_request.reference), code=303)
    return render_template(NEW, form=form, notice=notice, **page,
                           form_html=_FORM.render(form, **shared, **dates))


def _show_errors(form: HospitalCoverageForm, errors: dict[str, list[str]]) -> None:
    """Put the model's messages next to their fields; a date the form could not read keeps its own message."""
    for name, messages in errors.items():
        field = getattr(form, name, None)
        if field is None:
            continue
        if name == "start_on" and field.errors:
            continue
        shown = [translate(message) for message in messages]
        field.errors = list(field.errors) + [m for m in shown if m not in field.errors]


@bp.get("/<reference>")
@login_required
def show(reference: str):
    """One of the member's requests: reference, status, what was asked. Another member's: 404."""
    coverage = open_member_request(db.session, current_user, reference, ip=client_ip(), now=utcnow())
    if coverage is None:
        db.session.commit()  # the refusal is audited
        abort(404)
    return render_template("member/hospital_coverage/show.html", coverage=coverage,
                           events=history(db.session, coverage))
