"""Services et outils: the teleconsultation rule (role and age, 17 vs 18), its table with masked numbers, the search
of a health professional, the assistance of each kind of contract, Kalixia, prevention, the staff's links, and the
"Besoin d'aide ?" block of every page."""

from __future__ import annotations

import re
from datetime import date
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from models.content.entities import ServiceLink
from models.content.services import (
    KALIXIA_PARTNERS, SERVICE_LINKS, TeleconsultationAccess, age_on, professional_search_url, seed_service_links,
    service_links, teleconsultation_access, teleconsultation_rows,
)
from models.contracts.entities import BeneficiaryRole, ContractKind
from models.errors import ValidationFailed
from models.formats import mask_nir_teleconsultation
from tests.factories import make_member
from tests.helpers import login_member
from tests.member_app.test_hospital_coverage import error_next_to, text

BUTTON, LINK = TeleconsultationAccess.BUTTON, TeleconsultationAccess.LINK
TODAY = date(2026, 12, 1)


@pytest.fixture
def member(session):
    return make_member(session)


@pytest.fixture
def client(member_client, member):
    login_member(member_client, member)
    return member_client


def external_links(page: str) -> list[str]:
    """Every <a> that opens a new window."""
    return re.findall(r'<a [^>]*target="_blank"[^>]*>.*?</a>', page, re.S)


def assert_external_links_are_safe(page: str) -> None:
    links = external_links(page)
    assert links
    for link in links:
        assert 'rel="noopener noreferrer"' in link, link
        assert "(nouvelle fenêtre)" in link or "(new window)" in link, link


# -- the teleconsultation rule (models) -----------------------------------------------------------------

@pytest.mark.parametrize(("role", "birth", "expected"), [
    (BeneficiaryRole.PRINCIPAL, date(1984, 1, 10), BUTTON),
    (BeneficiaryRole.PRINCIPAL, date(2008, 12, 2), BUTTON),   # a principal member is never sent to the link
    (BeneficiaryRole.SPOUSE, date(1982, 5, 14), LINK),
    (BeneficiaryRole.SPOUSE, date(2009, 1, 1), LINK),         # even a young spouse
    (BeneficiaryRole.CHILD, date(2012, 9, 3), BUTTON),
    (BeneficiaryRole.CHILD, date(2008, 12, 2), BUTTON),       # 17, 18 tomorrow
    (BeneficiaryRole.CHILD, date(2008, 12, 1), LINK),         # 18 today
    (BeneficiaryRole.CHILD, date(2008, 11, 30), LINK),        # 18 since yesterday
])
def test_teleconsultation_access_by_role_and_age(role, birth, expected):
    assert teleconsultation_access(role, birth, TODAY) is expected


def test_age_counts_whole_years_and_29_february():
    assert age_on(date(2008, 12, 1), TODAY) == 18 and age_on(date(2008, 12, 2), TODAY) == 17
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17 and age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18


def test_the_nir_is_masked_as_the_guide_shows_it():
    assert mask_nir_teleconsultation("1740838109055") == "1XX38XXXXX5555"  # Axel DUMONT of the guide
    assert mask_nir_teleconsultation("174083810905555") == "1XX38XXXXX5555"


def test_the_table_lists_the_family_covered_today_principal_first(session):
    member = make_member(session, family=[
        (BeneficiaryRole.CHILD, "Zoé", date(2012, 9, 3), None),
        (BeneficiaryRole.CHILD, "Hugo", date(2008, 12, 1), None),
        (BeneficiaryRole.SPOUSE, "Samuel", date(1982, 5, 14), "1820538185049"),
    ])
    rows = teleconsultation_rows(session, member, TODAY)
    assert [(r.first_name, r.access) for r in rows] == [
        ("Léa", BUTTON), ("Samuel", LINK), ("Hugo", LINK), ("Zoé", BUTTON)]
    assert rows[0].status == "Adhérent" and rows[0].last_name == "RIMON" and rows[0].start_on == date(2018, 1, 1)
    assert rows[0].masked_nir == "2XX13XXXXX1174" and rows[1].masked_nir == "1XX38XXXXX4957"
    assert rows[3].masked_nir == ""


def test_the_teleconsultation_page(client, member):
    page = text(client.get("/services/teleconsultation"))
    assert "Téléconsultation MaQuestionMédicale" in page
    for header in ("Nom", "Prénom", "Né(e) le", "Statut", "N° sécurité sociale", "Caisse", "Du", "Au"):
        assert f'<th scope="col">{header}</th>' in page
    assert "2XX13XXXXX1174" in page and "2848013809111" not in page and "284801XXXX" not in page
    assert "365 jours par an, de 8 h à minuit" in page and "3 200 médecins" in page
    assert 'href="https://app.maquestionmedicale.fr/mese"' in page
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    rows = body.split("<tr>")[1:]
    assert "Téléconsultation" in rows[0] and 'href="https://app.maquestionmedicale.fr/"' in rows[0]  # Léa
    assert "Lien ci-dessous" in rows[1] and "Samuel" in rows[1]  # spouse
    assert "Téléconsultation" in rows[2] and "Zoé" in rows[2]  # minor child
    assert_external_links_are_safe(page)


# -- professional search ----------------------------------------------------------------------------------

def test_the_search_needs_one_of_the_three_criteria():
    with pytest.raises(ValidationFailed) as caught:
        professional_search_url("https://annuairesante.ameli.fr/recherche.html", where="Grenoble")
    assert caught.value.errors == {"name": ["Renseignez au moins 1 des 3 critères : Nom, Profession ou Acte."]}
    url = professional_search_url("https://annuairesante.ameli.fr/recherche.html", profession=" Optométriste ",
                                  where="38000  Grenoble")
    assert url == "https://annuairesante.ameli.fr/recherche.html?profession=Optom%C3%A9triste&ou=38000+Grenoble"


def test_the_search_form_and_its_message_next_to_the_fields(client):
    page = text(client.get("/services/professionnel-de-sante"))
    assert "Je renseigne au moins 1 des 3 critères ci-dessous :" in page and "Rechercher" in page
    response = client.get("/services/professionnel-de-sante?name=&profession=&act=&where=Grenoble")
    assert response.status_code == 200
    page = text(response)
    assert error_next_to(page, "name") == "Renseignez au moins 1 des 3 critères : Nom, Profession ou Acte."
    assert "<title>Erreur :" in page and 'value="Grenoble"' in page
    long = client.get("/services/professionnel-de-sante?name=" + "x" * 121)
    assert error_next_to(text(long), "name") == "120 caractères au plus."


def test_a_search_opens_the_public_health_directory(client):
    response = client.get("/services/professionnel-de-sante?name=Dupont&profession=&act=cataracte&where=Strasbourg")
    assert response.status_code == 303
    url = urlsplit(response.location)
    assert (url.scheme, url.netloc, url.path) == ("https", "annuairesante.ameli.fr", "/recherche.html")
    assert parse_qs(url.query) == {"nom": ["Dupont"], "acte": ["cataracte"], "ou": ["Strasbourg"]}


# -- assistance, Kalixia, prevention ---------------------------------------------------------------------

def test_assistance_is_ima_for_the_collective_contract_and_rma_for_the_individual_one(client, member, member_client,
                                                                                      session):
    page = text(client.get("/services/assistance"))
    assert "Assistance IMA pour le contrat collectif (salariés)" in page and "Assistance RMA pour" not in page
    assert "notice-rma.pdf" not in page
    assert "https://www.mese.fr/assistance/notice-ima.pdf" in page and "https://www.mese.fr/assistance/ima" in page
    assert_external_links_are_safe(page)
    retiree = make_member(session, email="michel@example.test", first_name="Michel", contracts=[
        ("C40RETRAITE", "Individuel retraités", ContractKind.INDIVIDUAL, date(2017, 4, 1))])
    login_member(member_client, retiree)
    page = text(member_client.get("/services/assistance"))
    assert "Assistance RMA pour le contrat individuel (retraités)" in page and "notice-rma.pdf" in page
    assert "Assistance IMA pour" not in page and "notice-ima.pdf" not in page


def test_kalixia_shows_its_six_partners_with_the_guide_texts(client):
    page = text(client.get("/services/reseau-kalixia"))
    for key in KALIXIA_PARTNERS:
        assert SERVICE_LINKS[key].label in page and SERVICE_LINKS[key].description in page
    assert page.count('class="card"') >= 6 and "Des tarifs préférentiels" in page
    assert_external_links_are_safe(page)


def test_prevention_shows_the_space_and_the_webinars(client):
    page = text(client.get("/services/prevention-sante"))
    assert "sommeil, stress, addictions, alimentation" in page and "webinaires santé et bien-être" in page
    assert "https://www.mese.fr/prevention" in page and "https://www.mese.fr/webinaires" in page
    assert_external_links_are_safe(page)


def test_staff_links_replace_the_defaults_and_are_shown_as_written(client, session):
    seed_service_links(session)
    row = session.scalar(select(ServiceLink).where(ServiceLink.key == "kalixia_optician"))
    row.url, row.label = "https://partenaires.kalixia.example/optique", "Nos opticiens"
    broken = session.scalar(select(ServiceLink).where(ServiceLink.key == "kalixia_audio"))
    broken.url = "javascript:alert(1)"  # never shown: the default address stands in
    session.commit()
    links = service_links(session)
    assert links["kalixia_optician"].url == "https://partenaires.kalixia.example/optique"
    assert links["kalixia_audio"].url == SERVICE_LINKS["kalixia_audio"].url
    page = text(client.get("/services/reseau-kalixia?lang=en"))
    assert "Nos opticiens" in page and "https://partenaires.kalixia.example/optique" in page
    assert "Find a hearing aid specialist" in page  # unchanged default text: translated
    assert "javascript:" not in page


def test_the_pages_speak_english(client):
    assert "Search for a health professional" in text(client.get("/services/professionnel-de-sante?lang=en"))
    page = text(client.get("/services/teleconsultation"))
    assert "365 days a year" in page and "Member" in page


def test_every_services_page_needs_a_signed_in_member(member_client):
    for url in ("/services/teleconsultation", "/services/professionnel-de-sante", "/services/assistance",
                "/services/reseau-kalixia", "/services/prevention-sante"):
        response = member_client.get(url)
        assert response.status_code == 302 and "/connexion" in response.location, url


# -- Besoin d'aide ? -------------------------------------------------------------------------------------

def test_every_page_offers_help(client, member_client):
    for url in ("/", "/services/kalixia-inexistant", "/services/assistance", "/ma-carte-mutuelle"):
        page = text(client.get(url))
        help_block = page.split('<section class="need-help"')[1].split("</section>")[0]
        assert "Besoin d'aide ?" in help_block
        assert 'href="tel:+33476605636">04 76 60 56 36</a>' in help_block
        assert 'href="mailto:fr-contact@mese.se.com">fr-contact@mese.se.com</a>' in help_block
        assert 'href="https://www.mese.fr" target="_blank" rel="noopener noreferrer">Questions / Réponses' in help_block
        assert "(nouvelle fenêtre)" in help_block
