"""Changement de coordonnées bancaires: the form, the code page, a new code; then "Mes demandes"."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from models.base import utcnow
from models.contracts.reimbursements import family_people, family_people_reads
from models.errors import DomainError
from models.members.security import CodeNotSent, mask_mobile
from models.requests import bank_details
from web import client_ip

from ..ahead import reads_ahead
from ..extensions import db, limit_posts, limiter
from ..forms import FreshForm, optional_id, send_form, submitted
from ..i18n import translate
from ..my_requests.views import flash_sent
from .forms import BankChangeForm, ConfirmationForm

bp = Blueprint("bank_change", __name__)
#: Key of the Flask session holding the token of the change waiting for its code.
PENDING = "bank_change"
NEW = "member/bank_change/new.html"
_FORM = FreshForm(BankChangeForm, "member/bank_change/_form.html")


def _policy():
    return current_app.extensions["mese_config"].sign_in_policy()


def _accounts() -> list[tuple[str, str]]:
    """The choices of "Compte concerné": the member's own account, then each other person's of the family."""
    people = family_people(db.session, current_user.id)
    return [("", _("Mon compte (adhérent)"))] + [
        (str(p.id), p.full_name) for p in people if p.role.value != "principal"]


@bp.route("/", methods=["GET", "POST"])
@login_required
@limit_posts("10 per hour")
@reads_ahead(lambda now: family_people_reads())
def new():
    """The new account (``beneficiary_id``: the person chosen first); on success, the code is sent and the code
    page comes."""
    if not submitted():
        chosen = optional_id(request.args.get("beneficiary_id"))
        return render_template(NEW, form=None, form_html=_FORM.fresh(
            choices={"beneficiary_id": (_accounts(), None if chosen == -1 else chosen)}))
    form = BankChangeForm()
    form.beneficiary_id.choices = _accounts()
    form.ensure_token()
    form.validate()  # CSRF only: every rule is checked by the model
    prepared, refusal = send_form(form, lambda: bank_details.prepare_bank_change(
        db.session, current_user, form.to_input(), policy=_policy(), now=utcnow(), ip=client_ip()), fallback="iban")
    if refusal is None:
        session[PENDING] = prepared.token
        return redirect(url_for(".confirm"), code=303)
    return render_template(NEW, form=form, form_html=_FORM.render(form))


@bp.route("/confirmation", methods=["GET", "POST"])
@login_required
@limit_posts("15 per 15 minutes")
def confirm():
    """Le code de sécurité: the right code sends the change to MESE."""
    token = session.get(PENDING)
    now = utcnow()
    pending = bank_details.pending_bank_change(db.session, current_user, token, now)
    if pending is None:
        session.pop(PENDING, None)
        flash(translate(bank_details.EXPIRED_MESSAGE), "error")
        return redirect(url_for(".new"))
    form = ConfirmationForm()
    if form.validate_on_submit():
        try:
            submitted = bank_details.confirm_bank_change(db.session, current_user, token, form.code.data or "",
                                                         policy=_policy(), now=now, ip=client_ip())
        except DomainError as exc:
            db.session.commit()  # a wrong code counts, like any wrong code
            form.code.errors = [translate(exc.message)]
        else:
            db.session.commit()
            session.pop(PENDING, None)
            flash_sent()
            return redirect(url_for("my_requests.show", reference=submitted.reference), code=303)
    uses_app = current_user.second_factor.value == "totp"
    return render_template("member/bank_change/confirm.html", form=form, pending=pending, uses_app=uses_app,
                           masked_mobile=mask_mobile(current_user.mobile))


@bp.post("/confirmation/nouveau-code")
@login_required
@limiter.limit("5 per 15 minutes")
def resend():
    """Recevoir un nouveau code (the previous one stops working)."""
    try:
        bank_details.resend_bank_code(db.session, current_user, session.get(PENDING, ""), policy=_policy(),
                                      now=utcnow(), ip=client_ip())
    except (DomainError, CodeNotSent) as exc:
        db.session.rollback()
        flash(translate(exc.message), "error")
    else:
        db.session.commit()
        flash(_("Un nouveau code vous a été envoyé par SMS."))
    return redirect(url_for(".confirm"))
