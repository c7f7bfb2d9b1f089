"""The home page: menu bar, news banner, procedures in direct access, the member's requests."""

import html
import re
from datetime import date, timedelta

import pytest

from models.base import utcnow
from models.content.entities import NewsItem
from models.contracts.entities import ContractKind
from models.requests.entities import RequestStatus
from models.requests.hospital_coverage import HospitalCoverageInput, submit_hospital_coverage
from models.requests.workflow import local_today
from tests.factories import make_member
from tests.helpers import login_member

GUIDE_TILES = [
    "Dépôt de documents", "Contacter la mutuelle", "Ma carte Mutuelle", "Mes remboursements", "Prévention santé",
    "Mon assistance", "Téléconsultation MaQuestionMédicale", "Réseau Kalixia", "Prise en charge hospitalière",
    "Attestation", "Documents contractuels", "Mon contrat /ma famille",
]
GUIDE_MENU = ["Informations personnelles", "Contact/ dépôt de documents", "Mes remboursements", "Services et outils",
              "Futur(e) retraité(e)"]


def today():
    return local_today(utcnow())


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def member(session):
    return make_member(session, password=None)


@pytest.fixture
def client(member_client, member):
    login_member(member_client, member)
    return member_client


def request_for(session, member, name="Clinique des Cèdres"):
    request = submit_hospital_coverage(session, member, HospitalCoverageInput(
        beneficiary_id=member.beneficiaries[0].id, establishment_name=name, finess="",
        start_on=today() + timedelta(days=3), admission_fax="0476000000", admission_email=""), now=utcnow())
    session.commit()
    return request


def section(page: str, heading_id: str) -> str:
    """The HTML of the <section> labelled by ``heading_id``."""
    match = re.search(rf'<section[^>]*aria-labelledby="{heading_id}".*?</section>', page, re.S)
    assert match, heading_id
    return match.group(0)


def test_an_anonymous_visitor_is_sent_to_the_login_page(member_client):
    response = member_client.get("/")
    assert response.status_code == 302
    assert "/connexion" in response.headers["Location"]


def menu_bar(page: str) -> str:
    return re.search(r'<nav class="menu".*?</nav>', page, re.S).group(0)


def test_the_menu_bar_has_the_guides_categories_each_opening_its_procedures(client):
    bar = menu_bar(text(client.get("/")))
    assert re.findall(r'<summary>([^<]+)</summary>', bar) == GUIDE_MENU
    informations = re.search(r'id="menu-informations".*?</details>', bar, re.S).group(0)
    for label, url in (("Mon contrat /ma famille", "/mon-contrat"), ("Mes informations personnelles", "/mes-informations"),
                       ("Cotisations", "/cotisations"), ("Coordonnées bancaires", "/coordonnees-bancaires"),
                       ("Documents contractuels", "/documents-contractuels"),
                       ("Modifier mon mot de passe", "/mon-compte/mot-de-passe")):
        assert f'<a href="{url}">{label}</a>' in informations


def test_every_link_of_the_menu_and_every_shortcut_opens_its_page(client):
    page = text(client.get("/"))
    bar = menu_bar(page)
    tiles = section(page, "direct-title")
    links = set(re.findall(r'href="(/[^"#]*)"', bar + tiles))
    assert len(links) >= 20
    for url in sorted(links):
        assert client.get(url).status_code == 200, url


def test_the_menu_marks_the_page_the_member_is_on(client):
    bar = menu_bar(text(client.get("/mes-demandes/")))
    assert '<a href="/mes-demandes/" aria-current="page">Mes demandes</a>' in bar


def test_future_retirees_pages_are_only_in_the_menu_of_a_collective_contract(member_client, session):
    retiree = make_member(session, password=None, first_name="Michel", last_name="BERTRAND",
                          contracts=[("C40ZPREMIUM", "Premium", ContractKind.INDIVIDUAL, date(2019, 1, 1))])
    login_member(member_client, retiree)
    page = text(member_client.get("/"))
    assert "Futur(e) retraité(e)" not in page and "/futur-retraite" not in page


def test_the_menu_is_in_english_on_english_pages(client):
    bar = menu_bar(text(client.get("/?lang=en")))
    assert "Personal information" in bar and "Informations personnelles" not in bar


def test_the_twelve_procedures_of_the_guide_are_offered_in_its_order_each_a_link(client):
    tiles = section(text(client.get("/")), "direct-title")
    links = re.findall(r'<a class="tile" href="([^"]+)"><span class="tile-label">([^<]+)</span></a>', tiles)
    assert [label for _url, label in links] == GUIDE_TILES
    assert dict((label, url) for url, label in links)["Prise en charge hospitalière"] == "/prise-en-charge-hospitaliere/"
    assert "Bientôt disponible" not in tiles


def test_the_news_banner_shows_published_news_of_today_only(client, session):
    t = today()
    session.add_all([
        NewsItem(title="Bulletin Santé en ligne", body="Dans Documents d'informations.", starts_on=t - timedelta(days=3)),
        NewsItem(title="Dernier jour", starts_on=t - timedelta(days=10), ends_on=t),
        NewsItem(title="Pas encore", starts_on=t + timedelta(days=1)),
        NewsItem(title="Terminée", starts_on=t - timedelta(days=10), ends_on=t - timedelta(days=1)),
        NewsItem(title="Brouillon", starts_on=t - timedelta(days=1), published=False),
    ])
    session.commit()
    news = section(text(client.get("/")), "news-title")
    assert "Bulletin Santé en ligne" in news and "Dans Documents d'informations." in news
    assert "Dernier jour" in news
    for hidden in ("Pas encore", "Terminée", "Brouillon"):
        assert hidden not in news


def test_news_links_are_only_web_addresses(client, session):
    t = today()
    session.add_all([
        NewsItem(title="Webinaire", starts_on=t, link_url="https://www.mese.fr/webinaires"),
        NewsItem(title="Piège", starts_on=t, link_url="javascript:alert(1)"),
    ])
    session.commit()
    news = section(text(client.get("/")), "news-title")
    assert 'href="https://www.mese.fr/webinaires"' in news
    assert "javascript:" not in news


def test_without_news_there_is_no_empty_banner(client):
    assert 'aria-labelledby="news-title"' not in client.get("/").get_data(as_text=True)


def test_my_requests_lists_the_familys_latest_requests_with_reference_status_and_date(
    client, member, session
):
    first = request_for(session, member, "Clinique des Cèdres")
    second = request_for(session, member, "CHU Nord")
    second.status = RequestStatus.DONE
    session.commit()
    block = section(text(client.get("/")), "requests-title")
    rows = re.findall(r"<tr>(.*?)</tr>", block, re.S)[1:]
    assert len(rows) == 2
    assert f'<a href="/mes-demandes/{second.reference}">{second.reference}</a>' in rows[0]
    assert "Traitée" in rows[0] and "CHU Nord" in rows[0]
    assert f'<a href="/mes-demandes/{first.reference}">{first.reference}</a>' in rows[1]
    assert "Nouvelle" in rows[1] and "Clinique des Cèdres" in rows[1] and "Léa RIMON" in rows[1]
    assert today().strftime("%d/%m/%Y") in rows[1]


def test_my_requests_never_shows_another_members_requests(client, member, session):
    stranger = make_member(session, password=None, first_name="Axel", last_name="DUMONT")
    theirs = request_for(session, stranger, "Hôpital privé")
    block = section(text(client.get("/")), "requests-title")
    assert theirs.reference not in block and "Hôpital privé" not in block
    assert "Vous n'avez pas encore fait de demande en ligne." in block


def test_the_account_pages_are_reachable_from_personal_information(member_client, session):
    from tests.factories import make_member
    from tests.helpers import login_member

    member = make_member(session)
    login_member(member_client, member)
    html = member_client.get("/").get_data(as_text=True)
    section = html[html.index('id="informations"'):]
    section = section[:section.index("</section>")]
    assert 'href="/mon-compte/mot-de-passe"' in section and "Modifier mon mot de passe" in section
    assert 'href="/mon-compte/securite"' in section
