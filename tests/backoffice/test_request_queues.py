"""The queues of documents, contact messages, bank-details changes and tele-transmission, on the shared queue base."""

from __future__ import annotations

import io
import re
import threading
import time
from datetime import date, timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from models.audit.entities import AuditEvent
from models.base import utcnow
from models.content.entities import ContactReason, DocumentCategory, DocumentType
from models.contracts.entities import BankAccount
from models.db import session_factory
from models.outbox.entities import OutboxMessage
from models.requests import operations
from models.requests.contact import ContactInput, submit_contact
from models.requests.documents import DocumentInput, submit_documents
from models.requests.deadlines import local_today
from models.requests.entities import (
    BankDetailChangeRequest, DocumentSubmission, RequestStatus, TeletransmissionRequest,
)
from models.requests.teletransmission import TeletransmissionInput, submit_teletransmission
from models.requests.workflow import start_request
from models.staff.entities import StaffRole, StaffUser
from tests.factories import make_member, make_staff
from tests.helpers import login_staff

from .support import csrf_from, local

DOCS, CONTACT, BANK, TLT = "/depots-documents/", "/messages/", "/coordonnees-bancaires/", "/teletransmission/"


def pdf(seed: int = 0) -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (40, 40), (255, 255, 255))
    image.putpixel((seed % 40, seed // 40 % 40), (0, 0, 0))
    image.save(out, "PDF")
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (0, 120, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def lists(session):
    category = DocumentCategory(name="Remboursements")
    session.add(category)
    session.flush()
    types = [DocumentType(category_id=category.id, name="Facture"), DocumentType(category_id=category.id, name="Devis")]
    reason = ContactReason(name="Question sur mes garanties")
    session.add_all([*types, reason])
    session.commit()
    return {"category": category, "invoice": types[0], "quote": types[1], "reason": reason}


@pytest.fixture
def document(session, member, lists):
    """Builder of document submissions of ``member`` (committed)."""
    counter = iter(range(1, 10_000))

    def build(files=None):
        request = submit_documents(session, member, DocumentInput(
            category_id=lists["category"].id, type_id=lists["invoice"].id, beneficiary_id=member.beneficiaries[0].id,
            files=files or [("facture.pdf", pdf(next(counter)))], confirm_duplicates=True), now=utcnow())
        session.commit()
        return request

    return build


def post(client, path: str, data: dict | None = None, *, page: str):
    return client.post(path, data={**(data or {}), "csrf_token": csrf_from(client, page)})


def claimed(session, request, staff):
    operations.claim(session, request, staff=staff, now=utcnow())
    session.commit()
    return request


# -- every queue ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [DOCS, CONTACT, BANK, TLT])
def test_every_queue_lists_its_requests_with_the_next_button(as_staff, agent, path):
    html = as_staff(agent).get(path).get_data(as_text=True)
    assert "Prendre la demande suivante" in html and "Mes demandes en cours" in html


def test_each_queues_buttons_lead_to_that_queue_whichever_queue_was_shown_first(as_staff, agent):
    """The addresses a list page builds once are kept per queue: "take next" in one queue never takes from another."""
    client = as_staff(agent)
    for path in (DOCS, CONTACT, BANK, TLT, DOCS):
        html = client.get(path).get_data(as_text=True)
        forms = re.findall(r'<form method="post" action="([^"]*)">\s*<input type="hidden" name="csrf_token"', html)
        assert forms and all(f"/backoffice{path}" in action for action in forms), (path, forms)
        assert f'href="/backoffice{path}?flt0_0=open' in html, path


def test_documents_queue_list_filters_and_details(session, as_staff, agent, member, document, lists):
    request = document(files=[("facture.pdf", pdf(1)), ("photo.png", png())])
    client = as_staff(agent)
    html = client.get(DOCS).get_data(as_text=True)
    assert request.reference in html and "Facture" in html and member.number in html
    assert request.reference not in client.get(DOCS + f"?flt0_3={lists['quote'].id}").get_data(as_text=True)
    assert request.reference in client.get(DOCS + f"?flt0_3={lists['invoice'].id}").get_data(as_text=True)
    assert request.reference not in client.get(DOCS + "?flt0_2=me").get_data(as_text=True)
    assert request.reference in client.get(DOCS + "?flt0_2=none").get_data(as_text=True)
    details = client.get(DOCS + f"details/?id={request.id}").get_data(as_text=True)
    for expected in ("Prendre cette demande", "facture.pdf", "photo.png", "<img", "Demande reçue"):
        assert expected in details, expected


def test_overdue_requests_stand_out_and_the_due_filter_finds_them(session, as_staff, agent, document):
    late = document()
    late.due_on = utcnow().date() - timedelta(days=3)
    on_time = document()
    session.commit()
    client = as_staff(agent)
    html = client.get(DOCS).get_data(as_text=True)
    assert "(en retard)" in html
    overdue = client.get(DOCS + "?flt0_1=overdue").get_data(as_text=True)
    assert late.reference in overdue and on_time.reference not in overdue


def test_files_are_served_to_signed_in_staff_inline_and_never_run(session, backoffice_client, as_staff, agent,
                                                                   document, member):
    request = document(files=[("facture.pdf", pdf(3)), ("photo.png", png())])
    links = {f.file.filename: f.file_id for f in operations_files(session, request)}
    path = DOCS + f"{request.id}/fichiers/{links['facture.pdf']}"
    anonymous = backoffice_client.get(path)
    assert anonymous.status_code == 302 and local(anonymous.location).startswith("/connexion")
    response = as_staff(agent).get(path)
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline;")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'none'" in policy and "default-src 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.data.startswith(b"%PDF")
    image = as_staff(agent).get(DOCS + f"{request.id}/fichiers/{links['photo.png']}")
    assert image.mimetype == "image/png"
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "backoffice.file_viewed", AuditEvent.member_id == member.id)) == 2


def test_a_file_of_another_request_is_not_found(session, as_staff, agent, document):
    first, second = document(), document()
    other_file = operations_files(session, second)[0].file_id
    assert as_staff(agent).get(DOCS + f"{first.id}/fichiers/{other_file}").status_code == 404
    assert as_staff(agent).get(DOCS + f"999999/fichiers/{other_file}").status_code == 404


def operations_files(session, request):
    from models.requests.queries import request_files

    return request_files(session, request)


def test_classify_ask_member_and_close(session, as_staff, agent, document, lists, reload, member):
    request = claimed(session, document(), agent)
    client = as_staff(agent)
    page = DOCS + f"details/?id={request.id}"
    post(client, DOCS + f"{request.id}/classer/", {"type_id": lists["quote"].id}, page=page)
    assert reload(DocumentSubmission, request.id).type_id == lists["quote"].id
    post(client, DOCS + f"{request.id}/question/", {"question": "Merci d'envoyer le devis signé."}, page=page)
    assert reload(DocumentSubmission, request.id).status is RequestStatus.WAITING_MEMBER
    operations.answer(session, member, reload(DocumentSubmission, request.id), text="Le voici",
                      files=[("signe.pdf", pdf(99))], now=utcnow())
    session.commit()
    html = client.get(page).get_data(as_text=True)
    assert "Le voici" in html and "signe.pdf" in html and "Merci d&#39;envoyer le devis signé." in html
    post(client, DOCS + f"{request.id}/terminer/", page=page)
    assert reload(DocumentSubmission, request.id).status is RequestStatus.DONE


def test_an_agent_never_acts_on_a_request_held_by_a_colleague(session, as_staff, agent, document, lists, reload):
    request = claimed(session, document(), make_staff(session, StaffRole.AGENT))
    client = as_staff(agent)
    page = DOCS + f"details/?id={request.id}"
    html = client.get(page).get_data(as_text=True)
    assert "Cette demande est traitée par" in html and "Refuser" not in html
    for action, data in (("classer", {"type_id": lists["quote"].id}), ("question", {"question": "?"}),
                         ("terminer", {}), ("refuser", {"reason": "Non"}), ("remettre", {}), ("prendre", {})):
        post(client, DOCS + f"{request.id}/{action}/", data, page=page)
        after = reload(DocumentSubmission, request.id)
        assert (after.status, after.type_id) == (RequestStatus.IN_PROGRESS, lists["invoice"].id), action
    assert "déjà été prise en charge" in client.get(page).get_data(as_text=True)  # the last refusal shown


def test_a_manager_reassigns(session, as_staff, manager, agent, document, reload):
    request = claimed(session, document(), make_staff(session, StaffRole.AGENT))
    client = as_staff(manager)
    page = DOCS + f"details/?id={request.id}"
    post(client, DOCS + f"{request.id}/reattribuer/", {"staff_id": agent.id}, page=page)
    assert reload(DocumentSubmission, request.id).assigned_to_id == agent.id
    assert "Réattribuée à Test agent" in client.get(page).get_data(as_text=True)


def test_an_agent_cannot_reassign(session, as_staff, agent, document, reload):
    request = claimed(session, document(), agent)
    client = as_staff(agent)
    colleague = make_staff(session, StaffRole.AGENT)
    post(client, DOCS + f"{request.id}/reattribuer/", {"staff_id": colleague.id}, page=DOCS)
    assert reload(DocumentSubmission, request.id).assigned_to_id == agent.id


# -- contact ------------------------------------------------------------------------------------------

def test_contact_reply_then_close(session, as_staff, agent, member, lists, reload):
    request = submit_contact(session, member, ContactInput(reason_id=lists["reason"].id,
                                                           beneficiary_id=member.beneficiaries[0].id,
                                                           message="Mes lunettes sont-elles couvertes ?"), now=utcnow())
    session.commit()
    client = as_staff(agent)
    page = CONTACT + f"details/?id={request.id}"
    assert "Mes lunettes sont-elles couvertes ?" in client.get(page).get_data(as_text=True)
    post(client, CONTACT + f"{request.id}/prendre/", page=page)
    post(client, CONTACT + f"{request.id}/repondre/", {"text": "Oui, jusqu'à 200 €."}, page=page)
    post(client, CONTACT + f"{request.id}/terminer/", page=page)
    assert reload(type(request), request.id).status is RequestStatus.DONE
    templates = session.scalars(select(OutboxMessage.template).where(OutboxMessage.related == request.reference)
                                .order_by(OutboxMessage.id)).all()
    assert templates == ["request_received", "request_reply", "request_done"]


# -- bank details: four eyes ---------------------------------------------------------------------------

def bank_request(session, member) -> BankDetailChangeRequest:
    request = BankDetailChangeRequest(member_id=member.id, holder="Léa RIMON", iban="FR7630006000011234567890189",
                                      bic="AGRIFRPP")
    start_request(session, request, now=utcnow())
    session.commit()
    return request


def test_bank_change_four_eyes_in_the_back_office(session, new_client, agent, manager, member, reload):
    session.add(BankAccount(member_id=member.id, holder="Léa RIMON", iban="FR7610278000001000000038136",
                            bic="CMCIFR2A", valid_from=utcnow() - timedelta(days=400)))
    request = claimed(session, bank_request(session, member), agent)
    agent_client, manager_client = new_client(), new_client()
    login_staff(agent_client, agent)
    login_staff(manager_client, manager)
    page = BANK + f"details/?id={request.id}"
    html = agent_client.get(page).get_data(as_text=True)
    assert "FR7630006000011234567890189" in html and "XXXX.XXXXXXXX.XXXXXXXX.XXXX.136" in html
    assert "Proposer le changement" in html and "Valider le changement" not in html
    today = local_today(utcnow())  # the day in Paris: the rule compares with it (after 23:00 UTC, not the UTC day)
    post(agent_client, BANK + f"{request.id}/proposer/", {"effective_on": today.isoformat()}, page=page)
    assert reload(BankDetailChangeRequest, request.id).awaiting_approval
    # The agent who proposed cannot approve; the button is not even offered.
    assert "Valider le changement" not in agent_client.get(page).get_data(as_text=True)
    post(agent_client, BANK + f"{request.id}/valider/", page=page)
    assert reload(BankDetailChangeRequest, request.id).status is RequestStatus.IN_PROGRESS
    assert "À valider" in manager_client.get(BANK).get_data(as_text=True)
    assert request.reference in manager_client.get(BANK + "?flt0_3=waiting").get_data(as_text=True)
    post(manager_client, BANK + f"{request.id}/valider/", page=page)
    done = reload(BankDetailChangeRequest, request.id)
    assert done.status is RequestStatus.DONE and done.approved_by_id == manager.id
    assert session.scalar(select(func.count()).select_from(BankAccount).where(BankAccount.member_id == member.id)) == 2


def test_bank_list_shows_ibans_masked(session, as_staff, manager, member):
    bank_request(session, member)
    html = as_staff(manager).get(BANK).get_data(as_text=True)
    assert "XXXX.XXXXXXXX.XXXXXXXX.XXXX.189" in html and "FR7630006000011234567890189" not in html


# -- tele-transmission --------------------------------------------------------------------------------

def test_teletransmission_done_activates_it(session, as_staff, agent, member, reload):
    person = member.beneficiaries[1]
    request = submit_teletransmission(session, member, TeletransmissionInput(
        beneficiary_id=person.id, files=[("attestation.pdf", pdf(7))]), now=utcnow())
    session.commit()
    client = as_staff(agent)
    page = TLT + f"details/?id={request.id}"
    post(client, TLT + f"{request.id}/prendre/", page=page)
    assert "Télétransmission mise en place : activer" in client.get(page).get_data(as_text=True)
    post(client, TLT + f"{request.id}/terminer/", page=page)
    assert reload(TeletransmissionRequest, request.id).status is RequestStatus.DONE
    session.expire_all()
    assert session.get(type(person), person.id).teletransmission_active


# -- the home page and concurrency ---------------------------------------------------------------------

def test_home_shows_every_queue(session, as_staff, agent, document, member):
    mine = claimed(session, document(), agent)
    document()
    html = " ".join(as_staff(agent).get("/").get_data(as_text=True).split())
    for name in ("Prises en charge hospitalières", "Dépôts de documents", "Messages des adhérents",
                 "Coordonnées bancaires", "Télétransmission"):
        assert f">{name}</a></th>" in html, name
    row = html.split(">Dépôts de documents</a></th>")[1].split("</tr>")[0]
    assert row.strip().startswith("<td>1</td> <td>1</td> <td>0</td> <td>0</td> <td>0</td>")
    assert mine.reference in html


def test_eight_agents_claiming_at_once_never_get_the_same_request(session, models_config, member, lists):
    agents_count, each = 8, 4
    for i in range(agents_count * each - 3):  # fewer requests than claims: some agents find the queue empty
        request = DocumentSubmission(member_id=member.id, category_id=lists["category"].id,
                                     type_id=lists["invoice"].id, beneficiary_id=member.beneficiaries[0].id)
        start_request(session, request, now=utcnow() - timedelta(minutes=i))
    session.commit()
    agents = [make_staff(session, StaffRole.AGENT) for _ in range(agents_count)]
    factory = session_factory(models_config)
    start = threading.Barrier(agents_count, timeout=30)
    got: dict[int, list[int]] = {a.id: [] for a in agents}
    errors: list[Exception] = []

    def work(staff_id: int) -> None:
        try:
            with factory() as own:
                # An agent who had to wait for a colleague's row would fail here: SKIP LOCKED never waits.
                own.connection().exec_driver_sql("SET lock_timeout = '1s'")
                staff = own.get(StaffUser, staff_id)
                start.wait()
                for _ in range(each):
                    taken = operations.claim_next(own, DocumentSubmission, staff=staff, now=utcnow())
                    time.sleep(0.3)  # the agent's transaction holds its row a moment, as a slow page would
                    own.commit()
                    if taken is not None:
                        got[staff_id].append(taken.id)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a.id,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "an agent waited for a colleague's lock"
    assert not errors, errors
    claimed_ids = [i for ids in got.values() for i in ids]
    assert len(claimed_ids) == len(set(claimed_ids)) == agents_count * each - 3
    session.expire_all()
    rows = session.scalars(select(DocumentSubmission)).all()
    assert {r.id: r.assigned_to_id for r in rows} == {i: s for s, ids in got.items() for i in ids}


def test_due_date_is_shown_paused_while_waiting(session, as_staff, agent, document):
    request = claimed(session, document(), agent)
    operations.ask_member(session, request, staff=agent, question="?", now=utcnow())
    session.commit()
    assert "(suspendue)" in as_staff(agent).get(DOCS + "?flt0_0=waiting_member").get_data(as_text=True)
    assert request.due_on >= date.today()
