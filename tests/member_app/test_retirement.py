"""Futur(e) retraité(e): only members of the collective contract see it (403 for the others, decided: the page
exists but is not theirs), with the documents for future retirees and the way to "Contacter la mutuelle"."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from models.base import utcnow
from models.content.entities import ContentDocument, DocumentKind
from models.contracts.cover import has_collective_contract
from models.contracts.entities import Contract, ContractKind
from models.demo_consult_services import demo_pdf
from models.files.storage import store_bytes
from tests.factories import make_member
from tests.helpers import login_member
from tests.member_app.test_hospital_coverage import text

RETIREE_CONTRACT = [("C40RETRAITE", "Individuel retraités", ContractKind.INDIVIDUAL, date(2017, 4, 1))]


@pytest.fixture
def documents(session):
    """A published future-retiree document with its PDF, one without file, one unpublished, one of another section."""
    def with_file(**fields):
        stored = store_bytes(session, demo_pdf(fields["title"], ["Texte"]), filename="doc.pdf",
                             content_type="application/pdf")
        session.flush()
        return ContentDocument(file_id=stored.id, **fields)

    rows = {
        "brochure": with_file(kind=DocumentKind.FUTURE_RETIREE, title="Brochure « Futur retraité »",
                              contract_kind=ContractKind.COLLECTIVE, position=2),
        "scale": with_file(kind=DocumentKind.FUTURE_RETIREE, title="Barème du contrat individuel", position=1),
        "no_file": ContentDocument(kind=DocumentKind.FUTURE_RETIREE, title="Sans fichier", position=3),
        "hidden": with_file(kind=DocumentKind.FUTURE_RETIREE, title="Brouillon", published=False),
        "contractual": with_file(kind=DocumentKind.CONTRACTUAL, title="Bulletin d'adhésion"),
        "individual_only": with_file(kind=DocumentKind.FUTURE_RETIREE, title="Réservé retraités",
                                     contract_kind=ContractKind.INDIVIDUAL),
    }
    session.add_all(rows.values())
    session.commit()
    return rows


@pytest.fixture
def employee(session):
    return make_member(session)


@pytest.fixture
def retiree(session):
    return make_member(session, email="michel@example.test", first_name="Michel", contracts=RETIREE_CONTRACT)


def test_has_collective_contract_follows_the_contracts_in_force(session, employee, retiree):
    today = date(2026, 12, 1)
    assert has_collective_contract(session, employee, today)
    assert not has_collective_contract(session, retiree, today)
    assert not has_collective_contract(session, employee, date(2017, 12, 31))  # before the contract
    contract = session.scalar(select(Contract).where(Contract.member_id == employee.id))
    contract.ended_on = date(2026, 6, 30)
    session.commit()
    assert not has_collective_contract(session, employee, today)  # retired: the contract has ended
    assert has_collective_contract(session, employee, date(2026, 6, 30))


def test_an_employee_sees_the_documents_in_order_and_the_contact_link(member_client, employee, documents):
    login_member(member_client, employee)
    page = text(member_client.get("/futur-retraite"))
    assert "Rubrique accessible uniquement aux adhérents du contrat collectif (salariés)." in page
    assert page.index("Barème du contrat individuel") < page.index("Brochure « Futur retraité »")
    for hidden in ("Sans fichier", "Brouillon", "Bulletin d'adhésion", "Réservé retraités"):
        assert hidden not in page
    assert 'href="/contacter-la-mutuelle/"' in page and "Contacter la mutuelle" in page
    response = member_client.get(f"/futur-retraite/documents/{documents['brochure'].id}")
    assert response.status_code == 200 and response.data.startswith(b"%PDF-")
    assert "attachment" in response.headers["Content-Disposition"]


def test_other_documents_answer_404(member_client, employee, documents):
    login_member(member_client, employee)
    for key in ("no_file", "hidden", "contractual", "individual_only"):
        assert member_client.get(f"/futur-retraite/documents/{documents[key].id}").status_code == 404, key
    assert member_client.get("/futur-retraite/documents/99999999").status_code == 404


def test_a_retiree_is_refused_with_403_on_every_url(member_client, retiree, documents):
    login_member(member_client, retiree)
    response = member_client.get("/futur-retraite")
    assert response.status_code == 403 and "Accès refusé" in text(response)
    assert member_client.get(f"/futur-retraite/documents/{documents['brochure'].id}").status_code == 403


def test_anonymous_visitors_go_to_the_login_page(member_client):
    response = member_client.get("/futur-retraite")
    assert response.status_code == 302 and "/connexion" in response.location


def test_the_page_in_english(member_client, employee, documents):
    login_member(member_client, employee)
    page = text(member_client.get("/futur-retraite?lang=en"))
    assert "Section only accessible to members of the collective contract (employees)." in page
    assert 'lang="fr">Brochure « Futur retraité »' in page  # staff's French title marked as French


def test_the_demo_documents_are_real_pdfs(session):
    from io import BytesIO

    from pypdf import PdfReader

    from models.demo_consult_services import load_consult_services_demo
    from models.files.entities import StoredFile
    from models.files.storage import read_bytes

    load_consult_services_demo(session, now=utcnow())
    session.commit()
    docs = session.scalars(select(ContentDocument).where(ContentDocument.kind == DocumentKind.FUTURE_RETIREE)
                           .order_by(ContentDocument.position)).all()
    assert len(docs) == 4
    content = PdfReader(BytesIO(read_bytes(session.get(StoredFile, docs[1].file_id)))).pages[0].extract_text()
    assert "Vous partez bientôt à la retraite ?" in content
