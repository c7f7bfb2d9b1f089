"""Demo data of the requests members send: the staff-managed lists and a few requests in various states."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .base import utcnow
from .content.entities import ContactReason, DocumentCategory, DocumentType
from .files.storage import store_bytes
from .members.entities import Member
from .outbox.entities import OutboxMessage, OutboxStatus
from .requests import operations
from .requests.bank_details import propose_bank_change
from .requests.contact import ContactInput, submit_contact
from .requests.documents import DocumentInput, submit_documents
from .requests.entities import BankDetailChangeRequest, RequestFile
from .requests.teletransmission import TeletransmissionInput, submit_teletransmission
from .requests.workflow import local_today, start_request
from .staff.entities import StaffUser

#: Categories of the document form and their types, in the order members see them.
DOCUMENT_CATEGORIES = {
    "Remboursements": ["Facture", "Décompte de la Sécurité sociale", "Devis"],
    "Adhésion et bénéficiaires": ["Acte de naissance", "Attestation de droits (ameli)", "Certificat de scolarité"],
    "Coordonnées bancaires": ["RIB"],
}
CONTACT_REASONS = ["Question sur un remboursement", "Question sur mes garanties", "Modification de ma situation",
                   "Cotisations", "Demande de rendez-vous", "Autre demande"]


def _scan(text: str) -> bytes:
    """A one-page PDF standing for a scanned document."""
    image = Image.new("RGB", (420, 595), (255, 255, 255))
    for x in range(40, 380):
        image.putpixel((x, 60 + len(text) % 40), (20, 20, 20))
    out = io.BytesIO()
    image.save(out, "PDF", title=text)
    return out.getvalue()


def _lists(session: Session) -> tuple[dict[str, DocumentType], dict[str, ContactReason]]:
    """The staff-managed lists (created once; a demo loaded again keeps them)."""
    types: dict[str, DocumentType] = {}
    for position, (name, type_names) in enumerate(DOCUMENT_CATEGORIES.items()):
        category = session.scalar(select(DocumentCategory).where(DocumentCategory.name == name))
        if category is None:
            category = DocumentCategory(name=name, position=position)
            session.add(category)
            session.flush()
        for i, type_name in enumerate(type_names):
            found = next((t for t in category.types if t.name == type_name), None)
            if found is None:
                found = DocumentType(category_id=category.id, name=type_name, position=i)
                session.add(found)
                session.flush()
            types[type_name] = found
    reasons: dict[str, ContactReason] = {}
    for position, name in enumerate(CONTACT_REASONS):
        reason = session.scalar(select(ContactReason).where(ContactReason.name == name))
        if reason is None:
            reason = ContactReason(name=name, position=position)
            session.add(reason)
            session.flush()
        reasons[name] = reason
    return types, reasons


def load_requests_demo(session: Session, *, now: datetime | None = None) -> None:
    """The lists of the forms, and for Léa RIMON a few requests: documents waiting for her answer, a contact
    message answered, a bank-details change waiting for a manager's approval, a tele-transmission request."""
    now = now or utcnow()
    types, reasons = _lists(session)
    lea = session.scalar(select(Member).where(Member.number == "4400000"))
    agent = session.scalar(select(StaffUser).where(StaffUser.email == "agent@mese.fr"))
    if lea is None or agent is None:
        return
    zoe, samuel = lea.beneficiaries[2], lea.beneficiaries[1]
    docs = submit_documents(session, lea, DocumentInput(
        category_id=types["Facture"].category_id, type_id=types["Facture"].id, beneficiary_id=zoe.id,
        comment="Facture de l'orthodontiste", files=[("facture-orthodontiste.pdf", _scan("orthodontiste"))]),
        now=now - timedelta(days=6))
    operations.claim(session, docs, staff=agent, now=now - timedelta(days=5))
    operations.ask_member(session, docs, staff=agent, now=now - timedelta(days=5),
                          question="La facture est illisible en bas de page : pouvez-vous la renvoyer ?")
    contact = submit_contact(session, lea, ContactInput(
        reason_id=reasons["Question sur mes garanties"].id, beneficiary_id=samuel.id,
        message="Bonjour, les lunettes de mon mari sont-elles prises en charge cette année ?"),
        now=now - timedelta(days=3))
    operations.claim(session, contact, staff=agent, now=now - timedelta(days=2))
    operations.reply(session, contact, staff=agent, now=now - timedelta(days=2),
                     text="Bonjour Madame, oui : une paire tous les deux ans, jusqu'à 200 € chez un opticien Kalixia.")
    operations.close(session, contact, staff=agent, now=now - timedelta(days=2))
    bank = BankDetailChangeRequest(member_id=lea.id, holder="Léa RIMON", iban="FR7630006000011234567890189",
                                   bic="AGRIFRPP", confirmed_by="sms")
    start_request(session, bank, now=now - timedelta(days=1))
    rib = store_bytes(session, _scan("rib"), filename="rib.pdf", content_type="application/pdf", member_id=lea.id,
                      now=now - timedelta(days=1))
    session.flush()
    session.add(RequestFile(request_kind=bank.kind, request_id=bank.id, member_id=lea.id, file_id=rib.id))
    operations.claim(session, bank, staff=agent, now=now - timedelta(hours=3))
    propose_bank_change(session, bank, staff=agent, effective_on=local_today(now), now=now - timedelta(hours=2))
    submit_teletransmission(session, lea, TeletransmissionInput(
        beneficiary_id=zoe.id, files=[("attestation-droits-zoe.pdf", _scan("ameli zoe"))]), now=now - timedelta(hours=1))
    session.flush()
    # These requests are the past of the demo: their e-mails went out then, they are not sent again now.
    session.execute(update(OutboxMessage).where(OutboxMessage.member_id == lea.id, OutboxMessage.status ==
                                                OutboxStatus.PENDING).values(status=OutboxStatus.SENT, sent_at=now))
