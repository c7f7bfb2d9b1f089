"""Use cases of the requests members send (documents, contact, tele-transmission) and the shared queue actions."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select

from models.audit.entities import AuditEvent
from models.content.entities import ContactReason, DocumentCategory, DocumentType
from models.errors import DomainError, InvalidTransition, ValidationFailed
from models.files.entities import StoredFile
from models.files.uploads import UploadRejected
from models.outbox.entities import OutboxMessage
from models.requests import operations
from models.requests.contact import ContactInput, submit_contact
from models.requests.documents import DocumentInput, classify_documents, submit_documents
from models.requests.entities import (
    Action, ContactRequest, DocumentSubmission, MessageAuthor, RequestEvent, RequestFile, RequestMessage,
    RequestStatus, TeletransmissionRequest,
)
from models.requests.queries import (
    family_requests, member_request, pending_teletransmission, queue_overview, request_files, request_messages,
)
from models.requests.teletransmission import TeletransmissionInput, activate_teletransmission, submit_teletransmission
from models.requests.workflow import allowed_actions
from models.staff.entities import StaffRole
from tests.factories import make_member, make_staff

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)  # a Wednesday
S = RequestStatus


def pdf(text: str = "facture") -> bytes:
    """A small valid PDF (made with Pillow), different for each ``text``."""
    image = Image.new("RGB", (60, 40), (255, 255, 255))
    image.putpixel((len(text) % 60, 0), (0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PDF", title=text)
    return out.getvalue()


def png(color=(200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (30, 30), color).save(out, "PNG")
    return out.getvalue()


def counts(session) -> dict[str, int]:
    """Rows that a refused request must not leave behind."""
    session.expire_all()
    return {name: session.scalar(select(func.count()).select_from(model)) for name, model in (
        ("documents", DocumentSubmission), ("contacts", ContactRequest), ("files", StoredFile),
        ("links", RequestFile), ("outbox", OutboxMessage), ("teletransmission", TeletransmissionRequest))}


@pytest.fixture
def member(session):
    return make_member(session)


@pytest.fixture
def other_family(session):
    return make_member(session, email="other@example.test")


@pytest.fixture
def agent(session):
    return make_staff(session, StaffRole.AGENT)


@pytest.fixture
def lists(session):
    """The staff-managed lists: two categories with their types, two contact reasons."""
    bills = DocumentCategory(name="Remboursements", position=0)
    family = DocumentCategory(name="Adhésion et bénéficiaires", position=1)
    session.add_all([bills, family])
    session.flush()
    invoice = DocumentType(category_id=bills.id, name="Facture")
    birth = DocumentType(category_id=family.id, name="Acte de naissance")
    reason = ContactReason(name="Question sur un remboursement")
    session.add_all([invoice, birth, reason])
    session.commit()
    return {"bills": bills, "family": family, "invoice": invoice, "birth": birth, "reason": reason}


def documents(member, lists, **overrides) -> DocumentInput:
    fields = dict(category_id=lists["bills"].id, type_id=lists["invoice"].id,
                  beneficiary_id=member.beneficiaries[1].id, comment="Facture de l'opticien",
                  files=[("facture.pdf", pdf())])
    fields.update(overrides)
    return DocumentInput(**fields)


# -- documents ----------------------------------------------------------------------------------------

def test_documents_are_stored_referenced_and_acknowledged(session, member, lists):
    request = submit_documents(session, member, documents(member, lists, files=[("a.pdf", pdf("a")),
                                                                                 ("photo.png", png())]), now=NOW)
    session.commit()
    assert request.reference == "DOC-2026-000001" and request.status is S.NEW
    assert request.due_on == date(2026, 12, 16)  # ten working days
    files = request_files(session, request)
    assert [f.file.filename for f in files] == ["a.pdf", "photo.png"]
    assert all(f.file.member_id == member.id for f in files)
    mail = session.scalar(select(OutboxMessage).where(OutboxMessage.related == request.reference))
    assert mail.recipient == member.email and request.reference in mail.subject
    assert "Facture" not in mail.text_body and "opticien" not in mail.text_body  # no detail of the request
    audit = session.scalar(select(AuditEvent).where(AuditEvent.action == "document.submitted"))
    assert audit.member_id == member.id and audit.details["files"] == 2


def test_every_wrong_field_is_reported_at_once_and_nothing_is_written(session, member, lists):
    before = counts(session)
    with pytest.raises(ValidationFailed) as caught:
        submit_documents(session, member, documents(member, lists, type_id=lists["birth"].id, beneficiary_id=None,
                                                    comment="x" * 5001), now=NOW)
    session.rollback()
    assert set(caught.value.errors) == {"type_id", "beneficiary_id", "comment"}
    assert counts(session) == before


def test_another_familys_beneficiary_is_refused(session, member, other_family, lists):
    before = counts(session)
    with pytest.raises(ValidationFailed) as caught:
        submit_documents(session, member, documents(member, lists, beneficiary_id=other_family.beneficiaries[0].id),
                         now=NOW)
    session.rollback()
    assert caught.value.errors == {"beneficiary_id": ["Choisissez une personne de votre contrat."]}
    assert counts(session) == before


def test_a_refused_file_writes_no_row_and_no_file(session, member, lists, files_dir):
    stored_before = sorted(p for p in files_dir.rglob("*") if p.is_file())
    before = counts(session)
    with pytest.raises(UploadRejected):
        submit_documents(session, member, documents(member, lists, files=[("ok.pdf", pdf("ok")),
                                                                          ("virus.pdf", b"MZ\x90\x00" * 100)]), now=NOW)
    session.rollback()
    assert counts(session) == before
    assert sorted(p for p in files_dir.rglob("*") if p.is_file()) == stored_before


def test_a_double_click_sends_one_request(session, member, lists):
    data = documents(member, lists, form_token="t" * 24)
    first = submit_documents(session, member, data, now=NOW)
    session.commit()
    second = submit_documents(session, member, data, now=NOW + timedelta(seconds=1))
    session.commit()
    assert first.id == second.id
    assert counts(session)["documents"] == 1 and counts(session)["outbox"] == 1


def test_the_same_file_within_30_days_is_pointed_out_and_sent_only_when_confirmed(session, member, lists):
    same = pdf("same")
    submit_documents(session, member, documents(member, lists, files=[("a.pdf", same)]), now=NOW)
    session.commit()
    before = counts(session)
    with pytest.raises(operations.DuplicateFiles) as caught:
        submit_documents(session, member, documents(member, lists, files=[("copie.pdf", same)]),
                         now=NOW + timedelta(days=29))
    session.rollback()
    assert "copie.pdf" in caught.value.message and counts(session) == before
    submit_documents(session, member, documents(member, lists, files=[("copie.pdf", same)], confirm_duplicates=True),
                     now=NOW + timedelta(days=29))
    # After 30 days the same file is just a new file.
    submit_documents(session, member, documents(member, lists, files=[("copie.pdf", same)]),
                     now=NOW + timedelta(days=61))
    session.commit()
    assert counts(session)["documents"] == 3


def test_the_agent_reclassifies_with_history(session, member, lists, agent):
    request = submit_documents(session, member, documents(member, lists), now=NOW)
    operations.claim(session, request, staff=agent, now=NOW)
    classify_documents(session, request, staff=agent, type_id=lists["birth"].id, now=NOW)
    session.commit()
    assert (request.category_id, request.type_id) == (lists["family"].id, lists["birth"].id)
    note = session.scalars(select(RequestEvent.note).where(RequestEvent.request_id == request.id)).all()[-1]
    assert note == "Classement : Remboursements / Facture → Adhésion et bénéficiaires / Acte de naissance"


# -- contact ------------------------------------------------------------------------------------------

def test_contact_message_with_optional_attachments(session, member, lists):
    without = submit_contact(session, member, ContactInput(reason_id=lists["reason"].id,
                                                           beneficiary_id=member.beneficiaries[0].id,
                                                           message="  Bonjour, une question.  "), now=NOW)
    with_file = submit_contact(session, member, ContactInput(reason_id=lists["reason"].id,
                                                             beneficiary_id=member.beneficiaries[0].id, message="Voir PJ",
                                                             files=[("devis.pdf", pdf("devis"))]), now=NOW)
    session.commit()
    assert without.message == "Bonjour, une question." and without.reference.startswith("CTC-2026-")
    assert request_files(session, without) == [] and len(request_files(session, with_file)) == 1
    assert without.due_on == date(2026, 12, 9)  # five working days


def test_contact_needs_a_reason_a_person_and_a_message(session, member):
    with pytest.raises(ValidationFailed) as caught:
        submit_contact(session, member, ContactInput(reason_id=None, beneficiary_id=None, message="  "), now=NOW)
    assert set(caught.value.errors) == {"reason_id", "beneficiary_id", "message"}


def test_reply_is_read_in_mes_demandes_and_the_email_carries_no_text(session, member, lists, agent):
    request = submit_contact(session, member, ContactInput(reason_id=lists["reason"].id,
                                                           beneficiary_id=member.beneficiaries[0].id,
                                                           message="Ma cataracte est-elle couverte ?"), now=NOW)
    operations.claim(session, request, staff=agent, now=NOW)
    operations.reply(session, request, staff=agent, text="Oui, à 100 % dans le réseau Kalixia.", now=NOW)
    operations.close(session, request, staff=agent, now=NOW)
    session.commit()
    assert [m.body for m in request_messages(session, request)] == ["Oui, à 100 % dans le réseau Kalixia."]
    mails = session.scalars(select(OutboxMessage).where(OutboxMessage.related == request.reference)
                            .order_by(OutboxMessage.id)).all()
    assert [m.template for m in mails] == ["request_received", "request_reply", "request_done"]
    assert not any("Kalixia" in m.text_body or "cataracte" in m.text_body for m in mails)


# -- tele-transmission -------------------------------------------------------------------------------

def test_teletransmission_is_asked_once_per_person_and_done_activates_it(session, member, agent):
    child = member.beneficiaries[2]
    request = submit_teletransmission(session, member, TeletransmissionInput(
        beneficiary_id=child.id, files=[("attestation.pdf", pdf("ameli"))]), now=NOW)
    session.commit()
    assert pending_teletransmission(session, member) == {child.id}
    with pytest.raises(DomainError, match="déjà en cours"):
        submit_teletransmission(session, member, TeletransmissionInput(
            beneficiary_id=child.id, files=[("autre.pdf", pdf("autre"))]), now=NOW)
    session.rollback()
    operations.claim(session, request, staff=agent, now=NOW)
    activate_teletransmission(session, request, staff=agent, now=NOW)
    session.commit()
    session.refresh(child)
    assert child.teletransmission_active and request.status is S.DONE
    assert pending_teletransmission(session, member) == set()
    with pytest.raises(DomainError, match="déjà activée"):
        submit_teletransmission(session, member, TeletransmissionInput(
            beneficiary_id=child.id, files=[("x.pdf", pdf("x"))]), now=NOW)


def test_teletransmission_needs_the_attestation(session, member):
    with pytest.raises(UploadRejected):
        submit_teletransmission(session, member, TeletransmissionInput(beneficiary_id=member.beneficiaries[0].id),
                                now=NOW)


# -- waiting for the member ---------------------------------------------------------------------------

def test_asking_the_member_pauses_the_clock_and_the_answer_goes_back_to_the_agent(session, member, lists, agent):
    request = submit_documents(session, member, documents(member, lists), now=NOW)
    operations.claim(session, request, staff=agent, now=NOW)
    assert request.due_on == date(2026, 12, 16)
    operations.ask_member(session, request, staff=agent, question="Le verso de la facture, svp.",
                          now=datetime(2026, 12, 3, 10, tzinfo=UTC))
    session.commit()
    assert request.status is S.WAITING_MEMBER
    mail = session.scalars(select(OutboxMessage).where(OutboxMessage.template == "request_question")).one()
    assert "verso" not in mail.text_body and request.reference in mail.text_body
    # Answered on Friday 11 December: the clock stood still for six working days (4 and 7 to 11 December).
    answered_at = datetime(2026, 12, 11, 16, tzinfo=UTC)
    message = operations.answer(session, member, request, text="Voici le verso.",
                                files=[("verso.png", png((10, 10, 10)))], now=answered_at)
    session.commit()
    assert request.status is S.IN_PROGRESS and request.assigned_to_id == agent.id and request.waiting_since is None
    assert request.due_on == date(2026, 12, 24)  # 16 Dec + 6 working days (4 to 11 Dec)
    assert message.author is MessageAuthor.MEMBER and [f.file.filename for f in message.files] == ["verso.png"]
    events = session.scalars(select(AuditEvent.action).where(AuditEvent.member_id == member.id)).all()
    assert "request.answered" in events


def test_an_answer_is_refused_when_nothing_is_asked_or_it_is_empty(session, member, lists, agent):
    request = submit_documents(session, member, documents(member, lists), now=NOW)
    session.commit()
    with pytest.raises(DomainError, match="n'attend pas"):
        operations.answer(session, member, request, text="Coucou", files=[], now=NOW)
    operations.claim(session, request, staff=agent, now=NOW)
    operations.ask_member(session, request, staff=agent, question="?", now=NOW)
    session.commit()
    with pytest.raises(DomainError, match="Écrivez votre réponse"):
        operations.answer(session, member, request, text="  ", files=[], now=NOW)
    session.rollback()
    assert session.scalar(select(func.count()).select_from(RequestMessage)) == 1  # the question only


def test_another_member_cannot_answer(session, member, other_family, lists, agent):
    request = submit_documents(session, member, documents(member, lists), now=NOW)
    operations.claim(session, request, staff=agent, now=NOW)
    operations.ask_member(session, request, staff=agent, question="?", now=NOW)
    session.commit()
    with pytest.raises(DomainError):
        operations.answer(session, other_family, request, text="Je réponds à sa place", files=[], now=NOW)
    assert member_request(session, other_family, request.reference) is None
    assert member_request(session, member, request.reference.lower()).id == request.id


def test_overdue_counts_leave_out_requests_waiting_for_the_member(session, member, lists, agent):
    late = submit_documents(session, member, documents(member, lists, files=[("a.pdf", pdf("1"))]), now=NOW)
    paused = submit_documents(session, member, documents(member, lists, files=[("b.pdf", pdf("2"))]), now=NOW)
    today_one = submit_documents(session, member, documents(member, lists, files=[("c.pdf", pdf("3"))]), now=NOW)
    operations.claim(session, paused, staff=agent, now=NOW)
    operations.ask_member(session, paused, staff=agent, question="?", now=NOW)
    today_one.due_on = date(2027, 1, 4)
    session.commit()
    overview = queue_overview(session, DocumentSubmission, staff=agent, today=date(2027, 1, 4))
    assert (overview.counts[S.NEW], overview.counts[S.WAITING_MEMBER]) == (2, 1)
    assert overview.overdue == 1 and overview.due_today == 1
    assert [r.id for r in overview.mine] == [paused.id]
    assert late.due_on < date(2027, 1, 4)


# -- who may do what -----------------------------------------------------------------------------------

def test_an_agent_never_acts_on_a_request_held_by_a_colleague(session, member, lists, agent):
    colleague = make_staff(session, StaffRole.AGENT)
    request = submit_documents(session, member, documents(member, lists), now=NOW)
    operations.claim(session, request, staff=colleague, now=NOW)
    session.commit()
    assert allowed_actions(request, agent) == frozenset()
    attempts = [
        lambda: operations.claim(session, request, staff=agent, now=NOW),
        lambda: operations.release(session, request, staff=agent, now=NOW),
        lambda: operations.ask_member(session, request, staff=agent, question="?", now=NOW),
        lambda: operations.reject(session, request, staff=agent, reason="Non", now=NOW),
        lambda: operations.close(session, request, staff=agent, now=NOW),
        lambda: classify_documents(session, request, staff=agent, type_id=request.type_id, now=NOW),
        lambda: operations.reassign(session, request, staff=agent, to=agent, now=NOW),
    ]
    for attempt in attempts:
        with pytest.raises(InvalidTransition):
            attempt()
    assert request.status is S.IN_PROGRESS and request.assigned_to_id == colleague.id


def test_the_holder_gets_the_actions_of_the_type_and_a_manager_can_reassign(session, member, lists, agent):
    manager = make_staff(session, StaffRole.MANAGER)
    request = submit_documents(session, member, documents(member, lists), now=NOW)
    session.commit()
    assert allowed_actions(request, agent) == {Action.CLAIM}
    assert allowed_actions(request, manager) == {Action.CLAIM, Action.REASSIGN}
    operations.claim(session, request, staff=agent, now=NOW)
    assert allowed_actions(request, agent) == {Action.RELEASE, Action.CLASSIFY, Action.CLOSE, Action.ASK_MEMBER,
                                               Action.REJECT}
    other = make_staff(session, StaffRole.AGENT)
    operations.reassign(session, request, staff=manager, to=other, now=NOW)
    session.commit()
    assert request.assigned_to_id == other.id and allowed_actions(request, agent) == frozenset()
    with pytest.raises(InvalidTransition, match="déjà attribuée"):
        operations.reassign(session, request, staff=manager, to=other, now=NOW)


def test_reassigning_a_new_request_takes_it_in_charge_for_the_colleague(session, member, lists, agent):
    manager = make_staff(session, StaffRole.MANAGER)
    request = submit_documents(session, member, documents(member, lists), now=NOW)
    operations.reassign(session, request, staff=manager, to=agent, now=NOW)
    assert (request.status, request.assigned_to_id) == (S.IN_PROGRESS, agent.id)


def test_a_rejection_needs_a_reason_and_tells_the_member_to_read_it_in_mes_demandes(session, member, lists, agent):
    request = submit_documents(session, member, documents(member, lists), now=NOW)
    operations.claim(session, request, staff=agent, now=NOW)
    with pytest.raises(DomainError, match="motif"):
        operations.reject(session, request, staff=agent, reason="   ", now=NOW)
    operations.reject(session, request, staff=agent, reason="Document illisible.", now=NOW)
    session.commit()
    assert request.status is S.REJECTED and request.resolution_note == "Document illisible."
    mail = session.scalars(select(OutboxMessage).where(OutboxMessage.template == "request_rejected")).one()
    assert "illisible" not in mail.text_body


def test_mes_demandes_lists_every_type_of_the_family_only(session, member, other_family, lists):
    doc = submit_documents(session, member, documents(member, lists), now=NOW)
    ctc = submit_contact(session, member, ContactInput(reason_id=lists["reason"].id,
                                                       beneficiary_id=member.beneficiaries[0].id, message="Bonjour"),
                         now=NOW + timedelta(minutes=1))
    submit_contact(session, other_family, ContactInput(reason_id=lists["reason"].id,
                                                       beneficiary_id=other_family.beneficiaries[0].id,
                                                       message="Autre famille"), now=NOW)
    session.commit()
    lines = family_requests(session, member.id)
    assert [line.reference for line in lines] == [ctc.reference, doc.reference]
    assert [line.beneficiary for line in lines] == [r.beneficiary.full_name if r.beneficiary else None
                                                    for r in (ctc, doc)]
    assert [(line.status, line.due_on, line.type_label) for line in lines] == [(r.status, r.due_on, r.type_label)
                                                                              for r in (ctc, doc)]
    assert [line.reference for line in family_requests(session, member.id, limit_per_type=5, limit=1)] == \
        [ctc.reference]
    assert family_requests(session, member.id + 10_000) == []
    assert member_request(session, member, "XYZ-2026-000001") is None
    assert member_request(session, member, "") is None
