"""Sign-in pages of the member area (first cut: member number and password)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import login_required, login_user, logout_user
from sqlalchemy import select

from models.members.entities import Member
from models.members.passwords import verify_password

from ..extensions import db, login_manager

bp = Blueprint("auth", __name__)


@login_manager.user_loader
def load_member(session_token: str) -> Member | None:
    """Find the signed-in member by the token kept in the session cookie."""
    return db.session.scalar(select(Member).where(Member.session_token == session_token))


@bp.route("/connexion", methods=["GET", "POST"])
def login():
    """ACCÉDER À VOTRE ESPACE PERSONNEL."""
    error = None
    if request.method == "POST":
        number = request.form.get("identifiant", "").strip()
        password = request.form.get("password", "")
        member = db.session.scalar(select(Member).where(Member.number == number))
        if verify_password(member.password_hash if member else None, password):
            session.clear()
            login_user(member)
            return redirect(url_for("home.index"))
        error = "Identifiant ou mot de passe incorrect."
    return render_template("member/auth/login.html", error=error)


@bp.post("/deconnexion")
@login_required
def logout():
    """End the session."""
    logout_user()
    session.clear()
    flash("Vous êtes déconnecté(e).")
    return redirect(url_for("auth.login"))
