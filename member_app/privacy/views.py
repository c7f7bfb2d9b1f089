"""Consultations de mon dossier: the staff consultations of the family's file, newest first, by keyset pages."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from models.audit import queries

from ..ahead import reads_ahead
from ..extensions import db
from ..home.views import datetime_fr
from ..i18n import translate
from ..layout import fill_lines, part

bp = Blueprint("privacy", __name__)


@bp.get("/mon-compte/consultations")
@login_required
@reads_ahead(lambda now: queries.consultations_reads(cursor=queries.decode_cursor(request.args.get("apres"))))
def consultations():
    """Date and time, the staff member's role (never their name) and what was looked at, and why."""
    text = request.args.get("apres")
    cursor = queries.decode_cursor(text)
    if text and cursor is None:
        abort(400)
    page = queries.consultations(db.session, current_user.id, cursor=cursor)
    return render_template("member/privacy/consultations.html", page=page, paged=cursor is not None,
                           rows=fill_lines(part("member/privacy/_row.html"), (
                               {"at": datetime_fr(c.at), "role": translate(c.role), "what": translate(c.what)}
                               for c in page.rows)))
