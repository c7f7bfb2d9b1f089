"""Ma carte Mutuelle and Attestation: on screen, as PDF (text extracted), sent by e-mail with the PDF attached,
the daily limit, the audit, and nobody reaching another family's contract or person."""

from __future__ import annotations

import io
import time
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from jobs.deliver import load_attachments
from jobs.pdf import render_cover_document
from models.audit.entities import AuditEvent
from models.base import utcnow
from models.contracts.cover import (
    DAILY_SEND_LIMIT, SENT_ACTION, CoverDocument, active_contracts, cover_document_context, sends_today,
)
from models.contracts.entities import Contract, ContractKind
from models.outbox.entities import OutboxMessage
from models.requests.deadlines import local_today
from tests.factories import make_member
from tests.helpers import login_member
from tests.jobs.conftest import Delivery
from tests.member_app.test_hospital_coverage import Forms, error_next_to, text


@pytest.fixture
def member(session):
    return make_member(session)


@pytest.fixture
def other(session):
    return make_member(session, first_name="Paul", last_name="MARTIN", email="paul.martin@example.test",
                       nir="1750638185123")


@pytest.fixture
def client(member_client, member):
    login_member(member_client, member)
    return member_client


@pytest.fixture
def delivery(jobs_config, models_config, migrated_database, redis_conn) -> Delivery:
    from jobs import runtime

    runtime.configure(jobs_config, models_config)
    return Delivery(jobs_config, models_config, redis_conn)


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def ids(member):
    contract = member.contracts[0]
    people = {b.first_name: b.id for b in member.beneficiaries}
    return contract.id, people


def send(client, url, email):
    form = Forms(client.get(url).get_data(as_text=True)).forms[-1]
    fields = dict(form["fields"], email=email)
    return client.post(form["action"], data=fields)


# -- on screen ------------------------------------------------------------------------------------------

def test_the_card_shows_the_contract_and_its_people_with_masked_numbers(client, member):
    page = text(client.get("/ma-carte-mutuelle"))
    assert "Ma carte Mutuelle" in page and "C40SOCLE" in page and member.number in page
    assert "Léa RIMON" in page and "Samuel RIMON" in page and "Zoé RIMON" in page
    assert "284801XXXX" in page and "2848013809111" not in page  # never the NIR itself
    contract_id, _ = ids(member)
    assert f'href="/ma-carte-mutuelle/{contract_id}/pdf"' in page
    assert f'href="/envoyer/carte/{contract_id}"' in page
    assert "Télécharger" in page and "Envoyer par e-mail" in page and "<summary>" in page


def test_the_certificate_for_everyone_or_one_person(client, member):
    contract_id, people = ids(member)
    page = text(client.get("/attestation"))
    assert "Attestation d'adhésion" in page and "Samuel RIMON" in page and "Zoé RIMON" in page
    page = text(client.get(f"/attestation/{contract_id}?beneficiaire={people['Zoé']}"))
    table = page.split("<tbody>")[1]
    assert "Zoé RIMON" in table and "Samuel RIMON" not in table
    assert f"/attestation/{contract_id}/pdf?beneficiaire={people['Zoé']}" in page


def test_a_member_without_contract_in_force_gets_a_message(member_client, session):
    lone = make_member(session, contracts=[("C40OLD", "Socle", ContractKind.COLLECTIVE, date(2010, 1, 1))],
                       email="old@example.test")
    session.execute(Contract.__table__.update().values(ended_on=date(2015, 12, 31)))
    session.commit()
    login_member(member_client, lone)
    assert "aucune carte Mutuelle" in text(member_client.get("/ma-carte-mutuelle"))
    assert "aucune attestation" in text(member_client.get("/attestation"))


def test_the_pages_are_in_english_too(client):
    page = text(client.get("/ma-carte-mutuelle?lang=en"))
    assert "My MESE card" in page and "Download" in page and "Send by e-mail" in page


# -- PDF ------------------------------------------------------------------------------------------------

def test_the_card_pdf_holds_the_contract_and_the_people(client, member):
    contract_id, _ = ids(member)
    response = client.get(f"/ma-carte-mutuelle/{contract_id}/pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    assert "carte-mutuelle-C40SOCLE-" in response.headers["Content-Disposition"]
    content = pdf_text(response.data)
    assert "Carte Mutuelle" in content and "C40SOCLE" in content and member.number in content
    assert "Zoé RIMON" in content and "Samuel RIMON" in content and "284801XXXX" in content
    assert "2848013809111" not in content


def test_the_certificate_pdf_of_one_person(client, member):
    contract_id, people = ids(member)
    response = client.get(f"/attestation/{contract_id}/pdf?beneficiaire={people['Samuel']}")
    assert response.status_code == 200
    content = pdf_text(response.data)
    assert "Attestation d'adhésion" in content and "Samuel RIMON" in content and "Zoé RIMON" not in content
    assert "01/01/2018" in content  # covered since


def test_the_pdf_fonts_are_the_embedded_dejavu_faces(session, member):
    today = local_today(utcnow())
    contract = active_contracts(session, member, today)[0]
    data = render_cover_document(cover_document_context(member, contract, CoverDocument.CARD, today))
    fonts = {str(f["/BaseFont"]) for page in PdfReader(io.BytesIO(data)).pages
             for f in page["/Resources"]["/Font"].values()}
    assert any(f.endswith("+DejaVuSans-Bold") for f in fonts) and any(f.endswith("+DejaVuSans") for f in fonts)


# -- other families -------------------------------------------------------------------------------------

def test_another_familys_contract_or_person_answers_404_on_every_url(client, member, other):
    their_contract, their_people = ids(other)
    own_contract, _ = ids(member)
    for url in (f"/ma-carte-mutuelle/{their_contract}", f"/ma-carte-mutuelle/{their_contract}/pdf",
                f"/attestation/{their_contract}", f"/attestation/{their_contract}/pdf",
                f"/envoyer/carte/{their_contract}", f"/envoyer/attestation/{their_contract}",
                f"/attestation/{own_contract}?beneficiaire={their_people['Paul']}",
                f"/attestation/{own_contract}/pdf?beneficiaire={their_people['Samuel']}",
                f"/envoyer/attestation/{own_contract}?beneficiaire={their_people['Zoé']}",
                f"/attestation/{own_contract}?beneficiaire=abc", f"/attestation/{own_contract}?beneficiaire=-3",
                "/ma-carte-mutuelle/99999999", "/envoyer/autre/1"):
        assert client.get(url).status_code == 404, url
    response = client.post(f"/envoyer/carte/{their_contract}", data={"email": "dr@example.test"})
    assert response.status_code in (400, 404)


def test_anonymous_visitors_go_to_the_login_page(member_client, member):
    contract_id, _ = ids(member)
    for url in ("/ma-carte-mutuelle", f"/ma-carte-mutuelle/{contract_id}/pdf", "/attestation",
                f"/envoyer/carte/{contract_id}"):
        response = member_client.get(url)
        assert response.status_code == 302 and "/connexion" in response.location, url


# -- sending --------------------------------------------------------------------------------------------

def test_the_card_is_sent_with_its_pdf_and_audited(client, member, session, smtp, delivery):
    contract_id, _ = ids(member)
    response = send(client, f"/envoyer/carte/{contract_id}", "  Dr.Martin@Cabinet.example.fr ")
    assert response.status_code == 303 and response.location.endswith(f"/ma-carte-mutuelle/{contract_id}")
    assert "a bien été envoyée à D***@cabinet.example.fr" in text(client.get(response.location))
    message = session.scalars(select(OutboxMessage).where(OutboxMessage.template == "cover_document")).one()
    assert message.recipient == "Dr.Martin@cabinet.example.fr" and message.member_id == member.id
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == SENT_ACTION)).one()
    assert event.member_id == member.id and event.details["document"] == "carte"
    assert event.details["recipient"] == "D***@cabinet.example.fr"
    delivery.run()
    mails = smtp.to("dr.martin@cabinet.example.fr")
    assert len(mails) == 1 and "Carte Mutuelle MESE de Léa RIMON" in mails[0]["message"]["Subject"]
    attachments = list(mails[0]["message"].iter_attachments())
    assert [a.get_filename() for a in attachments] == [f"carte-mutuelle-C40SOCLE-{local_today(utcnow()).year}.pdf"]
    assert "Zoé RIMON" in pdf_text(attachments[0].get_content())


def test_the_certificate_of_one_person_is_sent_as_it_stood(client, member, session):
    contract_id, people = ids(member)
    response = send(client, f"/envoyer/attestation/{contract_id}?beneficiaire={people['Zoé']}",
                    "samuel@example.fr")
    assert response.status_code == 303 and f"beneficiaire={people['Zoé']}" in response.location
    message = session.scalars(select(OutboxMessage).where(OutboxMessage.template == "cover_document")).one()
    spec = message.attachments[0]
    assert spec["document"] == "attestation" and spec["beneficiary_id"] == people["Zoé"]
    [attachment] = load_attachments(session, message)
    content = pdf_text(attachment.data)
    assert "Zoé RIMON" in content and "Samuel RIMON" not in content


@pytest.mark.parametrize(("typed", "message"), [
    ("", "Saisissez l'adresse e-mail du destinataire."),
    ("pas-une-adresse", "Saisissez une adresse e-mail valide, par exemple nom@exemple.fr."),
    ("a@b", "Saisissez une adresse e-mail valide, par exemple nom@exemple.fr."),
    ("dr martin@example.fr", "Saisissez une adresse e-mail valide, par exemple nom@exemple.fr."),
    ("x" * 250 + "@example.fr", "Saisissez une adresse e-mail valide, par exemple nom@exemple.fr."),
])
def test_a_malformed_address_comes_back_with_its_message_next_to_the_field(client, member, session, typed, message):
    contract_id, _ = ids(member)
    response = send(client, f"/envoyer/carte/{contract_id}", typed)
    assert response.status_code == 200
    page = text(response)
    assert error_next_to(page, "email") == message
    assert "<title>Erreur :" in page
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_the_daily_limit_is_reached_with_a_clear_message_and_resets_the_next_day(client, member, session):
    contract_id, _ = ids(member)
    for n in range(DAILY_SEND_LIMIT):
        assert send(client, f"/envoyer/carte/{contract_id}", f"dr{n}@example.fr").status_code == 303
    response = send(client, f"/envoyer/attestation/{contract_id}", "one.more@example.fr")
    assert response.status_code == 200
    assert error_next_to(text(response), "email").startswith(
        f"Vous avez atteint la limite de {DAILY_SEND_LIMIT} envois par jour.")
    session.rollback()
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == DAILY_SEND_LIMIT
    # Yesterday's sends do not count today.
    session.execute(AuditEvent.__table__.update().values(at=utcnow() - timedelta(days=1, hours=1)))
    session.commit()
    assert sends_today(session, member, utcnow()) == 0
    assert send(client, f"/envoyer/attestation/{contract_id}", "one.more@example.fr").status_code == 303


def test_the_send_page_in_english(client, member):
    contract_id, _ = ids(member)
    page = text(send(client, f"/envoyer/carte/{contract_id}?lang=en", "nope"))
    assert "Enter a valid e-mail address" in page


def test_values_written_in_the_parts_are_escaped(client, session, member):
    """The card and the certificate are parts filled with the contract's and the people's values: each escaped."""
    contract, people = ids(member)
    member.contracts[0].product = 'Socle <b>"%(rows)s"</b>'
    person = next(b for b in member.beneficiaries if b.id == people["Zoé"])
    person.first_name = "Zoé <i>&</i>"
    session.commit()
    for url in ("/ma-carte-mutuelle", f"/attestation/{contract}", f"/attestation/{contract}?beneficiaire={person.id}"):
        page = client.get(url).get_data(as_text=True)  # as sent, entities not decoded
        assert "<b>" not in page and "<i>" not in page, url
        assert "Socle &lt;b&gt;&#34;%(rows)s&#34;&lt;/b&gt;" in page and "Zoé &lt;i&gt;&amp;&lt;/i&gt; RIMON" in page, url
