"""Home page: the news banner, the procedures in direct access, the member's requests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import Blueprint, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from models.base import utcnow
from models.content.queries import current_news
from models.formats import PARIS, date_fr
from models.requests.queries import member_hospital_coverage_requests
from models.requests.workflow import local_today

from ..extensions import db

bp = Blueprint("home", __name__)


@dataclass(frozen=True)
class Tile:
    """A procedure in direct access; ``endpoint`` is None until its page exists."""

    label: str
    category: str
    endpoint: str | None = None


#: The menu bar's categories, with the anchors its links point to.
CATEGORIES = (
    ("informations", _l("Informations personnelles")),
    ("contact", _l("Contact/ dépôt de documents")),
    ("remboursements", _l("Mes remboursements")),
    ("services", _l("Services et outils")),
    ("retraite", _l("Futur(e) retraité(e)")),
)

#: "Vos démarches en accès direct", in the guide's order.
TILES = (
    Tile(_l("Dépôt de documents"), "contact"),
    Tile(_l("Contacter la mutuelle"), "contact"),
    Tile(_l("Ma carte Mutuelle"), "services"),
    Tile(_l("Mes remboursements"), "remboursements"),
    Tile(_l("Prévention santé"), "services"),
    Tile(_l("Mon assistance"), "services"),
    Tile(_l("Téléconsultation MaQuestionMédicale"), "services"),
    Tile(_l("Réseau Kalixia"), "services"),
    Tile(_l("Prise en charge hospitalière"), "contact", "hospital_coverage.new"),
    Tile(_l("Attestation"), "services"),
    Tile(_l("Documents contractuels"), "informations"),
    Tile(_l("Mon contrat /ma famille"), "informations"),
)

#: Pages listed under their category in "Toutes les rubriques" but not among the guide's tiles.
SECTION_LINKS = (
    Tile(_l("Modifier mon mot de passe"), "informations", "auth.change_password"),
    Tile(_l("Sécurité de mon compte (code SMS ou application)"), "informations", "auth.account_security"),
)


def safe_link(url: str | None) -> str | None:
    """A staff-entered link if it is a web address or a path of this site; never ``javascript:`` and the like."""
    url = (url or "").strip()
    if url.startswith(("https://", "http://")) or (url.startswith("/") and not url.startswith("//")):
        return url
    return None


@bp.get("/")
@login_required
def index():
    """Page d'accueil."""
    today = local_today(utcnow())
    return render_template(
        "member/home/index.html",
        news=current_news(db.session, today),
        tiles=TILES,
        section_links=TILES + SECTION_LINKS,
        categories=CATEGORIES,
        requests=member_hospital_coverage_requests(db.session, current_user, limit=10),
    )


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


@bp.app_context_processor
def _link_helpers() -> dict:
    return {"safe_link": safe_link}
