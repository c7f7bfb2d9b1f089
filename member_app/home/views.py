"""Home page: the news banner, the procedures in direct access, the family's latest requests."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from models.base import utcnow
from models.content.queries import current_news
from models.formats import PARIS, date_fr
from models.requests.queries import family_requests, family_requests_reads
from models.requests.workflow import local_today

from .. import menu
from ..ahead import reads_ahead
from ..extensions import db
from ..i18n import translate
from ..layout import fill, part

bp = Blueprint("home", __name__)


def safe_link(url: str | None) -> str | None:
    """A staff-entered link if it is a web address or a path of this site; never ``javascript:`` and the like."""
    url = (url or "").strip()
    if url.startswith(("https://", "http://")) or (url.startswith("/") and not url.startswith("//")):
        return url
    return None


#: How many of the family's latest requests the home page lists before "Toutes mes demandes".
LATEST_REQUESTS = 5


@bp.get("/")
@login_required
@reads_ahead(lambda now: family_requests_reads(limit_per_type=LATEST_REQUESTS, limit=LATEST_REQUESTS))
def index():
    """Page d'accueil: menu bar, news banner, the twelve procedures in direct access, the latest requests."""
    today = local_today(utcnow())
    requests = family_requests(db.session, current_user.id, limit_per_type=LATEST_REQUESTS, limit=LATEST_REQUESTS)
    return render_template(
        "member/home/index.html",
        news=tuple(current_news(db.session, today)),
        collective=menu.collective(),
        requests=requests,
        rows=_request_rows(requests),
    )


def _request_rows(requests) -> Markup:
    """The lines of the latest requests: the line's part (drawn once per language and status) filled with each
    request's values, escaped."""
    lines = []
    for r in requests:
        what = translate(r.type_label)
        lines.append(fill(part("member/home/_request_row.html", status=r.status), {
            "reference": r.reference,
            "what": what if r.establishment_name is None else f"{what} · {r.establishment_name}",
            "person": r.beneficiary or "", "created_on": date_fr(r.created_at)}))
    return Markup("\n      ").join(lines)


bp.add_app_template_filter(date_fr, "date_fr")


@bp.app_template_filter("datetime_fr")
def datetime_fr(value: datetime | None) -> str:
    """An instant in French time: 10/01/2026 à 14h05 (10/01/2026 at 14:05 in English)."""
    if value is None:
        return ""
    local = value.astimezone(PARIS)
    return _("%(date)s à %(hour)sh%(minute)s", date=f"{local:%d/%m/%Y}", hour=f"{local:%H}", minute=f"{local:%M}")


@bp.app_template_filter("phone_fr")
def phone_fr(value: str | None) -> str:
    """A 10-digit French number in pairs: 04 76 00 00 00."""
    if value and len(value) == 10 and value.isdigit():
        return " ".join(value[i:i + 2] for i in range(0, 10, 2))
    return value or ""


bp.add_app_template_global(safe_link, "safe_link")
