"""Services et outils: the services' web addresses and texts (staff-editable), who uses which teleconsultation
access, the search of a health professional and the assistance provider of each kind of contract."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

from sqlalchemy import Row, bindparam, or_, select
from sqlalchemy.orm import Session

from ..contracts.cover import active_contract_kinds
from ..db import DriverRead
from ..contracts.entities import Beneficiary, BeneficiaryRole, ContractKind, Coverage
from ..errors import ValidationFailed
from ..formats import mask_nir_teleconsultation
from ..i18n import Message
from ..members.entities import Member
from .cache import cached
from .entities import ContentDocument, DocumentKind, ServiceLink


@dataclass(frozen=True)
class LinkDefault:
    """The product's address and texts of a service link, used until staff change them."""

    label: str
    url: str
    description: str = ""


#: Every service link of the member area by key, with its default (French texts, translated when unchanged).
SERVICE_LINKS: dict[str, LinkDefault] = {
    "teleconsultation": LinkDefault(
        "Téléconsultation", "https://app.maquestionmedicale.fr/",
        "Accès de l'adhérent(e) principal(e) et des enfants mineurs au service MaQuestionMédicale."),
    "teleconsultation_family": LinkDefault(
        "https://app.maquestionmedicale.fr/mese", "https://app.maquestionmedicale.fr/mese",
        "Accès du conjoint et des enfants majeurs au service MaQuestionMédicale."),
    "health_directory": LinkDefault(
        "Annuaire santé d'ameli", "https://annuairesante.ameli.fr/recherche.html",
        "Annuaire des professionnels de santé du site ameli.fr ; la recherche lui est passée dans l'adresse."),
    "ima_notice": LinkDefault(
        "Consulter la notice détaillée", "https://www.mese.fr/assistance/notice-ima.pdf",
        "Notice des services d'assistance IMA du contrat collectif (salariés)."),
    "ima_portal": LinkDefault(
        "Accéder à mon portail d'assistance", "https://www.mese.fr/assistance/ima",
        "Portail d'assistance IMA du contrat collectif (salariés)."),
    "rma_notice": LinkDefault(
        "Consulter la notice détaillée", "https://www.mese.fr/assistance/notice-rma.pdf",
        "Notice des services d'assistance RMA du contrat individuel (retraités)."),
    "rma_portal": LinkDefault(
        "Accéder à mon portail d'assistance", "https://www.mese.fr/assistance/rma",
        "Portail d'assistance RMA du contrat individuel (retraités)."),
    "kalixia_optician": LinkDefault(
        "Trouver un opticien", "https://www.kalixia.com/", "Plus de 6 300 centres d'optique partenaires"),
    "kalixia_lenses": LinkDefault(
        "Commander vos lentilles en ligne avec le tiers payant", "https://www.kalixia.com/",
        "Service de vente en ligne de lentilles de contact à prix web pratiquant le tiers payant"),
    "kalixia_dentist": LinkDefault(
        "Trouver un chirurgien-dentiste", "https://www.kalixia.com/",
        "Plus de 7 300 praticiens partenaires répartis sur l'ensemble du territoire"),
    "kalixia_audio": LinkDefault(
        "Trouver un audioprothésiste", "https://www.kalixia.com/", "Plus de 4 300 centres audio partenaires"),
    "kalixia_facility": LinkDefault(
        "Trouver un établissement de santé", "https://www.kalixia.com/",
        "Comparez la qualité des établissements de santé. Retrouvez les établissements référencés par Kalixia"),
    "kalixia_osteopath": LinkDefault(
        "Trouver un ostéopathe", "https://www.kalixia.com/", "Plus de 500 ostéopathes partenaires"),
    "prevention_space": LinkDefault(
        "Accéder à l'Espace Prévention", "https://www.mese.fr/prevention",
        "Accédez à l'Espace Prévention proposé par votre mutuelle. Consultez des articles sur différents thèmes "
        "de santé et de bien-être : sommeil, stress, addictions, alimentation, etc."),
    "prevention_webinars": LinkDefault(
        "Accéder aux webinaires", "https://www.mese.fr/webinaires",
        "Accédez gratuitement à des webinaires santé et bien-être, en direct ou en replay, animés par des "
        "professionnels de santé."),
}
KALIXIA_PARTNERS = ("kalixia_optician", "kalixia_lenses", "kalixia_dentist", "kalixia_audio", "kalixia_facility",
                    "kalixia_osteopath")

# The catalogue holds the defaults' texts (pybabel reads Message(...) calls only).
_DEFAULT_TEXTS = {
    "Téléconsultation": Message("Téléconsultation"),
    "Accès de l'adhérent(e) principal(e) et des enfants mineurs au service MaQuestionMédicale.": Message(
        "Accès de l'adhérent(e) principal(e) et des enfants mineurs au service MaQuestionMédicale."),
    "Accès du conjoint et des enfants majeurs au service MaQuestionMédicale.": Message(
        "Accès du conjoint et des enfants majeurs au service MaQuestionMédicale."),
    "Annuaire santé d'ameli": Message("Annuaire santé d'ameli"),
    "Consulter la notice détaillée": Message("Consulter la notice détaillée"),
    "Accéder à mon portail d'assistance": Message("Accéder à mon portail d'assistance"),
    "Trouver un opticien": Message("Trouver un opticien"),
    "Plus de 6 300 centres d'optique partenaires": Message("Plus de 6 300 centres d'optique partenaires"),
    "Commander vos lentilles en ligne avec le tiers payant": Message(
        "Commander vos lentilles en ligne avec le tiers payant"),
    "Service de vente en ligne de lentilles de contact à prix web pratiquant le tiers payant": Message(
        "Service de vente en ligne de lentilles de contact à prix web pratiquant le tiers payant"),
    "Trouver un chirurgien-dentiste": Message("Trouver un chirurgien-dentiste"),
    "Plus de 7 300 praticiens partenaires répartis sur l'ensemble du territoire": Message(
        "Plus de 7 300 praticiens partenaires répartis sur l'ensemble du territoire"),
    "Trouver un audioprothésiste": Message("Trouver un audioprothésiste"),
    "Plus de 4 300 centres audio partenaires": Message("Plus de 4 300 centres audio partenaires"),
    "Trouver un établissement de santé": Message("Trouver un établissement de santé"),
    "Comparez la qualité des établissements de santé. Retrouvez les établissements référencés par Kalixia": Message(
        "Comparez la qualité des établissements de santé. Retrouvez les établissements référencés par Kalixia"),
    "Trouver un ostéopathe": Message("Trouver un ostéopathe"),
    "Plus de 500 ostéopathes partenaires": Message("Plus de 500 ostéopathes partenaires"),
    "Accéder à l'Espace Prévention": Message("Accéder à l'Espace Prévention"),
    "Accédez à l'Espace Prévention proposé par votre mutuelle. Consultez des articles sur différents thèmes de santé "
    "et de bien-être : sommeil, stress, addictions, alimentation, etc.": Message(
        "Accédez à l'Espace Prévention proposé par votre mutuelle. Consultez des articles sur différents thèmes de "
        "santé et de bien-être : sommeil, stress, addictions, alimentation, etc."),
    "Accéder aux webinaires": Message("Accéder aux webinaires"),
    "Accédez gratuitement à des webinaires santé et bien-être, en direct ou en replay, animés par des professionnels "
    "de santé.": Message(
        "Accédez gratuitement à des webinaires santé et bien-être, en direct ou en replay, animés par des "
        "professionnels de santé."),
}


@dataclass(frozen=True)
class Link:
    """A service link as the member sees it: texts still equal to the defaults are translatable Messages."""

    key: str
    label: str
    url: str
    description: str


def _text(value: str) -> str:
    return _DEFAULT_TEXTS.get(value, value)


def is_web_address(url: str | None) -> bool:
    """True for an absolute https:// or http:// address (the only kind a service link may hold)."""
    url = (url or "").strip().lower()
    return url.startswith(("https://", "http://")) and len(url) > len("https://") and " " not in url


#: Statements built once (values as parameters): a statement object keeps its SQLAlchemy cache key, computed again
#: with a new statement on every page.
_SERVICE_LINKS = (select(ServiceLink.key, ServiceLink.label, ServiceLink.url, ServiceLink.description)
                  .where(ServiceLink.key.in_(bindparam("keys", expanding=True))))


def service_links(session: Session, keys: tuple[str, ...] | None = None) -> dict[str, Link]:
    """The service links of ``keys`` (all by default): staff's row when there is one, else the default.

    One query (a short-lived copy: models.content.cache); a row whose address is not a web address falls back to
    the default address.
    """
    keys = keys or tuple(SERVICE_LINKS)
    return dict(cached(session, "service_links", lambda: _service_links(session, keys), keys))


def _service_links(session: Session, keys: tuple[str, ...]) -> dict[str, Link]:
    rows = {row.key: row for row in session.execute(_SERVICE_LINKS, {"keys": list(keys)})}
    links = {}
    for key in keys:
        default, row = SERVICE_LINKS[key], rows.get(key)
        label = row.label if row and row.label else default.label
        description = row.description if row is not None else default.description
        url = row.url if row and is_web_address(row.url) else default.url
        links[key] = Link(key, _text(label), url.strip(), _text(description))
    return links


def seed_service_links(session: Session) -> None:
    """Add a row with the default address and texts for each service link that has none (demo, fresh database)."""
    existing = set(session.scalars(select(ServiceLink.key)))
    session.add_all(ServiceLink(key=key, label=d.label, url=d.url, description=d.description)
                    for key, d in SERVICE_LINKS.items() if key not in existing)


# ---------------------------------------------------------------------------------------------------------
# Téléconsultation MaQuestionMédicale


class TeleconsultationAccess(enum.StrEnum):
    """How a person reaches the teleconsultation: the "Téléconsultation" button, or the service's own link."""

    BUTTON = "button"
    LINK = "link"


#: Age from which a child uses the service's own link, as the spouse does.
ADULT_AGE = 18
_STATUS_LABELS = {BeneficiaryRole.PRINCIPAL: Message("Adhérent"), BeneficiaryRole.SPOUSE: Message("Conjoint"),
                  BeneficiaryRole.CHILD: Message("Enfant")}


def age_on(birth_date: date, day: date) -> int:
    """Age in whole years on ``day`` (a person born on 29 February has their birthday on 1 March)."""
    return day.year - birth_date.year - ((day.month, day.day) < (birth_date.month, birth_date.day))


def teleconsultation_access(role: BeneficiaryRole, birth_date: date, today: date) -> TeleconsultationAccess:
    """The guide's rule: the principal member or a minor child use the button; the spouse or an adult child
    use the link https://app.maquestionmedicale.fr/mese."""
    if role == BeneficiaryRole.PRINCIPAL:
        return TeleconsultationAccess.BUTTON
    if role == BeneficiaryRole.CHILD and age_on(birth_date, today) < ADULT_AGE:
        return TeleconsultationAccess.BUTTON
    return TeleconsultationAccess.LINK


@dataclass(frozen=True)
class TeleconsultationRow:
    """A line of the teleconsultation table: Nom, Prénom, Né(e) le, Statut, N° sécurité sociale (masked), Caisse,
    Du, Au, and the access of that person."""

    last_name: str
    first_name: str
    birth_date: date
    status: str
    masked_nir: str
    fund: str
    start_on: date | None
    end_on: date | None
    access: TeleconsultationAccess


_ROLE_ORDER = {BeneficiaryRole.PRINCIPAL: 0, BeneficiaryRole.SPOUSE: 1, BeneficiaryRole.CHILD: 2}


_COVERED_TODAY = DriverRead(
    select(Beneficiary.id, Beneficiary.role, Beneficiary.first_name, Beneficiary.last_name, Beneficiary.birth_date,
           Beneficiary.nir, Beneficiary.organism_number, Coverage.start_on, Coverage.end_on)
    .join(Coverage, Coverage.beneficiary_id == Beneficiary.id)
    .where(Beneficiary.member_id == bindparam("member_id"), Coverage.start_on <= bindparam("today"),
           or_(Coverage.end_on.is_(None), Coverage.end_on >= bindparam("today"))))


def teleconsultation_reads(today: date) -> list[tuple[DriverRead, dict]]:
    """What :func:`teleconsultation_rows` reads (each read with its parameters but ``member_id``: models.db.DriverRead.first_with)."""
    return [(_COVERED_TODAY, {"today": today})]


def teleconsultation_rows(session: Session, member: Member, today: date) -> list[TeleconsultationRow]:
    """The family's people covered today, principal first, then spouse and children (eldest first). One query
    of the shown columns and of the periods covering today, on the driver."""
    rows = _COVERED_TODAY.rows(session, {"member_id": member.id, "today": today})
    people: dict[int, tuple] = {}
    periods: dict[int, list[tuple[date, date | None]]] = {}
    for id_, *person, start_on, end_on in rows:
        people[id_] = tuple(person)
        periods.setdefault(id_, []).append((start_on, end_on))
    table = []
    for id_, (role, first_name, last_name, birth_date, nir, fund) in sorted(
            people.items(), key=lambda item: (_ROLE_ORDER[item[1][0]], item[1][3], item[0])):
        current = periods[id_]
        start = min(start for start, _end in current)
        ends = [end for _start, end in current]
        end = None if any(e is None for e in ends) else max(ends)
        table.append(TeleconsultationRow(
            last_name=last_name.upper(), first_name=first_name, birth_date=birth_date,
            status=_STATUS_LABELS[role], masked_nir=mask_nir_teleconsultation(nir) if nir else "",
            fund=fund, start_on=start, end_on=end, access=teleconsultation_access(role, birth_date, today)))
    return table


# ---------------------------------------------------------------------------------------------------------
# Rechercher un professionnel de santé

PROFESSIONAL_CRITERIA = ("name", "profession", "act", "where")
ONE_CRITERION_MESSAGE = Message("Renseignez au moins 1 des 3 critères : Nom, Profession ou Acte.")
#: Query parameters of the health directory's search, by criterion.
DIRECTORY_PARAMETERS = {"name": "nom", "profession": "profession", "act": "acte", "where": "ou"}
_MAX_CRITERION = 120


def professional_search_url(directory_url: str, *, name: str = "", profession: str = "", act: str = "",
                            where: str = "") -> str:
    """The address of the health directory's search for these criteria (at least one of Nom, Profession, Acte).

    Raises ValidationFailed on the three criteria's fields when none is given, or on a criterion too long.
    """
    values = {"name": name, "profession": profession, "act": act, "where": where}
    values = {k: " ".join((v or "").split()) for k, v in values.items()}
    errors: dict[str, list[str]] = {}
    for key, value in values.items():
        if len(value) > _MAX_CRITERION:
            errors[key] = [Message("%(max)d caractères au plus.", max=_MAX_CRITERION)]
    if not any(values[k] for k in ("name", "profession", "act")):
        errors["name"] = [ONE_CRITERION_MESSAGE]
    if errors:
        raise ValidationFailed(errors)
    query = urlencode({DIRECTORY_PARAMETERS[k]: v for k, v in values.items() if v})
    return f"{directory_url}{'&' if '?' in directory_url else '?'}{query}"


# ---------------------------------------------------------------------------------------------------------
# Mon assistance

ASSISTANCE_PROVIDERS = {ContractKind.COLLECTIVE: "IMA", ContractKind.INDIVIDUAL: "RMA"}


@dataclass(frozen=True)
class Assistance:
    """The assistance of one kind of contract: its provider, notice and portal."""

    provider: str
    contract_kind: ContractKind
    notice: Link
    portal: Link


def member_assistance(session: Session, member: Member, today: date) -> list[Assistance]:
    """IMA for a member of the collective contract, RMA for the individual one (both when the member has both)."""
    kinds = active_contract_kinds(session, member, today)
    links = service_links(session, ("ima_notice", "ima_portal", "rma_notice", "rma_portal"))
    result = []
    for kind in (ContractKind.COLLECTIVE, ContractKind.INDIVIDUAL):
        if kind in kinds:
            prefix = ASSISTANCE_PROVIDERS[kind].lower()
            result.append(Assistance(ASSISTANCE_PROVIDERS[kind], kind, links[f"{prefix}_notice"],
                                     links[f"{prefix}_portal"]))
    return result



# ---------------------------------------------------------------------------------------------------------
# Futur(e) retraité(e)


_FUTURE_RETIREE_DOCUMENTS = (
    select(ContentDocument.id, ContentDocument.title, ContentDocument.description, ContentDocument.file_id)
    .where(ContentDocument.kind == DocumentKind.FUTURE_RETIREE, ContentDocument.published.is_(True),
           ContentDocument.file_id.is_not(None),
           or_(ContentDocument.contract_kind.is_(None), ContentDocument.contract_kind == ContractKind.COLLECTIVE))
    .order_by(ContentDocument.position, ContentDocument.id))


def future_retiree_documents(session: Session) -> list[Row]:
    """The published documents of "Futur(e) retraité(e)" that have a file, in their order: id, title, description
    and file_id (one query of these columns; a short-lived copy: models.content.cache)."""
    return list(cached(session, "future_retiree_documents",
                       lambda: tuple(session.execute(_FUTURE_RETIREE_DOCUMENTS))))


def future_retiree_document(session: Session, document_id: int) -> Row | None:
    """One of :func:`future_retiree_documents` by id; None for any other document."""
    return next((d for d in future_retiree_documents(session) if d.id == document_id), None)
