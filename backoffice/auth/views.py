"""Sign-in pages of the back office: password, TOTP code, password change, sign-out."""

from __future__ import annotations

import time

import segno
from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from models.base import utcnow
from models.errors import DomainError, ValidationFailed
from models.staff.administration import (
    INVITATION_REFUSED, accept_invitation, begin_totp_enrolment, confirm_totp_enrolment, enrolment_refusal,
    find_invitation,
)
from models.sessions.entities import WebSession
from models.staff.entities import StaffUser
from models.staff.operations import (
    LOGIN_REFUSED_MESSAGE, StaffThrottle, authenticate_staff, change_staff_password, complete_staff_login,
    record_staff_logout, signed_in_staff, staff_throttle, verify_staff_totp,
)
from web import client_ip, note_session_activity

from ..extensions import current_config, db, limiter, login_manager
from .forms import EnrolmentForm, InvitationForm, LoginForm, PasswordChangeForm, TotpForm

bp = Blueprint("auth", __name__)

#: Session keys. ``_user_id`` (Flask-Login) holds the key of the server-side session.
PENDING_KEY = "staff_pending"
#: The staff member who proved their password (or just chose it) and must now enrol the authenticator app.
ENROL_KEY = "staff_enrol"
AUTH_COMPLETE_KEY = "auth_complete"
LAST_SEEN_KEY = "last_seen"
WRONG_CODE_MESSAGE = "Code incorrect ou déjà utilisé. Si vous venez de l'utiliser, attendez le code suivant."


@login_manager.user_loader
def load_staff(session_key: str) -> StaffUser | None:
    """The signed-in staff member, by the key of a live server-side session; inactive accounts are refused."""
    now = utcnow()
    found = signed_in_staff(db.session, session_key, session_policy=current_config().session_policy(), now=now)
    if found is None:
        return None
    user, g.web_session = found
    note_session_activity(db, g.web_session, now)
    return user


def current_web_session() -> WebSession | None:
    """The server-side session of this request (None when not signed in), read when asked for: a page reads
    only its id and last activity (``g.web_session``, a models.staff.operations.LiveSession)."""
    live = g.get("web_session") if current_user.is_authenticated else None
    return None if live is None else db.session.get(WebSession, live.id)


def staff_signed_in() -> bool:
    """True when an active staff member passed every sign-in step in this session."""
    return bool(current_user.is_authenticated and current_user.is_active and session.get(AUTH_COMPLETE_KEY))


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path of this application (never another site), else None."""
    if (target and target.startswith("/") and not target.startswith("//") and "\\" not in target
            and target.isprintable() and len(target) <= 500):
        return target
    return None


def _start_session(user: StaffUser, key: str, next_path: str | None):
    """Put the new server-side session in a fresh cookie (nothing of the previous one survives) and go on."""
    session.clear()
    user.web_session_key = key
    login_user(user)
    session[AUTH_COMPLETE_KEY] = True
    session[LAST_SEEN_KEY] = int(time.time())
    session.permanent = True
    target = safe_next(next_path)
    return redirect(request.script_root + target if target else url_for("admin.index"))


def _pending_user() -> StaffUser | None:
    """The staff member who gave a correct password and still has to type the code, if in time."""
    pending = session.get(PENDING_KEY)
    if not isinstance(pending, dict):
        return None
    if time.time() - pending.get("at", 0) > current_config().totp_step_minutes * 60:
        return None
    user = db.session.get(StaffUser, pending.get("id")) if isinstance(pending.get("id"), int) else None
    return user if user is not None and user.active else None


def _open(user: StaffUser, next_path: str | None):
    """Every factor passed: open the session and go on."""
    config = current_config()
    key = complete_staff_login(db.session, user, session_policy=config.session_policy(),
                               user_agent=request.user_agent.string, now=utcnow(), ip=client_ip())
    db.session.commit()
    return _start_session(user, key, next_path)


@bp.route("/connexion", methods=["GET", "POST"])
@limiter.limit(lambda: current_config().limit_signin, methods=["POST"])
def login():
    """Step 1: e-mail and password (one answer for every failure)."""
    if staff_signed_in():
        return redirect(url_for("admin.index"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        config = current_config()
        user = authenticate_staff(db.session, form.email.data, form.password.data,
                                  policy=config.sign_in_policy(), now=utcnow(), ip=client_ip())
        db.session.commit()
        if user is not None:
            next_path = safe_next(request.args.get("next"))
            if not config.require_totp:
                return _open(user, next_path)
            if not user.totp_secret:  # invited, or their app was reset by two admins: enrol it first
                error = enrolment_refusal(db.session, user, now=utcnow(), ip=client_ip())
                if error:
                    db.session.commit()
                    return render_template("backoffice/auth/login.html", form=form, error=error)
            session.clear()
            if not user.totp_secret:
                session[ENROL_KEY] = {"id": user.id, "at": int(time.time()), "next": next_path}
                return redirect(url_for("auth.enrol_totp"))
            session[PENDING_KEY] = {"id": user.id, "at": int(time.time()), "next": next_path}
            return redirect(url_for("auth.totp"))
        error = LOGIN_REFUSED_MESSAGE
    return render_template("backoffice/auth/login.html", form=form, error=error)


@bp.route("/connexion/code", methods=["GET", "POST"])
@limiter.limit(lambda: current_config().limit_signin, methods=["POST"])
def totp():
    """Step 2: the code of the authenticator app, accepted once."""
    user = _pending_user()
    if user is None:
        session.pop(PENDING_KEY, None)
        flash("Votre connexion a expiré : saisissez à nouveau votre e-mail et votre mot de passe.", "error")
        return redirect(url_for("auth.login"))
    form = TotpForm()
    error = None
    if form.validate_on_submit():
        policy, now = current_config().sign_in_policy(), utcnow()
        if verify_staff_totp(db.session, user, form.code.data, policy=policy, now=now, ip=client_ip()):
            return _open(user, session.get(PENDING_KEY, {}).get("next"))
        db.session.commit()
        if staff_throttle(user, policy, now) is StaffThrottle.LOCKED:
            session.clear()
            flash(LOGIN_REFUSED_MESSAGE, "error")
            return redirect(url_for("auth.login"))
        error = WRONG_CODE_MESSAGE
    return render_template("backoffice/auth/totp.html", form=form, error=error)


@bp.post("/deconnexion")
def logout():
    """End the session on the server (POST only, with the CSRF token): no copy of the cookie works after."""
    if current_user.is_authenticated:
        record_staff_logout(db.session, current_user, current_web_session(), now=utcnow(), ip=client_ip())
        db.session.commit()
    logout_user()
    session.clear()
    flash("Vous êtes déconnecté(e).", "info")
    return redirect(url_for("auth.login"))


@bp.route("/mot-de-passe", methods=["GET", "POST"])
@limiter.limit(lambda: current_config().limit_signin, methods=["POST"])
def change_password():
    """Choose a new password; required once the current one has expired. Wrong current passwords count."""
    if not staff_signed_in():
        return redirect(url_for("auth.login"))
    form = PasswordChangeForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        config = current_config()
        try:
            key = change_staff_password(db.session, user, current_password=form.current_password.data,
                                        new_password=form.new_password.data, confirmation=form.confirmation.data,
                                        policy=config.sign_in_policy(), session_policy=config.session_policy(),
                                        user_agent=request.user_agent.string, now=utcnow(), ip=client_ip())
        except ValidationFailed as exc:
            if "current_password" in exc.errors:
                db.session.commit()  # the wrong guess is counted and audited
            else:
                db.session.rollback()
            for name, messages in exc.errors.items():
                getattr(form, name).errors = list(messages)
        except DomainError as exc:
            db.session.commit()
            form.current_password.errors = [exc.message]
        else:
            db.session.commit()
            flash("Votre mot de passe a été modifié. Vos autres sessions ont été fermées.", "success")
            return _start_session(user, key, None)
        if staff_throttle(user, config.sign_in_policy(), utcnow()) is StaffThrottle.LOCKED:
            record_staff_logout(db.session, user, current_web_session(), now=utcnow(), ip=client_ip(),
                                reason="locked")
            db.session.commit()
            logout_user()
            session.clear()
            flash(LOGIN_REFUSED_MESSAGE, "error")
            return redirect(url_for("auth.login"))
    return render_template("backoffice/auth/password.html", form=form)


# ---------------------------------------------------------------------------------------------------------
# Invitation and enrolment of the authenticator app


@bp.route("/invitation/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_config().limit_signin, methods=["POST"])
def invitation(token: str):
    """An invited staff member chooses a password with the link e-mailed to them (single use, expiring)."""
    now = utcnow()
    if find_invitation(db.session, token, now=now) is None:
        return render_template("backoffice/auth/invitation.html", form=None, refused=INVITATION_REFUSED,
                               error=INVITATION_REFUSED), 404
    form = InvitationForm()
    if form.validate_on_submit():
        try:
            user = accept_invitation(db.session, token, password=form.new_password.data,
                                     confirmation=form.confirmation.data, now=now, ip=client_ip())
        except ValidationFailed as exc:
            db.session.rollback()
            for name, messages in exc.errors.items():
                getattr(form, name).errors = list(messages)
        except DomainError as exc:
            db.session.commit()
            return render_template("backoffice/auth/invitation.html", form=None, refused=exc.message,
                                   error=exc.message), 404
        else:
            db.session.commit()
            session.clear()
            session[ENROL_KEY] = {"id": user.id, "at": int(time.time()), "next": None}
            flash("Votre mot de passe est enregistré. Dernière étape : votre application d'authentification.",
                  "success")
            return redirect(url_for("auth.enrol_totp"))
    return render_template("backoffice/auth/invitation.html", form=form, refused=None)


def _enrolling_user() -> StaffUser | None:
    """The staff member who must enrol the authenticator app now (password proved a moment ago), if in time."""
    pending = session.get(ENROL_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > current_config().totp_step_minutes * 60:
        return None
    user = db.session.get(StaffUser, pending.get("id")) if isinstance(pending.get("id"), int) else None
    return user if user is not None and user.active and not user.totp_secret else None


@bp.route("/connexion/application", methods=["GET", "POST"])
@limiter.limit(lambda: current_config().limit_signin, methods=["POST"])
def enrol_totp():
    """Enrol the authenticator app (QR code and key), confirmed by its first code; then the session opens."""
    user = _enrolling_user()
    if user is None:
        session.pop(ENROL_KEY, None)
        flash("Votre connexion a expiré : saisissez à nouveau votre e-mail et votre mot de passe.", "error")
        return redirect(url_for("auth.login"))
    form = EnrolmentForm()
    error = None
    uri = begin_totp_enrolment(user)
    db.session.commit()
    if form.validate_on_submit():
        if confirm_totp_enrolment(db.session, user, form.code.data, now=utcnow(), ip=client_ip()):
            next_path = session.get(ENROL_KEY, {}).get("next")
            return _open(user, next_path)
        db.session.commit()
        error = WRONG_CODE_MESSAGE
    qr = segno.make(uri, error="m").svg_data_uri(scale=5, border=2)
    return render_template("backoffice/auth/enrolment.html", form=form, error=error, qr=qr,
                           secret=user.totp_pending_secret)
