"""Sign-in pages: login with captcha, second factor, activation, forgotten password, change, terms, security."""

from __future__ import annotations

import hmac
import re
import secrets
import time

import segno
from flask import Blueprint, abort, current_app, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user

from models.audit.operations import record
from models.base import utcnow
from models.errors import DomainError
from models.formats import display_phone
from models.members import security
from models.members.activation import (ActivationRequest, InvalidLink, begin_password_reset, count_reset_code_failure,
                                       finish_password_reset, pending_digest, pending_reset, request_activation,
                                       request_password_reset, valid_reset_token)
from models.members.entities import CodePurpose, Member, SecondFactor
from models.members.passwords import SPECIAL_CHARACTERS_DISPLAY, PasswordRejected
from models.members.security import (CodeCheck, CodeNotSent, MobileRefused, ReauthenticationRequired, Throttle,
                                     WrongCurrentPassword)
from models.sessions.operations import live_sessions, reauthenticated
from web import client_ip, link_base_url, note_session_activity

from ..ahead import page_reads
from ..config import MemberAppConfig
from ..extensions import db, limit_posts, limiter, login_manager
from ..i18n import remember_language, translate
from .forms import (ActivationForm, ChangePasswordForm, CodeForm, ForgotPasswordForm, LoginForm, MobileCodeForm,
                    MobileForm, NewPasswordForm, ReauthenticationForm, TermsForm)

bp = Blueprint("auth", __name__)

#: Key of the Flask session holding a sign-in whose second factor is still to come.
PENDING = "signin"
#: Endpoints a signed-in member may reach while a step (expired password, terms) is pending.
ALWAYS_OPEN = {"auth.logout", "auth.captcha_challenge"}
GENERIC_FAILURE = _l("Identifiant ou mot de passe incorrect, ou accès temporairement suspendu après plusieurs "
                     "erreurs.")
CODE_MESSAGES = {
    CodeCheck.WRONG: _l("Code incorrect. Vérifiez les 6 chiffres et réessayez."),
    CodeCheck.EXPIRED: _l("Ce code a expiré : demandez un nouveau code."),
    CodeCheck.EXHAUSTED: _l("Trop d'essais pour ce code : demandez un nouveau code."),
    CodeCheck.MISSING: _l("Aucun code valable pour cette connexion : demandez un nouveau code."),
    CodeCheck.REPLAYED: _l("Ce code a déjà servi : attendez le code suivant de votre application."),
}
_IDENTIFIER_COOKIE = re.compile(r"[0-9A-Za-z]{1,20}")


def _config() -> MemberAppConfig:
    return current_app.extensions["mese_config"]


def _policy() -> security.SignInPolicy:
    return _config().sign_in_policy()


def _identifier_key() -> str:
    return "signin-id:" + security.canonical_identifier(request.form.get("identifiant", "")).lower()


def _public_url(endpoint: str, **values) -> str:
    """An absolute link for e-mails: PUBLIC_URL, else the request's host only if it is an allowed host."""
    config = _config()
    return link_base_url(config.public_url, config.allowed_hosts) + url_for(endpoint, **values)


@login_manager.user_loader
def load_member(session_key: str) -> Member | None:
    """The signed-in member, by the key of a live server-side session; a locked account has no session."""
    now = g.request_now = utcnow()
    found = security.signed_in_member(db.session, session_key, session_policy=_config().session_policy(), now=now,
                                      ahead=page_reads(now))
    if found is None:
        g.session_refused = True
        return None
    member, g.web_session = found
    note_session_activity(db, g.web_session, now)
    return member


def _web_session():
    """The server-side session of this request, as a mapped object to change it (None when not signed in)."""
    if not current_user.is_authenticated:
        return None
    found = g.get("web_session")
    if isinstance(found, security.SignedInSession):  # what the sign-in check read: made a mapped object once
        found = g.web_session = security.session_entity(db.session, found)
    return found


# ---------------------------------------------------------------------------------------------------------
# Session helpers


def _fresh_session() -> None:
    """Drop everything in the session but the language: a new session starts at each sign-in step."""
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang


def _begin_pending(member: Member, via: str) -> dict:
    _fresh_session()
    session[PENDING] = {"member": member.id, "stamp": security.sign_in_stamp(member),
                        "attempt": secrets.token_urlsafe(32), "at": time.time(), "via": via, "mobile": False}
    return session[PENDING]


def _sign_in(member: Member, key: str) -> None:
    """Put the new server-side session's key in a fresh cookie session."""
    auth_complete = session.get("auth_complete")
    _fresh_session()
    member.web_session_key = key
    login_user(member)
    session.permanent = True
    if auth_complete:
        session["auth_complete"] = auth_complete


def _pending() -> tuple[Member, dict] | tuple[None, None]:
    data = session.get(PENDING)
    if not data or time.time() - data.get("at", 0) > _config().signin_pending_minutes * 60:
        return None, None
    member = db.session.get(Member, data.get("member"))
    # A reset confirmed by its second factor is what lifts the lock: only that sign-in may go on while locked.
    locked_out = member is not None and member.locked_at is not None and not data.get("reset")
    if member is None or locked_out or \
            not hmac.compare_digest(security.sign_in_stamp(member), data.get("stamp", "")):
        return None, None
    return member, data


def _pending_expired():
    _fresh_session()
    flash(_("Votre connexion n'a pas abouti à temps ou a été interrompue : reconnectez-vous."), "error")
    return redirect(url_for(".login"))


def _next_step(member: Member) -> str | None:
    """The endpoint of what a signed-in member must still do before anything else."""
    now = utcnow()
    if security.password_expired(member, _policy(), now):
        return "auth.change_password"
    if security.terms_to_accept(db.session, member, now) is not None:
        return "auth.terms"
    return None


def _continue():
    step = _next_step(current_user)
    if step is None:
        session["auth_complete"] = True
        return redirect(url_for("home.index"))
    return redirect(url_for(step))


@bp.before_app_request
def enforce_sign_in_steps():
    """A session ended on the server (expired, signed out elsewhere) is dropped; then an expired password or
    new terms come before any other page."""
    endpoint = request.endpoint
    if endpoint == "static":
        return None
    if "_user_id" in session and not current_user.is_authenticated and g.get("session_refused"):
        _fresh_session()
        flash(_("Votre session a expiré : reconnectez-vous."), "error")
        return redirect(url_for("auth.login"))
    if endpoint is None or endpoint in ALWAYS_OPEN or not current_user.is_authenticated:
        return None
    if session.get("auth_complete"):
        return None
    step = _next_step(current_user)
    if step is None:
        session["auth_complete"] = True
        return None
    if endpoint != step:
        return redirect(url_for(step))
    return None


# ---------------------------------------------------------------------------------------------------------
# Captcha


def _captcha_ok() -> bool:
    config = _config()
    if not config.captcha_enabled:
        return True
    ok = security.verify_captcha(db.session, request.form.get("altcha", ""), secret=config.captcha_secret,
                                 now=utcnow())
    if not ok:
        record(db.session, "signin.captcha_failed", actor_type="anonymous", ip=client_ip(), endpoint=request.endpoint)
    return ok


CAPTCHA_ERROR = _l("Cochez « Je ne suis pas un robot » et attendez la fin de la vérification.")


@bp.get("/altcha/challenge")
@limiter.limit(lambda: _config().limit_captcha)
def captcha_challenge():
    """A fresh proof-of-work challenge for the "Je ne suis pas un robot" widget."""
    config = _config()
    response = jsonify(security.captcha_challenge(config.captcha_secret, policy=_policy(), now=utcnow()))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.record_once
def _auth_globals(state) -> None:
    # Settings of the app, the same on every page: template globals rather than a context processor run on each.
    config = state.app.extensions["mese_config"]
    state.app.jinja_env.globals.update(captcha_enabled=config.captcha_enabled,
                                       special_characters=SPECIAL_CHARACTERS_DISPLAY,
                                       password_max_age_days=config.models.password_max_age_days)


# ---------------------------------------------------------------------------------------------------------
# Log in and second factor


def _identifier_cookie_name() -> str:
    return "__Host-mese-identifiant" if _config().cookie_secure else "mese-identifiant"


def _remember_identifier(response, form: LoginForm) -> None:
    config = _config()
    number = security.canonical_identifier(form.identifiant.data)
    if form.remember.data and _IDENTIFIER_COOKIE.fullmatch(number):
        response.set_cookie(_identifier_cookie_name(), number, max_age=config.remember_login_days * 86400,
                            secure=config.cookie_secure, httponly=True, samesite="Lax", path="/")
    else:
        response.delete_cookie(_identifier_cookie_name(), path="/", secure=config.cookie_secure, httponly=True,
                               samesite="Lax")


def _start_second_factor(member: Member, pending: dict) -> str:
    """Send the SMS code (or skip to the app code, or to the mobile page); return where to go."""
    if member.second_factor is SecondFactor.TOTP:
        return url_for(".second_factor")
    if not (member.mobile and member.mobile_verified):
        return url_for(".mobile")
    try:
        security.send_code(db.session, member, attempt=pending["attempt"], purpose=CodePurpose.LOGIN,
                           destination=member.mobile, policy=_policy(), ip=client_ip(), now=utcnow())
    except CodeNotSent as exc:
        flash(translate(exc.message), "error")
    return url_for(".second_factor")


@bp.route("/connexion", methods=["GET", "POST"])
@limit_posts(lambda: _config().limit_signin)
@limit_posts(lambda: _config().limit_signin_identifier, key_func=_identifier_key)
def login():
    """ACCÉDER À VOTRE ESPACE PERSONNEL: identifiant, mot de passe, captcha, then the second factor."""
    if current_user.is_authenticated:
        return _continue()
    form = LoginForm()
    error = captcha_error = None
    if request.method == "GET":
        remembered = request.cookies.get(_identifier_cookie_name(), "")
        if _IDENTIFIER_COOKIE.fullmatch(remembered):
            form.identifiant.data, form.remember.data = remembered, True
    elif form.is_submitted():
        # The captcha is checked with the fields, so that every error shows at once.
        captcha_ok = _captcha_ok()
        captcha_error = None if captcha_ok else CAPTCHA_ERROR
        if form.validate() and captcha_ok:
            member = security.check_password(db.session, form.identifiant.data, form.password.data,
                                             policy=_policy(), ip=client_ip(), now=utcnow())
            if member is not None:
                pending = _begin_pending(member, via="password")
                response = redirect(_start_second_factor(member, pending))
                db.session.commit()
                _remember_identifier(response, form)
                return response
            error = GENERIC_FAILURE
        db.session.commit()
    return render_template("member/auth/login.html", form=form, error=error, captcha_error=captcha_error)


@bp.route("/connexion/code", methods=["GET", "POST"])
@limit_posts(lambda: _config().limit_codes)
def second_factor():
    """2nd security: the 6-digit code, by SMS (or from the authenticator app)."""
    member, pending = _pending()
    if member is None:
        return _pending_expired()
    purpose = CodePurpose.MOBILE if pending.get("mobile") else CodePurpose.LOGIN
    use_app = member.second_factor is SecondFactor.TOTP
    if use_app and purpose is CodePurpose.MOBILE:
        return _pending_expired()  # an authenticator-app account never confirms a mobile to sign in
    if purpose is CodePurpose.LOGIN and not use_app and not (member.mobile and member.mobile_verified):
        return redirect(url_for(".mobile"))
    email_code = purpose is CodePurpose.MOBILE and security.mobile_needs_email_code(db.session, member,
                                                                                    pending["attempt"])
    form = MobileCodeForm() if email_code else CodeForm()
    error = None
    if form.validate_on_submit():
        policy, now, ip = _policy(), utcnow(), client_ip()
        reset = pending.get("reset")
        token = pending_reset(db.session, reset, pending.get("reset_digest", ""), now) if reset else None
        if reset and token is None:
            return _reset_link_gone()
        if token is None and security.throttle(member, policy, now) is not Throttle.OPEN:
            error = _("Trop d'essais : patientez quelques minutes avant de réessayer.")
        else:
            if use_app:
                outcome = security.check_totp(db.session, member, form.code.data, policy=policy, ip=ip, now=now)
            else:
                outcome = security.check_code(db.session, member, form.code.data, attempt=pending["attempt"],
                                              purpose=purpose, policy=policy, ip=ip, now=now,
                                              email_code=form.email_code.data if email_code else "")
            if outcome is CodeCheck.OK:
                if reset:
                    finish_password_reset(db.session, reset, pending["reset_digest"], ip=ip, now=now)
                key = security.complete_sign_in(db.session, member, method="totp" if use_app else "sms",
                                                via=pending["via"], session_policy=_config().session_policy(),
                                                user_agent=request.user_agent.string, ip=ip, now=now)
                db.session.commit()
                _sign_in(member, key)
                remember_language(member)
                if reset:
                    flash(_("Votre mot de passe est enregistré."))
                return _continue()
            if token is not None:
                if outcome is CodeCheck.WRONG and not count_reset_code_failure(token, policy=policy, now=now):
                    db.session.commit()
                    return _reset_link_gone()
            elif member.locked_at is not None:
                db.session.commit()
                _fresh_session()
                flash(str(GENERIC_FAILURE), "error")
                return redirect(url_for(".login"))
            error = CODE_MESSAGES[outcome]
        db.session.commit()
    destination = member.mobile
    if purpose is CodePurpose.MOBILE:
        destination = security.pending_mobile(db.session, member, pending["attempt"])
    _field_error(form.code, error)
    return render_template("member/auth/second_factor.html", form=form, use_app=use_app,
                           purpose=purpose.value, masked_mobile=security.mask_mobile(destination),
                           email_code=email_code, masked_email=security.masked_email(member),
                           code_minutes=_config().sms_code_minutes)


def _field_error(field, message) -> None:
    """Show ``message`` (a refusal of the rules) next to ``field``, after the field's own errors."""
    if message:
        field.errors = [*field.errors, message]


def _reset_link_gone():
    """The reset being confirmed can no longer be: its link expired, was replaced or had too many wrong codes."""
    _fresh_session()
    return render_template("member/auth/link_invalid.html"), 410


@bp.post("/connexion/code/nouveau")
@limiter.limit(lambda: _config().limit_code_sends)
def resend_code():
    """Recevoir un nouveau code (the previous one stops working)."""
    member, pending = _pending()
    if member is None:
        return _pending_expired()
    if pending.get("mobile"):
        return redirect(url_for(".mobile"))
    if member.mobile and member.mobile_verified and member.second_factor is not SecondFactor.TOTP:
        try:
            security.send_code(db.session, member, attempt=pending["attempt"], purpose=CodePurpose.LOGIN,
                               destination=member.mobile, policy=_policy(), ip=client_ip(), now=utcnow())
            flash(_("Un nouveau code vous a été envoyé par SMS."))
        except CodeNotSent as exc:
            flash(translate(exc.message), "error")
        db.session.commit()
    return redirect(url_for(".second_factor"))


@bp.route("/connexion/mobile", methods=["GET", "POST"])
@limit_posts(lambda: _config().limit_code_sends)
def mobile():
    """No mobile on file: the member enters one, which a code by SMS confirms, and for a number other than the
    one on file, a code sent to the e-mail address on file too."""
    member, pending = _pending()
    if member is None:
        return _pending_expired()
    if member.second_factor is SecondFactor.TOTP or (member.mobile and member.mobile_verified
                                                     and not pending.get("mobile")):
        return redirect(url_for(".second_factor"))
    form = MobileForm()
    error = None
    if request.method == "GET" and member.mobile:
        form.mobile.data = display_phone(member.mobile)
    if form.validate_on_submit():
        try:
            security.request_mobile_confirmation(db.session, member, form.mobile.data, attempt=pending["attempt"],
                                                 policy=_policy(), ip=client_ip(), now=utcnow())
        except (CodeNotSent, MobileRefused) as exc:
            db.session.rollback()
            error = translate(exc.message)
        else:
            pending["mobile"] = True
            session.modified = True
            db.session.commit()
            return redirect(url_for(".second_factor"))
    _field_error(form.mobile, error)
    return render_template("member/auth/mobile.html", form=form)


@bp.post("/deconnexion")
def logout():
    """Se déconnecter: this session ends on the server, and so does every copy of its cookie."""
    if current_user.is_authenticated:
        member = db.session.get(Member, current_user.id)
        security.sign_out(db.session, member, _web_session(), ip=client_ip(), now=utcnow())
        db.session.commit()
        logout_user()
    _fresh_session()
    flash(_("Vous êtes déconnecté(e)."))
    response = redirect(url_for(".login"))
    response.headers["Clear-Site-Data"] = '"cache"'
    return response


# ---------------------------------------------------------------------------------------------------------
# Activation and forgotten password


@bp.route("/activation", methods=["GET", "POST"])
@limit_posts(lambda: _config().limit_account_forms)
def activation():
    """Activation de votre espace: the login ID goes by e-mail to the address on file, if the identity matches."""
    form = ActivationForm()
    captcha_error = None
    if form.is_submitted():
        login_url = _public_url(".login")
        captcha_ok = _captcha_ok()
        if form.validate() and captcha_ok:
            request_activation(db.session, ActivationRequest(
                last_name=form.last_name.data, first_name=form.first_name.data, birth_date=form.birth_date.data,
                nir=form.nir.data), login_url=login_url, ip=client_ip(), now=utcnow())
            db.session.commit()
            return redirect(url_for(".activation_sent"))
        captcha_error = None if captcha_ok else CAPTCHA_ERROR
        db.session.commit()
    return render_template("member/auth/activation.html", form=form, captcha_error=captcha_error)


@bp.get("/activation/envoyee")
def activation_sent():
    """The one answer of the activation form, whoever asked."""
    return render_template("member/auth/activation_sent.html")


@bp.route("/mot-de-passe-oublie", methods=["GET", "POST"])
@limit_posts(lambda: _config().limit_account_forms)
@limit_posts(lambda: _config().limit_account_forms, key_func=_identifier_key)
def forgot_password():
    """Mot de passe oublié (ou expiré, ou jamais défini): a single-use link by e-mail."""
    form = ForgotPasswordForm()
    captcha_error = None
    if form.is_submitted():
        base = link_base_url(_config().public_url, _config().allowed_hosts)  # 400 now, whoever is asked for
        captcha_ok = _captcha_ok()
        if form.validate() and captcha_ok:
            config = _config()
            request_password_reset(db.session, form.identifiant.data,
                                   make_link=lambda token: base + url_for(".reset_password", token=token),
                                   valid_minutes=config.reset_link_minutes, ip=client_ip(), now=utcnow())
            db.session.commit()
            return redirect(url_for(".forgot_password_sent"))
        captcha_error = None if captcha_ok else CAPTCHA_ERROR
        db.session.commit()
    return render_template("member/auth/forgot_password.html", form=form, captcha_error=captcha_error)


@bp.get("/mot-de-passe-oublie/envoye")
def forgot_password_sent():
    """The one answer of the forgotten-password form, whoever asked."""
    return render_template("member/auth/forgot_password_sent.html", minutes=_config().reset_link_minutes)


@bp.route("/mot-de-passe/nouveau/<token>", methods=["GET", "POST"], endpoint="reset_password")
@limit_posts(lambda: _config().limit_account_forms)
def reset_password_page(token: str):
    """Choose a new password from the e-mailed link; it is set only once the second factor succeeds."""
    now = utcnow()
    if valid_reset_token(db.session, token, now) is None:
        return render_template("member/auth/link_invalid.html"), 410
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            reset = begin_password_reset(db.session, token, form.new_password.data, ip=client_ip(), now=now)
        except InvalidLink:
            db.session.commit()
            return render_template("member/auth/link_invalid.html"), 410
        except PasswordRejected as exc:
            form.new_password.errors = [translate(problem) for problem in exc.problems]
        else:
            member = db.session.get(Member, reset.member_id)
            pending = _begin_pending(member, via="reset")
            pending.update(reset=reset.id, reset_digest=pending_digest(reset))
            target = _start_second_factor(member, pending)
            db.session.commit()
            flash(_("Pour enregistrer votre nouveau mot de passe, confirmez votre identité avec le code "
                    "à 6 chiffres."))
            return redirect(target)
    return render_template("member/auth/reset_password.html", form=form)


# ---------------------------------------------------------------------------------------------------------
# Signed-in pages: password change, terms, security of the sign-in


@bp.route("/mon-compte/mot-de-passe", methods=["GET", "POST"])
@login_required
@limit_posts(lambda: _config().limit_signin)
def change_password():
    """Modifier mon mot de passe (also where an expired password is replaced before anything else)."""
    member = db.session.get(Member, current_user.id)
    expired = security.password_expired(member, _policy(), utcnow())
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            key = security.change_password(db.session, member, form.current_password.data, form.new_password.data,
                                           policy=_policy(), session_policy=_config().session_policy(),
                                           user_agent=request.user_agent.string, ip=client_ip(), now=utcnow())
        except WrongCurrentPassword as exc:
            db.session.commit()
            if member.locked_at is not None:
                logout_user()
                _fresh_session()
                flash(str(GENERIC_FAILURE), "error")
                return redirect(url_for(".login"))
            form.current_password.errors = [translate(exc.message)]
        except PasswordRejected as exc:
            db.session.rollback()
            form.new_password.errors = [translate(problem) for problem in exc.problems]
        else:
            db.session.commit()
            _sign_in(member, key)  # this browser gets a new session; all others have ended
            flash(_("Votre mot de passe a été modifié. Vos autres sessions ont été fermées."))
            return _continue()
    return render_template("member/auth/change_password.html", form=form, expired=expired)


@bp.route("/conditions-generales", methods=["GET", "POST"])
@login_required
def terms():
    """The terms of use in force, to accept before anything else."""
    member = db.session.get(Member, current_user.id)
    now = utcnow()
    version = security.current_terms(db.session, now)
    if version is None:
        return _continue()
    form = TermsForm()
    if form.validate_on_submit():
        security.accept_terms(db.session, member, version, ip=client_ip(), now=now)
        db.session.commit()
        return _continue()
    return render_template("member/auth/terms.html", form=form, terms=version,
                           accepted=member.accepted_terms_id == version.id)


@bp.get("/mon-compte/securite")
@login_required
def account_security():
    """Sécurité de la connexion: SMS code or authenticator app, mobile number, open sessions."""
    member = db.session.get(Member, current_user.id)
    return render_template("member/auth/security.html", member=member, form=CodeForm(),
                           masked_mobile=security.mask_mobile(member.mobile if member.mobile_verified else None))


#: The changes of the second factor, and of the e-mail address, that need the password and a code again
#: (ASVS 7.5.1).
REAUTH_CHANGES = ("application", "sms", "mobile", "email")


def _start_reauthentication(change: str):
    """Before a change of the second factor: send a code by SMS (app users type theirs), ask password and code."""
    member = db.session.get(Member, current_user.id)
    if reauthenticated(_web_session(), policy=_config().session_policy(), now=utcnow()):
        return _after_reauthentication(member, change)
    if member.second_factor is not SecondFactor.TOTP:
        try:
            security.send_reauthentication_code(db.session, member, web_session_key=current_user.get_id(),
                                                policy=_policy(), ip=client_ip(), now=utcnow())
            db.session.commit()
        except CodeNotSent as exc:
            db.session.rollback()
            flash(translate(exc.message), "error")
    return redirect(url_for(".reauthenticate", change=change))


def _after_reauthentication(member: Member, change: str):
    """Carry out the change the member confirmed their identity for."""
    now, ip = utcnow(), client_ip()
    if change == "application":
        if member.second_factor is not SecondFactor.TOTP:
            security.begin_totp_enrolment(db.session, member, now=now)
            db.session.commit()
        return redirect(url_for(".totp_enrolment"))
    if change == "sms":
        security.disable_totp(db.session, member, web_session=_web_session(),
                              session_policy=_config().session_policy(), ip=ip, now=now)
        db.session.commit()
        flash(_("Vous recevrez désormais le code de connexion par SMS."))
        return redirect(url_for(".account_security"))
    if change == "email":
        return redirect(url_for("profile.email"))
    return redirect(url_for(".mobile_change"))


@bp.post("/mon-compte/securite/application/nouvelle")
@login_required
@limiter.limit(lambda: _config().limit_code_sends)
def totp_start():
    """Start using an authenticator app: first the password and a code again, then the new app."""
    return _start_reauthentication("application")


@bp.post("/mon-compte/securite/sms")
@login_required
@limiter.limit(lambda: _config().limit_code_sends)
def totp_disable():
    """Go back to SMS codes: the password and a code of the authenticator app again."""
    return _start_reauthentication("sms")


@bp.post("/mon-compte/securite/mobile/nouveau")
@login_required
@limiter.limit(lambda: _config().limit_code_sends)
def mobile_change_start():
    """Receive the codes on another mobile: the password and a code of the current factor again."""
    return _start_reauthentication("mobile")


@bp.post("/mon-compte/securite/email/nouveau")
@login_required
@limiter.limit(lambda: _config().limit_code_sends)
def email_change_start():
    """Change the e-mail address (Mes informations personnelles): the password and a code again first."""
    return _start_reauthentication("email")


@bp.route("/mon-compte/securite/confirmer/<change>", methods=["GET", "POST"])
@login_required
@limit_posts(lambda: _config().limit_codes)
def reauthenticate(change: str):
    """Confirmez votre identité: the password and a code of the current second factor, before a change."""
    if change not in REAUTH_CHANGES:
        abort(404)
    member = db.session.get(Member, current_user.id)
    form = ReauthenticationForm()
    error = None
    if form.validate_on_submit():
        outcome = security.reauthenticate(db.session, member, _web_session(), form.password.data, form.code.data,
                                          web_session_key=current_user.get_id(), policy=_policy(), ip=client_ip(),
                                          now=utcnow())
        if outcome is CodeCheck.OK:
            db.session.commit()
            return _after_reauthentication(member, change)
        db.session.commit()
        if member.locked_at is not None:
            logout_user()
            _fresh_session()
            flash(str(GENERIC_FAILURE), "error")
            return redirect(url_for(".login"))
        error = _("Mot de passe ou code incorrect.")
    use_app = member.second_factor is SecondFactor.TOTP
    return render_template("member/auth/reauthenticate.html", form=form, error=error, change=change, use_app=use_app,
                           masked_mobile=security.mask_mobile(member.mobile), code_minutes=_config().sms_code_minutes)


@bp.route("/mon-compte/securite/application", methods=["GET", "POST"])
@login_required
@limit_posts(lambda: _config().limit_codes)
def totp_enrolment():
    """Use an authenticator app: scan the QR code, then type the code it shows."""
    member = db.session.get(Member, current_user.id)
    if member.second_factor is SecondFactor.TOTP or not member.totp_secret:
        return redirect(url_for(".account_security"))
    if not reauthenticated(_web_session(), policy=_config().session_policy(), now=utcnow()):
        return redirect(url_for(".account_security"))
    form = CodeForm()
    error = None
    if form.validate_on_submit():
        if security.confirm_totp_enrolment(db.session, member, form.code.data, web_session=_web_session(),
                                           session_policy=_config().session_policy(), ip=client_ip(),
                                           now=utcnow()):
            db.session.commit()
            flash(_("Votre application d'authentification est activée : elle remplace désormais le code par SMS."))
            return redirect(url_for(".account_security"))
        db.session.commit()
        error = _("Code incorrect. Saisissez le code affiché par votre application, sans attendre qu'il change.")
    uri = security.totp_uri(member)
    qr = segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
    _field_error(form.code, error)
    return render_template("member/auth/totp_enrolment.html", form=form, qr=qr,
                           secret=member.totp_secret)


@bp.route("/mon-compte/securite/mobile", methods=["GET", "POST"])
@login_required
@limit_posts(lambda: _config().limit_code_sends)
def mobile_change():
    """Changer de numéro de mobile (after re-authentication): the new number, then the code sent to it."""
    member = db.session.get(Member, current_user.id)
    if not reauthenticated(_web_session(), policy=_config().session_policy(), now=utcnow()):
        return redirect(url_for(".account_security"))
    key = current_user.get_id()
    pending = security.pending_mobile_change(db.session, member, key)
    form, code_form = MobileForm(prefix="new"), CodeForm(prefix="check")
    if "new-mobile" in request.form and form.validate_on_submit():
        try:
            security.request_mobile_change(db.session, member, form.mobile.data, web_session=_web_session(),
                                           web_session_key=key, session_policy=_config().session_policy(),
                                           policy=_policy(), ip=client_ip(), now=utcnow())
        except CodeNotSent as exc:
            db.session.rollback()
            _field_error(form.mobile, translate(exc.message))
        else:
            db.session.commit()
            return redirect(url_for(".mobile_change"))
    elif pending and "check-code" in request.form and code_form.validate_on_submit():
        outcome = security.check_code(db.session, member, code_form.code.data, attempt=key,
                                      purpose=CodePurpose.MOBILE_CHANGE, policy=_policy(), ip=client_ip(),
                                      now=utcnow())
        db.session.commit()
        if outcome is CodeCheck.OK:
            flash(_("Votre nouveau numéro de mobile est enregistré : il recevra désormais vos codes de connexion."))
            return redirect(url_for(".account_security"))
        if member.locked_at is not None:
            logout_user()
            _fresh_session()
            flash(str(GENERIC_FAILURE), "error")
            return redirect(url_for(".login"))
        _field_error(code_form.code, CODE_MESSAGES[outcome])
    return render_template("member/auth/mobile_change.html", form=form, code_form=code_form,
                           masked_mobile=security.mask_mobile(pending), code_minutes=_config().sms_code_minutes)


@bp.get("/mon-compte/securite/sessions")
@login_required
def sessions():
    """Mes sessions ouvertes: where the account is signed in, with "Fermer cette session" on each."""
    found = live_sessions(db.session, member_id=current_user.id, policy=_config().session_policy(), now=utcnow())
    return render_template("member/auth/sessions.html", sessions=found, current_id=_web_session().id,
                           form=CodeForm())


@bp.post("/mon-compte/securite/sessions/<int:session_id>/fermer")
@login_required
def end_session(session_id: int):
    """Fermer cette session (this one included: then the member is signed out here)."""
    member = db.session.get(Member, current_user.id)
    current = _web_session().id
    if not security.end_own_session(db.session, member, session_id, ip=client_ip(), now=utcnow()):
        abort(404)
    db.session.commit()
    if session_id == current:
        logout_user()
        _fresh_session()
        flash(_("Vous êtes déconnecté(e)."))
        return redirect(url_for(".login"))
    flash(_("La session a été fermée."))
    return redirect(url_for(".sessions"))


@bp.errorhandler(ReauthenticationRequired)
def _reauthentication_required(exc: ReauthenticationRequired):
    flash(translate(exc.message), "error")
    return redirect(url_for("auth.account_security"))


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError):
    flash(translate(exc.message), "error")
    return redirect(url_for("home.index"))
