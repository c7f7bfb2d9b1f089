"""Mes informations personnelles: what MESE knows of the member; changes of address and e-mail (the mobile goes
through the account security pages, which ask for the password and a code again)."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, logout_user

from models.base import utcnow
from models.errors import DomainError
from models.formats import date_fr, display_phone
from models.members import operations
from models.members.security import CodeCheck, CodeNotSent, ReauthenticationRequired
from models.sessions.operations import reauthenticated

from web import client_ip, csrf_token

from ..auth.views import CODE_MESSAGES, GENERIC_FAILURE
from ..extensions import db, limit_posts
from ..forms import FreshForm, send_form, show_errors, submitted
from ..i18n import translate
from .forms import AddressForm, EmailCodeForm, EmailForm

bp = Blueprint("profile", __name__)
#: What the page shows is the same for everybody but the member's values (written escaped).
_INDEX = FreshForm(None, "member/profile/_index.html")
ADDRESS = "member/profile/address.html"
_ADDRESS_FORM = FreshForm(AddressForm, "member/profile/_address_form.html")


def _config():
    return current_app.extensions["mese_config"]


def _policy():
    return _config().sign_in_policy()


@bp.get("/mes-informations")
@login_required
def index():
    """Civilité - Prénom - Nom, Date de naissance, Adresse, Email, Numéro(s) de téléphone, with the guide's advice."""
    member = current_user
    phone = display_phone(member.mobile or "")
    return render_template("member/profile/index.html", content=_INDEX.fresh(
        texts={"civility": translate(member.civility.label), "first_name": member.first_name,
               "last_name": member.last_name.upper(), "birth_date": date_fr(member.birth_date),
               "address_line": member.address_line, "postcode": member.postcode, "city": member.city,
               "email": member.email, "phone": phone, "csrf": csrf_token()},
        has_address=bool(member.address_line), has_email=bool(member.email), has_phone=bool(phone)))


@bp.route("/mes-informations/adresse", methods=["GET", "POST"])
@login_required
@limit_posts(lambda: _config().limit_account_forms)
def address():
    """Modifier mon adresse (the form shows the member's address); on success, back to "Mes informations
    personnelles"."""
    member = current_user
    if not submitted():
        return render_template(ADDRESS, form=None, form_html=_ADDRESS_FORM.fresh(data={
            "address_line": member.address_line, "postcode": member.postcode, "city": member.city}))
    form = AddressForm()
    form.validate()  # CSRF only: every rule is checked by the model
    _changed, refusal = send_form(form, lambda: operations.change_address(
        db.session, member, form.to_input(), ip=client_ip(), now=utcnow()), fallback="address_line")
    if refusal is None:
        flash(_("Votre adresse a été modifiée."))
        return redirect(url_for(".index"), code=303)
    return render_template(ADDRESS, form=form, form_html=_ADDRESS_FORM.render(form))


@bp.route("/mes-informations/email", methods=["GET", "POST"])
@login_required
@limit_posts(lambda: _config().limit_codes)
def email():
    """Modifier mon adresse e-mail (after re-authentication): the new address, then the code sent to it."""
    member = current_user
    key = current_user.get_id()
    now = utcnow()
    form, code_form = EmailForm(prefix="new"), EmailCodeForm(prefix="check")
    pending = operations.pending_email_change(db.session, member, key, now)
    session_policy = _config().session_policy()
    fresh = reauthenticated(g.get("web_session"), policy=session_policy, now=now)
    if not fresh and not pending:
        return redirect(url_for(".index"))
    if "new-email" in request.form and form.validate_on_submit():
        try:
            operations.request_email_change(db.session, member, form.email.data or "", web_session=g.get("web_session"),
                                            web_session_key=key, session_policy=session_policy, policy=_policy(),
                                            ip=client_ip(), now=now)
        except ReauthenticationRequired:
            db.session.rollback()
            return redirect(url_for(".index"))
        except (DomainError, CodeNotSent) as exc:
            db.session.rollback()
            show_errors(form, {"email": [exc.message]}, fallback="email")
        else:
            db.session.commit()
            flash(_("Un code vous a été envoyé à votre nouvelle adresse e-mail."))
            return redirect(url_for(".email"), code=303)
    elif pending and "check-code" in request.form and code_form.validate_on_submit():
        outcome = operations.confirm_email_change(db.session, member, code_form.code.data or "", web_session_key=key,
                                                  policy=_policy(), ip=client_ip(), now=now)
        db.session.commit()
        if outcome is CodeCheck.OK:
            flash(_("Votre nouvelle adresse e-mail est enregistrée."))
            return redirect(url_for(".index"), code=303)
        if member.locked_at is not None:
            logout_user()
            flash(str(GENERIC_FAILURE), "error")
            return redirect(url_for("auth.login"))
        show_errors(code_form, {"code": [CODE_MESSAGES[outcome]]}, fallback="code")
    return render_template("member/profile/email.html", form=form, code_form=code_form, pending=pending,
                           can_change=fresh, code_minutes=_policy().code_minutes)
