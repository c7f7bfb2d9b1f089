"""Home page (first cut)."""

from flask import Blueprint, render_template
from flask_login import login_required

bp = Blueprint("home", __name__)


@bp.get("/")
@login_required
def index():
    """Page d'accueil."""
    return render_template("member/home/index.html")
