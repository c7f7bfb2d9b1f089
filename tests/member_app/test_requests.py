"""The member's requests through their forms: documents, contact, bank details, tele-transmission, Mes demandes.

Every bad upload of the catalogue is sent through the member's form and must come back with its message,
leaving no row and no stored file; nobody reaches another family's request or file.
"""

from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfWriter
from sqlalchemy import func, select

from models.audit.entities import AuditEvent
from models.base import utcnow
from models.content.entities import ContactReason, DocumentCategory, DocumentType
from models.contracts.entities import BankAccount
from models.files.entities import StoredFile
from models.outbox.entities import Channel, OutboxMessage
from models.requests import operations
from models.requests.entities import (
    BankDetailChangeRequest, ContactRequest, DocumentSubmission, RequestFile, RequestMessage, RequestStatus,
    TeletransmissionRequest,
)
from tests.factories import make_member, make_staff
from tests.helpers import login_member
from tests.jobs.conftest import Delivery
from tests.member_app.test_hospital_coverage import Forms, error_next_to, text
from tests.models.test_uploads import heic, jpeg, letter_pdf, page_pdf, png, png_header_only, zip_bytes

DOCS, CONTACT, BANK, MINE = "/depot-de-documents/", "/contacter-la-mutuelle/", "/coordonnees-bancaires/changement/", \
    "/mes-demandes/"


@pytest.fixture
def member(session):
    return make_member(session)


@pytest.fixture
def client(member_client, member):
    login_member(member_client, member)
    return member_client


@pytest.fixture
def lists(session):
    category = DocumentCategory(name="Remboursements")
    session.add(category)
    session.flush()
    invoice = DocumentType(category_id=category.id, name="Facture")
    reason = ContactReason(name="Question sur un remboursement")
    session.add_all([invoice, reason])
    session.commit()
    return {"category": category, "invoice": invoice, "reason": reason}


@pytest.fixture
def delivery(jobs_config, models_config, migrated_database, redis_conn) -> Delivery:
    from jobs import runtime

    runtime.configure(jobs_config, models_config)
    return Delivery(jobs_config, models_config, redis_conn)


def written(session, files_dir) -> dict:
    """What a refused form must not leave behind: rows of requests, files, e-mails, and files on disk."""
    session.rollback()
    rows = {m.__name__: session.scalar(select(func.count()).select_from(m))
            for m in (DocumentSubmission, ContactRequest, BankDetailChangeRequest, TeletransmissionRequest,
                      RequestFile, RequestMessage, StoredFile, OutboxMessage)}
    rows["on disk"] = sum(1 for p in files_dir.rglob("*") if p.is_file())
    return rows


def send_documents(client, member, lists, files, **changes):
    """Fill "Envoyez-nous vos documents et justificatifs" and press Envoyer."""
    fields = Forms(client.get(DOCS).get_data(as_text=True)).forms[-1]["fields"]
    data = {**fields, "category_id": str(lists["category"].id), "type_id": str(lists["invoice"].id),
            "beneficiary_id": str(member.beneficiaries[0].id), "comment": "", **changes,
            "files": [(io.BytesIO(content), name) for name, content in files]}
    return client.post(DOCS, data=data, content_type="multipart/form-data")


def encrypted_pdf() -> bytes:
    writer = PdfWriter(clone_from=io.BytesIO(letter_pdf()))
    writer.encrypt("1234", "owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# -- the pages and their words -----------------------------------------------------------------------

def test_documents_page_shows_the_guide_title_its_three_rules_and_the_lists(client, lists):
    page = text(client.get(DOCS))
    for words in ("Envoyez-nous vos documents et justificatifs",
                  "Veillez à bien choisir la catégorie et le type de documents dans le menu déroulant.",
                  "ne doit pas mélanger deux types de demandes.",
                  "Une fois votre document envoyé, un accusé de réception vous sera adressé par email.",
                  "Catégorie", "Type de document", "Bénéficiaire concerné", "Remboursements", "Facture", ">Envoyer<"):
        assert words in page, words


def test_contact_page_shows_the_guide_sentences(client, lists):
    page = text(client.get(CONTACT))
    for words in ("Contacter la mutuelle", "Précisez le motif de votre demande et le bénéficiaire concerné par les soins.",
                  "Rédigez votre demande et cliquez sur « Envoyer ».",
                  "Vous souhaitez connaître nos délais de traitement ? Rendez-vous dans la rubrique « Délais » sur "
                  "www.mese.fr", "Question sur un remboursement", ">Envoyer<"):
        assert words in page, words


def test_pages_need_a_signed_in_member(member_client, lists):
    for path in (DOCS, CONTACT, BANK, MINE, MINE + "DOC-2026-000001", "/teletransmission/1"):
        response = member_client.get(path)
        assert response.status_code == 302 and "/connexion" in response.location, path


# -- documents: the happy path and its e-mail ----------------------------------------------------------

def test_documents_sent_show_in_mes_demandes_and_the_acknowledgement_arrives(client, member, lists, session, smtp,
                                                                            delivery):
    response = send_documents(client, member, lists, [("facture.pdf", letter_pdf()), ("photo.heic", heic())])
    assert response.status_code == 303
    request = session.scalars(select(DocumentSubmission)).one()
    assert response.location.endswith(MINE + request.reference)
    page = text(client.get(response.location))
    assert "Votre demande a bien été envoyée : un accusé de réception vous a été envoyé par email." in page
    assert request.reference in page and "facture.pdf" in page and "photo.jpg" in page  # HEIC kept as JPEG
    assert request.reference in text(client.get(MINE))
    delivery.run()
    mails = smtp.to(member.email)
    assert len(mails) == 1 and request.reference in mails[0]["message"]["Subject"]


def test_a_double_click_on_envoyer_sends_one_request(client, member, lists, session):
    fields = Forms(client.get(DOCS).get_data(as_text=True)).forms[-1]["fields"]
    token = fields["form_token"]
    for _ in range(2):
        send_documents(client, member, lists, [("facture.pdf", letter_pdf())], form_token=token)
    assert session.scalar(select(func.count()).select_from(DocumentSubmission)) == 1


# -- the upload catalogue, through the member's form ---------------------------------------------------

SAME_PDF = letter_pdf()

CATALOGUE = [
    ("no file", [], "Ajoutez au moins un fichier."),
    ("0 bytes", [("vide.pdf", b"")], "« vide.pdf » est vide (0 octet) : choisissez le bon fichier."),
    ("over the size", [("gros.pdf", b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024))],
     "« gros.pdf » dépasse la taille maximale de 10 Mo par fichier."),
    ("too many files", [(f"p{i}.png", png(color=(i, 0, 0, 255))) for i in range(11)],
     "Vous pouvez envoyer 10 fichiers au plus à la fois ; vous en avez choisi 11."),
    ("renamed executable", [("facture.pdf", b"MZ\x90\x00\x03" + b"\x00" * 200)], "facture.pdf"),
    ("pdf with javascript", [("piece.pdf", page_pdf(catalog_extra=b"/OpenAction << /S /JavaScript /JS (app.alert(1)) >> "))],
     "piece.pdf"),
    ("encrypted pdf", [("releve.pdf", encrypted_pdf())], "« releve.pdf » est un PDF protégé par un mot de passe"),
    ("decompression bomb", [("plan.png", png_header_only(100_000, 100_000))], "« plan.png » est une image trop grande"),
    ("polyglot", [("photo.jpg", jpeg() + zip_bytes())], "photo.jpg"),
    ("same file twice", [("a.pdf", SAME_PDF), ("b.pdf", SAME_PDF)],
     "« b.pdf » est le même fichier que « a.pdf » : ajoutez-le une seule fois."),
]


@pytest.mark.parametrize("files, message", [c[1:] for c in CATALOGUE], ids=[c[0] for c in CATALOGUE])
def test_each_bad_upload_is_refused_with_its_message_and_leaves_nothing(client, member, lists, session, files_dir,
                                                                        files, message):
    before = written(session, files_dir)
    response = send_documents(client, member, lists, files)
    assert response.status_code == 200
    page = text(response)
    assert "<title>Erreur :" in page
    assert message in error_next_to(page, "files"), error_next_to(page, "files")
    assert written(session, files_dir) == before


def test_another_familys_beneficiary_is_refused_through_the_form(client, member, lists, session, files_dir):
    other = make_member(session, email="autre@example.test")
    before = written(session, files_dir)
    page = text(send_documents(client, member, lists, [("a.pdf", letter_pdf())],
                               beneficiary_id=str(other.beneficiaries[0].id)))
    assert error_next_to(page, "beneficiary_id") == "Choisissez une personne de votre contrat."
    assert written(session, files_dir) == before


@pytest.mark.parametrize("name, message", [
    ("../../etc/passwd.pdf", "Le nom de « passwd.pdf » contient une barre oblique (/ ou \\)"),
    ("fac\x07ture\x1b.pdf", "Le nom de « facture.pdf » contient des caractères invisibles"),
    ("x" * 300 + ".pdf", "Le nom de « " + "x" * 60 + "… » est trop long (304 caractères, 255 au plus)"),
])
def test_a_name_with_folders_control_characters_or_300_characters_is_refused(client, member, lists, session,
                                                                               files_dir, name, message):
    before = written(session, files_dir)
    page = text(send_documents(client, member, lists, [(name, letter_pdf())]))
    assert message in error_next_to(page, "files")
    assert written(session, files_dir) == before


def test_a_long_name_is_kept_as_a_safe_display_name(client, member, lists, session, files_dir):
    send_documents(client, member, lists, [("x" * 200 + ".pdf", letter_pdf())])
    assert session.scalars(select(StoredFile)).one().filename == "x" * 116 + ".pdf"
    assert all(p.is_relative_to(files_dir) for p in files_dir.rglob("*"))


def test_a_file_sent_again_within_30_days_is_pointed_out_and_sent_when_confirmed(client, member, lists, session):
    send_documents(client, member, lists, [("facture.pdf", SAME_PDF)])
    page = text(send_documents(client, member, lists, [("encore.pdf", SAME_PDF)]))
    assert "Vous nous avez déjà envoyé ce fichier ces 30 derniers jours : « encore.pdf »" in error_next_to(page, "files")
    assert 'name="confirm_duplicates"' in page
    assert session.scalar(select(func.count()).select_from(DocumentSubmission)) == 1
    send_documents(client, member, lists, [("encore.pdf", SAME_PDF)], confirm_duplicates="y")
    assert session.scalar(select(func.count()).select_from(DocumentSubmission)) == 2


# -- contact -------------------------------------------------------------------------------------------

def test_contact_with_an_attachment_and_the_reply_read_in_mes_demandes(client, member, lists, session, smtp,
                                                                       delivery):
    fields = Forms(client.get(CONTACT).get_data(as_text=True)).forms[-1]["fields"]
    response = client.post(CONTACT, content_type="multipart/form-data", data={
        **fields, "reason_id": str(lists["reason"].id), "beneficiary_id": str(member.beneficiaries[1].id),
        "message": "Mon remboursement d'ostéopathie ?", "files": [(io.BytesIO(jpeg()), "decompte.jpg")]})
    assert response.status_code == 303
    request = session.scalars(select(ContactRequest)).one()
    agent = make_staff(session)
    operations.claim(session, request, staff=agent, now=utcnow())
    operations.reply(session, request, staff=agent, text="Il est parti le 3 décembre.", now=utcnow())
    session.commit()
    page = text(client.get(MINE + request.reference))
    assert "Il est parti le 3 décembre." in page and "decompte.jpg" in page
    delivery.run()
    subjects = [m["message"]["Subject"] for m in smtp.to(member.email)]
    assert any("a bien été reçue" in s for s in subjects) and any("vous avez une réponse" in s for s in subjects)
    assert not any("3 décembre" in m["message"].get_body(("plain",)).get_content() for m in smtp.to(member.email))


def test_contact_errors_are_next_to_their_fields(client, lists, session, files_dir):
    before = written(session, files_dir)
    fields = Forms(client.get(CONTACT).get_data(as_text=True)).forms[-1]["fields"]
    page = text(client.post(CONTACT, data={**fields, "message": "   "}, content_type="multipart/form-data"))
    for field in ("reason_id", "beneficiary_id", "message"):
        assert error_next_to(page, field) == "Ce champ est obligatoire.", field
    assert written(session, files_dir) == before


# -- Mes demandes: answering, and nobody else's request -----------------------------------------------

def test_the_member_answers_with_text_and_files_and_the_request_goes_back_to_the_agent(client, member, lists, session):
    send_documents(client, member, lists, [("facture.pdf", letter_pdf())])
    request = session.scalars(select(DocumentSubmission)).one()
    agent = make_staff(session)
    operations.claim(session, request, staff=agent, now=utcnow())
    operations.ask_member(session, request, staff=agent, question="Il manque le verso.", now=utcnow())
    session.commit()
    page = text(client.get(MINE + request.reference))
    assert "Nous attendons votre réponse" in page and "Il manque le verso." in page
    assert "Suspendue : nous attendons votre réponse" in page
    fields = Forms(client.get(MINE + request.reference).get_data(as_text=True)).forms[-1]["fields"]
    response = client.post(MINE + request.reference, content_type="multipart/form-data",
                           data={**fields, "text": "Voici le verso.", "files": [(io.BytesIO(png()), "verso.png")]})
    assert response.status_code == 303
    session.expire_all()
    again = session.get(DocumentSubmission, request.id)
    assert again.status is RequestStatus.IN_PROGRESS and again.assigned_to_id == agent.id
    page = text(client.get(MINE + request.reference))
    assert "Voici le verso." in page and "verso.png" in page and "Nous attendons votre réponse" not in page


def test_a_member_never_reaches_another_familys_request_or_file(client, member, lists, session, member_app):
    other = make_member(session, email="autre@example.test")
    other_client = member_app.test_client()
    login_member(other_client, other)
    send_documents(other_client, other, lists, [("theirs.pdf", letter_pdf())])
    theirs = session.scalars(select(DocumentSubmission)).one()
    file_id = session.scalars(select(RequestFile.file_id)).one()
    send_documents(client, member, lists, [("mine.pdf", page_pdf())])
    mine = session.scalars(select(DocumentSubmission).where(DocumentSubmission.member_id == member.id)).one()
    assert client.get(MINE + theirs.reference).status_code == 404
    assert client.get(MINE + f"{theirs.reference}/fichiers/{file_id}").status_code == 404
    assert client.get(MINE + f"{mine.reference}/fichiers/{file_id}").status_code == 404  # not a file of mine
    assert theirs.reference not in text(client.get(MINE))
    session.expire_all()
    refused = session.scalars(select(AuditEvent).where(AuditEvent.action == "member.refused",
                                                       AuditEvent.member_id == member.id)).all()
    assert refused and refused[0].details["reference"] == theirs.reference and refused[0].details["other_family"]
    assert client.get(f"/teletransmission/{other.beneficiaries[0].id}").status_code == 404
    assert client.post(MINE + theirs.reference, data={"text": "x"}).status_code in (400, 404)
    own_file = session.scalars(select(RequestFile).where(RequestFile.member_id == member.id)).one()
    download = client.get(MINE + f"{mine.reference}/fichiers/{own_file.file_id}")
    assert download.status_code == 200 and download.headers["Content-Disposition"].startswith("attachment;")
    assert "sandbox" in download.headers["Content-Security-Policy"]


# -- bank details --------------------------------------------------------------------------------------

def send_bank(client, **changes):
    fields = Forms(client.get(BANK).get_data(as_text=True)).forms[-1]["fields"]
    data = {**fields, "beneficiary_id": "", "holder": "Léa RIMON", "iban": "fr76 3000 6000 0112 3456 7890 189",
            "bic": "", "files": [(io.BytesIO(letter_pdf()), "rib.pdf")], **changes}
    return client.post(BANK, data=data, content_type="multipart/form-data")


@pytest.mark.parametrize("iban, bic, field, message", [
    ("FR76 3000 6000 0112 3456 7890 188", "", "iban", "Cet IBAN n'est pas valide"),
    ("BR18 0036 0305 0000 1000 9795 493C 1", "", "iban", "zone SEPA"),
    ("CH93 0076 2011 6238 5295 7", "", "bic", "indiquez son BIC"),
    ("", "", "iban", "Ce champ est obligatoire."),
])
def test_bad_ibans_are_refused_next_to_the_field(client, session, files_dir, iban, bic, field, message):
    before = written(session, files_dir)
    page = text(send_bank(client, iban=iban, bic=bic))
    assert message in error_next_to(page, field)
    assert written(session, files_dir) == before


def test_bank_change_is_confirmed_by_the_sms_code_then_sent(client, member, session, smtp, delivery):
    session.add(BankAccount(member_id=member.id, holder="Léa RIMON", iban="FR7610278000001000000038136",
                            bic="CMCIFR2A", valid_from=utcnow()))
    session.commit()
    response = send_bank(client)
    assert response.status_code == 303 and response.location.endswith(BANK + "confirmation")
    page = text(client.get(BANK + "confirmation"))
    assert "Confirmez le changement de coordonnées bancaires" in page and "06 ** ** ** 06" in page
    assert session.scalar(select(func.count()).select_from(BankDetailChangeRequest)) == 0
    sms = session.scalars(select(OutboxMessage).where(OutboxMessage.channel == Channel.SMS)).one()
    code = re.search(r"\b(\d{6})\b", sms.text_body).group(1)
    token = Forms(page).forms[-2]["fields"]["csrf_token"]
    wrong = client.post(BANK + "confirmation", data={"csrf_token": token, "code": "000000" if code != "000000"
                                                     else "111111"})
    assert "Code incorrect" in error_next_to(text(wrong), "code")
    done = client.post(BANK + "confirmation", data={"csrf_token": token, "code": code})
    assert done.status_code == 303
    request = session.scalars(select(BankDetailChangeRequest)).one()
    assert done.location.endswith(MINE + request.reference)
    page = text(client.get(done.location))
    assert "XXXX.XXXXXXXX.XXXXXXXX.XXXX.189" in page and "L'ancien compte reste utilisé" in page
    delivery.run()
    assert any(request.reference in m["message"]["Subject"] for m in smtp.to(member.email))


def test_the_code_page_without_a_change_sends_back_to_the_form(client):
    response = client.get(BANK + "confirmation")
    assert response.status_code == 302 and response.location.endswith(BANK)


# -- tele-transmission ---------------------------------------------------------------------------------

def test_teletransmission_request_then_demande_en_cours(client, member, session):
    person = member.beneficiaries[1]
    page = text(client.get(f"/teletransmission/{person.id}"))
    assert "Activer la télétransmission" in page and "Désactivée" in page
    fields = Forms(client.get(f"/teletransmission/{person.id}").get_data(as_text=True)).forms[-1]["fields"]
    response = client.post(f"/teletransmission/{person.id}", content_type="multipart/form-data",
                           data={**fields, "files": [(io.BytesIO(letter_pdf()), "attestation.pdf")]})
    assert response.status_code == 303
    reference = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    raw = client.get(f"/teletransmission/{person.id}").get_data(as_text=True)
    page = text(client.get(f"/teletransmission/{person.id}"))
    assert "Demande en cours" in page and 'type="file"' not in page
    assert f"Suivre la demande {reference}" in page and f'href="/mes-demandes/{reference}"' in raw
