"""The member area's menu bar by categories and the home page's shortcuts, as the guide draws them.

Labels and addresses are the same for every member of a language, so each is translated and built once per
language and kept; only the "Futur(e) retraité(e)" category depends on the member (collective contract).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app, request, url_for
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

from models.base import utcnow
from models.contracts.cover import has_collective_contract
from models.requests.workflow import local_today

from .extensions import db
from .i18n import current_language
from .layout import part


@dataclass(frozen=True)
class Link:
    """A page of the area, named with the guide's label."""

    label: object
    endpoint: str


@dataclass(frozen=True)
class Category:
    """A category of the menu bar and the pages it opens."""

    anchor: str
    label: object
    links: tuple[Link, ...]
    collective_only: bool = False


@dataclass(frozen=True)
class ShownLink:
    """A link ready for the page: translated label, address."""

    label: str
    url: str


@dataclass(frozen=True)
class ShownCategory:
    """A category ready for the page."""

    anchor: str
    label: str
    links: tuple[ShownLink, ...]
    collective_only: bool


#: The menu bar, by the guide's five categories, each with its procedures.
CATEGORIES = (
    Category("informations", _l("Informations personnelles"), (
        Link(_l("Mon contrat /ma famille"), "contracts.index"),
        Link(_l("Mes informations personnelles"), "profile.index"),
        Link(_l("Cotisations"), "contracts.contributions"),
        Link(_l("Coordonnées bancaires"), "contracts.bank_details"),
        Link(_l("Documents contractuels"), "publications.contractual"),
        Link(_l("Documents d'informations"), "publications.information"),
        Link(_l("Modifier mon mot de passe"), "auth.change_password"),
        Link(_l("Sécurité de mon compte (code SMS ou application)"), "auth.account_security"),
        Link(_l("Consultations de mon dossier"), "privacy.consultations"),
    )),
    Category("contact", _l("Contact/ dépôt de documents"), (
        Link(_l("Dépôt de documents"), "documents.new"),
        Link(_l("Contacter la mutuelle"), "contact.new"),
        Link(_l("Prise en charge hospitalière"), "hospital_coverage.new"),
        Link(_l("Mes demandes"), "my_requests.index"),
    )),
    Category("remboursements", _l("Mes remboursements"), (
        Link(_l("Mes remboursements"), "reimbursements.index"),
    )),
    Category("services", _l("Services et outils"), (
        Link(_l("Ma carte Mutuelle"), "card.card"),
        Link(_l("Attestation"), "card.certificate"),
        Link(_l("Téléconsultation MaQuestionMédicale"), "services.teleconsultation"),
        Link(_l("Rechercher un professionnel de santé"), "services.find_professional"),
        Link(_l("Mon assistance"), "services.assistance"),
        Link(_l("Réseau Kalixia"), "services.kalixia"),
        Link(_l("Prévention santé"), "services.prevention"),
    )),
    Category("retraite", _l("Futur(e) retraité(e)"), (
        Link(_l("Futur(e) retraité(e)"), "retirement.index"),
    ), collective_only=True),
)

#: "Vos démarches en accès direct": the guide's twelve shortcuts, in its order.
SHORTCUTS = (
    Link(_l("Dépôt de documents"), "documents.new"),
    Link(_l("Contacter la mutuelle"), "contact.new"),
    Link(_l("Ma carte Mutuelle"), "card.card"),
    Link(_l("Mes remboursements"), "reimbursements.index"),
    Link(_l("Prévention santé"), "services.prevention"),
    Link(_l("Mon assistance"), "services.assistance"),
    Link(_l("Téléconsultation MaQuestionMédicale"), "services.teleconsultation"),
    Link(_l("Réseau Kalixia"), "services.kalixia"),
    Link(_l("Prise en charge hospitalière"), "hospital_coverage.new"),
    Link(_l("Attestation"), "card.certificate"),
    Link(_l("Documents contractuels"), "publications.contractual"),
    Link(_l("Mon contrat /ma famille"), "contracts.index"),
)


def _shown(links: tuple[Link, ...]) -> tuple[ShownLink, ...]:
    return tuple(ShownLink(str(link.label), url_for(link.endpoint)) for link in links)


def _resolved(language: str) -> tuple[tuple[ShownCategory, ...], tuple[ShownLink, ...], frozenset[str]]:
    """The menu's categories, the shortcuts and the addresses of the menu's pages, in ``language``."""
    cache = current_app.extensions.setdefault("member_menu", {})
    if language not in cache:
        with force_locale(language):
            categories = tuple(ShownCategory(c.anchor, str(c.label), _shown(c.links), c.collective_only)
                               for c in CATEGORIES)
            urls = frozenset(link.url for c in categories for link in c.links)
            cache[language] = (categories, _shown(SHORTCUTS), urls)
    return cache[language]


def menu(collective: bool) -> tuple[ShownCategory, ...]:
    """The menu bar in the page's language; the future retirees' category only for a collective contract."""
    return tuple(c for c in _resolved(current_language())[0] if collective or not c.collective_only)


def shortcuts() -> tuple[ShownLink, ...]:
    """The home page's twelve shortcuts in the page's language."""
    return _resolved(current_language())[1]


def register(app) -> None:
    """Offer the menu to every template; the member's contract is read only when a page shows the menu."""
    app.jinja_env.globals.update(menu_bar=menu_bar, menu_categories=menu, menu_shortcuts=shortcuts)


def menu_bar() -> Markup:
    """The menu bar of the signed-in member's page, its link to this page marked (drawn once per language,
    contract kind and page of the bar: member_app/layout.py)."""
    path = request.path
    current = path if path in _resolved(current_language())[2] else ""
    return part("member/_menu_bar.html", collective=collective(), current=current)


def collective() -> bool:
    """Whether the signed-in member holds a collective contract (the menu shows the future retirees' pages)."""
    # Read with the sign-in check (models.members.security.signed_in_member): no query of its own.
    holds = current_user.holds_collective_contract
    if holds is None:
        holds = current_user.holds_collective_contract = has_collective_contract(
            db.session, current_user, local_today(utcnow()))
    return holds
