"""Documents contractuels and Documents d'informations: the guide's texts, audience by contract kind, downloads."""

import html
import io
import re
from datetime import date

import pytest
from pypdf import PdfReader

from models.content.entities import ContentDocument, DocumentKind
from models.contracts.entities import ContractKind
from models.demo_consult_refunds import pdf_document
from models.files.storage import store_bytes
from tests.factories import make_member
from tests.helpers import login_member


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def member(session):
    return make_member(session, password=None)  # one collective contract (C40SOCLE)


@pytest.fixture
def client(member_client, member):
    login_member(member_client, member)
    return member_client


def publish(session, title, kind=DocumentKind.CONTRACTUAL, audience=None, *, published=True, with_file=True,
            position=0, description=""):
    document = ContentDocument(kind=kind, title=title, contract_kind=audience, published=published,
                               position=position, description=description)
    if with_file:
        stored = store_bytes(session, pdf_document(title, [f"Contenu de {title}"]), filename=f"{position}-doc.pdf",
                             content_type="application/pdf")
        session.flush()
        document.file_id = stored.id
    session.add(document)
    session.commit()
    return document


def links(page: str) -> list[str]:
    return re.findall(r'<a href="/documents/\d+" download><span>(.*?)</span>', page)


def test_anonymous_visitors_are_sent_to_the_login_page(member_client, session):
    document = publish(session, "Barème")
    for path in ("/documents-contractuels", "/documents-d-information", f"/documents/{document.id}"):
        response = member_client.get(path)
        assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_contractual_documents_show_the_guide_texts_and_the_documents_for_the_members_contracts(client, session):
    publish(session, "Barème collectif", audience=ContractKind.COLLECTIVE, position=2,
            description="Garanties Socle et Premium.")
    publish(session, "Barème individuel", audience=ContractKind.INDIVIDUAL, position=1)
    publish(session, "Bulletin d'adhésion", position=3)
    publish(session, "Brouillon", published=False)
    publish(session, "Sans fichier", with_file=False)
    publish(session, "Bulletin Santé - automne", kind=DocumentKind.INFORMATION)
    page = page_text(client.get("/documents-contractuels"))
    assert "<h1>Documents contractuels</h1>" in page
    assert "Consulter les barèmes de garanties et de cotisations" in page
    assert "le bulletin d'adhésion permettant d'ajouter un bénéficiaire à votre contrat" in page
    assert "Les documents sont téléchargeables au format pdf." in page
    assert links(page) == ["Barème collectif", "Bulletin d'adhésion"]  # staff's order; audience; published; file
    assert "Garanties Socle et Premium." in page and ("PDF, 1 Ko" in page or "PDF, 2 Ko" in page)


def test_a_retiree_sees_the_individual_scale(member_client, session):
    retiree = make_member(session, password=None, number="5598000",
                          contracts=[("C40RETRAITE", "Retraités", ContractKind.INDIVIDUAL, date(2017, 4, 1))])
    publish(session, "Barème collectif", audience=ContractKind.COLLECTIVE)
    individual = publish(session, "Barème individuel", audience=ContractKind.INDIVIDUAL)
    login_member(member_client, retiree)
    assert links(page_text(member_client.get("/documents-contractuels"))) == ["Barème individuel"]
    assert member_client.get(f"/documents/{individual.id}").status_code == 200


def test_information_documents_show_the_bulletins_sante(client, session):
    publish(session, "Bulletin Santé - automne", kind=DocumentKind.INFORMATION, position=1)
    publish(session, "Bulletin Santé - printemps", kind=DocumentKind.INFORMATION, position=2)
    publish(session, "Barème collectif")
    page = page_text(client.get("/documents-d-information"))
    assert "<h1>Documents d'informations</h1>" in page
    assert "Retrouvez dans cette rubrique les Bulletins Santé (le magazine semestriel de la MESE)." in page
    assert links(page) == ["Bulletin Santé - automne", "Bulletin Santé - printemps"]


def test_the_pages_in_english_keep_staff_titles_marked_french(client, session):
    publish(session, "Bulletin Santé - automne", kind=DocumentKind.INFORMATION)
    page = page_text(client.get("/documents-d-information?lang=en"))
    assert "Find the Health Bulletins (MESE's biannual magazine) in this section." in page
    assert '<span lang="fr">Bulletin Santé - automne</span>' in page
    page = page_text(client.get("/documents-contractuels?lang=en"))
    assert "View the scales of guarantees and contributions" in page
    assert "No contractual document is available at the moment." in page


def test_empty_sections_say_so(client):
    assert "Aucun document contractuel n'est disponible" in page_text(client.get("/documents-contractuels"))
    assert "Aucun document d'information n'est disponible" in page_text(client.get("/documents-d-information"))


def test_a_document_downloads_as_a_pdf_attachment(client, session):
    document = publish(session, "Barème collectif", audience=ContractKind.COLLECTIVE, position=7)
    response = client.get(f"/documents/{document.id}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == "attachment; filename=7-doc.pdf"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    text = PdfReader(io.BytesIO(response.get_data())).pages[0].extract_text()
    assert "Barème collectif" in text


def test_documents_the_members_contracts_may_not_see_are_404(client, session):
    individual = publish(session, "Barème individuel", audience=ContractKind.INDIVIDUAL)
    draft = publish(session, "Brouillon", published=False)
    no_file = publish(session, "Sans fichier", with_file=False)
    for document_id in (individual.id, draft.id, no_file.id, 999999):
        assert client.get(f"/documents/{document_id}").status_code == 404


def test_an_ended_contract_no_longer_opens_its_documents(member_client, session):
    member = make_member(session, password=None, number="5598001")
    member.contracts[0].ended_on = date(2020, 12, 31)
    session.commit()
    collective = publish(session, "Barème collectif", audience=ContractKind.COLLECTIVE)
    login_member(member_client, member)
    assert member_client.get(f"/documents/{collective.id}").status_code == 404
