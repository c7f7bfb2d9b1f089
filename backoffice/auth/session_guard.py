"""Checks run before every back-office request: idle timeout, then password expiry (the absolute lifetime
and ended sessions are checked on the server when the session is loaded)."""

from __future__ import annotations

import time

from flask import Flask, flash, redirect, request, session, url_for
from flask_login import current_user, logout_user

from models.base import utcnow
from models.sessions.operations import TOUCH_EVERY, SessionEnd
from models.staff.operations import record_staff_logout, staff_password_expired
from web import client_ip

from ..extensions import current_config, db
from .views import AUTH_COMPLETE_KEY, LAST_SEEN_KEY, current_web_session

#: Seconds between two writes of the last activity in the cookie (the server-side session's TOUCH_EVERY).
LAST_SEEN_EVERY = int(TOUCH_EVERY.total_seconds())
#: Pages reachable with an expired password: changing it, leaving, and static files.
OPEN_WITH_EXPIRED_PASSWORD = {"auth.change_password", "auth.logout", "auth.login", "static", "admin.static"}


def install(app: Flask) -> None:
    """Register the checks on ``app``."""
    app.before_request(_check_session)


def _check_session():
    if request.endpoint in ("static", "admin.static"):
        return None
    config = current_config()
    now = time.time()
    last_seen = session.get(LAST_SEEN_KEY)
    idle = isinstance(last_seen, int | float) and now - last_seen > config.session_idle_minutes * 60
    if not current_user.is_authenticated:
        return None
    if idle:
        record_staff_logout(db.session, current_user, current_web_session(), now=utcnow(), ip=client_ip(),
                            reason=SessionEnd.IDLE)
        db.session.commit()
        logout_user()
        session.clear()
        flash(f"Votre session a expiré après {config.session_idle_minutes} minutes d'inactivité. "
              "Veuillez vous reconnecter.", "error")
        return redirect(url_for("auth.login"))
    if not isinstance(last_seen, int | float) or now - last_seen >= LAST_SEEN_EVERY:
        # Written at most once a minute, as the server-side session's activity: an unchanged session's cookie is
        # not signed and sent again with every page. The idle sign-out may then come up to a minute early,
        # never late.
        session[LAST_SEEN_KEY] = int(now)
    if (session.get(AUTH_COMPLETE_KEY) and request.endpoint not in OPEN_WITH_EXPIRED_PASSWORD
            and staff_password_expired(current_user, now=utcnow(), max_age_days=config.staff_password_max_age_days)):
        flash("Votre mot de passe a expiré : choisissez-en un nouveau pour continuer.", "error")
        return redirect(url_for("auth.change_password"))
    return None
