"""Content edited by managers: news, documents, terms of use, form lists, establishments needing no coverage."""

from __future__ import annotations

import io
from datetime import date

from sqlalchemy import select

from models.audit.entities import AuditEvent
from models.content.entities import (
    ContactReason, ContentDocument, DocumentCategory, DocumentKind, DocumentType, NewsItem, NoCoverageEstablishment,
    TermsVersion,
)
from models.files.entities import StoredFile

from .support import csrf_from


def _create(client, path: str, data: dict, **kwargs):
    return client.post(path + "new/", data={**data, "csrf_token": csrf_from(client, path + "new/")}, **kwargs)


def test_manager_publishes_a_news_item(session, as_staff, manager):
    client = as_staff(manager)
    response = _create(client, "/actualites/", {"title": "Nouveaux barèmes 2027", "body": "Consultez-les.",
                                                 "link_url": "https://www.mese.fr/baremes", "starts_on": "2027-01-01",
                                                 "ends_on": "", "published": "y"})
    assert response.status_code == 302
    item = session.scalar(select(NewsItem))
    assert (item.title, item.starts_on, item.ends_on, item.published) == (
        "Nouveaux barèmes 2027", date(2027, 1, 1), None, True)
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "news.created"))
    assert event.actor_id == manager.id and event.subject_id == item.id


def test_news_link_must_be_a_web_address(session, as_staff, manager):
    client = as_staff(manager)
    response = _create(client, "/actualites/", {"title": "Piège", "link_url": "javascript:alert(1)",
                                                 "starts_on": "2027-01-01", "published": "y"})
    assert response.status_code == 200
    assert session.scalar(select(NewsItem)) is None


def test_news_end_before_start_is_refused(session, as_staff, manager):
    client = as_staff(manager)
    response = _create(client, "/actualites/", {"title": "À l'envers", "starts_on": "2027-02-01",
                                                 "ends_on": "2027-01-01"})
    assert session.scalar(select(NewsItem)) is None
    assert "La date de fin doit suivre la date de début." in response.get_data(as_text=True)


def test_content_is_never_deleted_from_the_back_office(as_staff, manager):
    html = as_staff(manager).get("/actualites/").get_data(as_text=True)
    assert "delete_form" not in html and "/actualites/delete/" not in html


def test_document_with_its_pdf(session, as_staff, manager):
    client = as_staff(manager)
    pdf = b"%PDF-1.4\n% test document\n"
    response = _create(client, "/documents/", {
        "kind": DocumentKind.CONTRACTUAL.value, "title": "Tableau des garanties", "description": "",
        "contract_kind": "", "position": "1", "published": "y",
        "upload": (io.BytesIO(pdf), "garanties.pdf")}, content_type="multipart/form-data")
    assert response.status_code == 302
    document = session.scalar(select(ContentDocument))
    assert document.kind is DocumentKind.CONTRACTUAL and document.contract_kind is None
    stored = session.get(StoredFile, document.file_id)
    assert stored.size == len(pdf) and stored.content_type == "application/pdf"


def test_document_file_must_be_a_pdf(session, as_staff, manager):
    client = as_staff(manager)
    response = _create(client, "/documents/", {
        "kind": DocumentKind.INFORMATION.value, "title": "Bulletin", "contract_kind": "", "position": "0",
        "upload": (io.BytesIO(b"<html>not a pdf</html>"), "bulletin.pdf")}, content_type="multipart/form-data")
    assert session.scalar(select(ContentDocument)) is None
    assert "Le fichier doit être un PDF." in response.get_data(as_text=True)


def test_terms_version_is_written_then_published_and_then_frozen(session, as_staff, manager):
    client = as_staff(manager)
    _create(client, "/conditions-utilisation/", {"version": "2027-01", "body": "Texte des conditions."})
    terms = session.scalar(select(TermsVersion))
    assert terms.published_at is None
    token = csrf_from(client, "/conditions-utilisation/")
    client.post("/conditions-utilisation/action/", data={"action": "publish", "rowid": [str(terms.id)],
                                                          "url": "/conditions-utilisation/", "csrf_token": token})
    session.expire_all()
    assert session.get(TermsVersion, terms.id).published_at is not None
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "terms.published")).actor_id == manager.id

    token = csrf_from(client, f"/conditions-utilisation/edit/?id={terms.id}")
    response = client.post(f"/conditions-utilisation/edit/?id={terms.id}",
                           data={"version": "2027-01", "body": "Texte changé en douce.", "csrf_token": token})
    assert "Une version publiée ne peut plus être modifiée" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(TermsVersion, terms.id).body == "Texte des conditions."

    client.post("/conditions-utilisation/action/", data={"action": "publish", "rowid": [str(terms.id)],
                                                          "url": "/conditions-utilisation/", "csrf_token": token})
    assert "déjà publiée" in client.get("/conditions-utilisation/").get_data(as_text=True)


def test_document_categories_types_and_contact_reasons(session, as_staff, manager):
    client = as_staff(manager)
    _create(client, "/categories-documents/", {"name": "Santé", "position": "1", "active": "y"})
    category = session.scalar(select(DocumentCategory))
    _create(client, "/types-documents/", {"category": str(category.id), "name": "Facture d'optique",
                                          "position": "1", "active": "y"})
    _create(client, "/motifs-contact/", {"name": "Question sur un remboursement", "position": "2", "active": "y"})
    document_type = session.scalar(select(DocumentType))
    assert document_type.category_id == category.id and document_type.name == "Facture d'optique"
    assert session.scalar(select(ContactReason.name)) == "Question sur un remboursement"
    assert "Facture d&#39;optique" in client.get("/types-documents/").get_data(as_text=True)


def test_no_coverage_form_explains_the_matching_words(session, as_staff, manager):
    client = as_staff(manager)
    html = client.get("/etablissements-sans-prise-en-charge/new/").get_data(as_text=True)
    assert "Mots qui doivent TOUS figurer dans le nom de l'établissement" in html
    assert "l'exception l'emporte" in html
    _create(client, "/etablissements-sans-prise-en-charge/", {
        "label": "Agglomération grenobloise", "match_terms": "grenoble", "active": "y"})
    row = session.scalar(select(NoCoverageEstablishment))
    assert (row.match_terms, row.needs_coverage, row.active) == ("grenoble", False, True)
