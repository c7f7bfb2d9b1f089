"""Mes sessions: where the signed-in staff member's account is open, with "Fermer cette session" on each."""

from __future__ import annotations

from flask import abort, flash, redirect, request, session, url_for
from flask_admin import expose
from flask_login import logout_user

from models.base import utcnow
from models.sessions.operations import live_sessions
from models.staff.operations import end_own_staff_session
from web import client_ip

from ..auth.views import current_web_session
from ..extensions import current_config, db
from .base import StaffBaseView, current_staff, primary_key


class OwnSessionsView(StaffBaseView):
    """Mes sessions ouvertes (every role, one's own sessions only)."""

    @expose("/")
    def index(self):
        found = live_sessions(db.session, staff_id=current_staff().id, policy=current_config().session_policy(),
                              now=utcnow())
        return self.render("backoffice/sessions.html", sessions=found, current_id=current_web_session().id)

    @expose("/fermer/", methods=("POST",))
    def end(self):
        session_id = primary_key(request.form.get("session_id", ""))
        current_id = current_web_session().id
        if session_id is None or not end_own_staff_session(db.session, current_staff(), session_id, now=utcnow(),
                                                           ip=client_ip()):
            abort(404)
        db.session.commit()
        if session_id == current_id:
            logout_user()
            session.clear()
            flash("Vous êtes déconnecté(e).", "info")
            return redirect(url_for("auth.login"))
        flash("La session a été fermée.", "success")
        return redirect(self.get_url(".index"))
