"""Content edited by managers: news, documents, terms of use, form lists, establishments needing no coverage."""

from __future__ import annotations

import io
from datetime import date

from sqlalchemy import select

from models.audit.entities import AuditEvent
from models.content.entities import (
    ContactReason, ContentDocument, ContentDocumentVersion, DocumentCategory, DocumentKind, DocumentType, NewsItem,
    NoCoverageEstablishment, TermsVersion,
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


# -- previews, versions of documents, terms to accept ------------------------------------------------

def _preview(client, path: str, data: dict, **kwargs):
    return client.post(path, data={**data, "_apercu": "1", "csrf_token": csrf_from(client, path)}, **kwargs)


def test_news_preview_shows_the_member_banner_and_saves_nothing(session, as_staff, manager):
    client = as_staff(manager)
    response = _preview(client, "/actualites/new/", {
        "title": "Nouveaux barèmes 2027", "body": "Consultez-les.", "link_url": "/documents",
        "starts_on": "2099-01-01", "ends_on": "", "published": "y"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'class="member-preview"' in html
    preview = html[html.index('class="member-preview"'):html.index("</section>", html.index('class="news"'))]
    assert "Nouveaux barèmes 2027" in preview and "Consultez-les." in preview
    assert 'href="/documents"' in preview and "En savoir plus" in preview
    assert "Visible à partir du 01/01/2099" in preview
    assert 'value="Nouveaux barèmes 2027"' in html  # the form keeps the values, ready to save
    assert session.scalar(select(NewsItem)) is None
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "news.created")) is None


def test_news_preview_of_an_invalid_form_shows_the_errors_not_a_preview(session, as_staff, manager):
    response = _preview(as_staff(manager), "/actualites/new/", {"title": "", "link_url": "javascript:alert(1)",
                                                                "starts_on": "2027-01-01"})
    html = response.get_data(as_text=True)
    assert 'class="member-preview"' not in html and "Saisissez une adresse web complète" in html
    assert session.scalar(select(NewsItem)) is None


def test_news_edit_preview_leaves_the_saved_item_unchanged(session, as_staff, manager):
    item = NewsItem(title="Avant", body="", starts_on=date(2026, 1, 1), published=True)
    session.add(item)
    session.commit()
    client = as_staff(manager)
    response = _preview(client, f"/actualites/edit/?id={item.id}", {"title": "Après", "starts_on": "2026-01-01",
                                                                     "published": "y"})
    assert "Après" in response.get_data(as_text=True).split('class="member-preview"')[1]
    session.expire_all()
    assert session.get(NewsItem, item.id).title == "Avant"
    assert "En ligne" in client.get("/actualites/").get_data(as_text=True)  # its publication window, today


def test_document_versions_are_kept_and_the_current_one_is_served(session, as_staff, manager):
    client = as_staff(manager)
    _create(client, "/documents/", {
        "kind": DocumentKind.CONTRACTUAL.value, "title": "Tableau des garanties", "description": "",
        "contract_kind": "collective", "position": "1", "published": "y",
        "upload": (io.BytesIO(b"%PDF-1.4\n% v1\n"), "garanties-2026.pdf")}, content_type="multipart/form-data")
    document = session.scalar(select(ContentDocument))
    first_file = document.file_id
    page = f"/documents/edit/?id={document.id}"
    client.post(page, data={"kind": "contractual", "title": "Tableau des garanties", "description": "",
                            "contract_kind": "collective", "position": "1", "published": "y",
                            "upload": (io.BytesIO(b"%PDF-1.4\n% v2, longer\n"), "garanties-2027.pdf"),
                            "csrf_token": csrf_from(client, page)}, content_type="multipart/form-data")
    session.expire_all()
    document = session.get(ContentDocument, document.id)
    assert document.file_id != first_file  # the member area serves the new version
    assert session.get(StoredFile, document.file_id).filename == "garanties-2027.pdf"
    versions = session.scalars(select(ContentDocumentVersion).order_by(ContentDocumentVersion.id)).all()
    assert [v.file_id for v in versions] == [first_file, document.file_id]
    assert all(v.uploaded_by_id == manager.id for v in versions)
    html = client.get(f"/documents/details/?id={document.id}").get_data(as_text=True)
    assert "garanties-2026.pdf" in html and "garanties-2027.pdf" in html
    assert html.index("garanties-2027.pdf") < html.index("garanties-2026.pdf")  # newest first
    assert "Version actuelle" in html and "Version précédente" in html
    assert "contrat collectif (salariés) seulement" in html  # the member's view of its audience


def test_document_preview_names_its_section_and_audience_and_saves_nothing(session, as_staff, manager):
    response = _preview(as_staff(manager), "/documents/new/", {
        "kind": DocumentKind.INFORMATION.value, "title": "Bulletin santé n° 12", "description": "Le dossier du mois.",
        "contract_kind": "", "position": "0", "published": "y"}, content_type="multipart/form-data")
    preview = response.get_data(as_text=True).split('class="member-preview"')[1]
    assert "Documents d&#39;information" in preview and "Bulletin santé n° 12" in preview
    assert "collectifs et individuels" in preview
    assert session.scalar(select(ContentDocument)) is None


def test_terms_preview_then_publication_asks_members_to_accept(session, as_staff, manager, member):
    from models.members.security import terms_to_accept
    from models.base import utcnow

    client = as_staff(manager)
    response = _preview(client, "/conditions-utilisation/new/", {"version": "2027-02", "body": "Article 1. Texte."})
    preview = response.get_data(as_text=True).split('class="member-preview"')[1]
    assert "version 2027-02" in preview and "Article 1. Texte." in preview
    assert session.scalar(select(TermsVersion).where(TermsVersion.version == "2027-02")) is None

    _create(client, "/conditions-utilisation/", {"version": "2027-02", "body": "Article 1. Texte."})
    terms = session.scalar(select(TermsVersion).where(TermsVersion.version == "2027-02"))
    details = client.get(f"/conditions-utilisation/details/?id={terms.id}").get_data(as_text=True)
    assert "Article 1. Texte." in details.split('class="member-preview"')[1]  # seen before publishing
    assert terms_to_accept(session, member, utcnow()) is None or terms_to_accept(session, member, utcnow()).id != terms.id
    client.post("/conditions-utilisation/action/", data={"action": "publish", "rowid": [str(terms.id)],
                                                          "url": "/conditions-utilisation/",
                                                          "csrf_token": csrf_from(client, "/conditions-utilisation/")})
    session.expire_all()
    assert terms_to_accept(session, member, utcnow()).id == terms.id  # at the next sign-in, before any page
