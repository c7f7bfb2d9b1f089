"""axe-core on every page of both apps, in each state worth checking, in French and English, on a phone and a desktop.

Every route of both apps (their ``url_map``) is either checked in at least one state of ``MEMBER_STATES``
or ``BACKOFFICE_STATES`` or excluded in ``EXCLUDED`` with its reason; a new route without either fails
``test_every_route_has_an_accessibility_check``. Each state fails on any WCAG 2.1 A/AA violation found by
axe-core, on a page that scrolls sideways on a phone, and on stand-alone links and buttons under 44 px.

Signed-in and half-signed-in states carry a session cookie forged with each app's own session serializer
and secret (the keys the apps set after sign-in, see tests/helpers.py); the sign-in pages themselves are
checked as a visitor sees them, and tests/browser/test_keyboard.py walks a real sign-in.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pyotp
import pytest
from sqlalchemy import select
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from backoffice.config import BackofficeConfig
from jobs.config import JobsConfig
from jobs.deliver import INTERRUPTED_ERROR
from member_app.config import MemberAppConfig
from models.base import utcnow
from models.content.entities import (
    ContactReason, ContentDocument, DocumentCategory, DocumentType, NewsItem, NoCoverageEstablishment, TermsVersion,
)
from models.content.entities import ServiceLink
from models.contracts.entities import Contract
from models.db import session_factory
from models.demo import load_demo
from models.members.activation import request_password_reset
from models.members.operations import request_email_change
from models.members.entities import Member, SecondFactor
from models.members.security import begin_totp_enrolment, sign_in_stamp
from models.outbox.entities import AttemptOutcome, Channel, OutboxAttempt, OutboxMessage, OutboxStatus
from models.reports.entities import ExportJob, ExportStatus
from models.requests.hospital_coverage import (
    HospitalCoverageInput, approve_hospital_coverage, selectable_beneficiaries, submit_hospital_coverage,
)
from models.requests.workflow import local_today, start_request
from models.sessions.operations import find_session, open_session
from models.staff.administration import invite_staff, request_totp_reset
from models.staff.entities import StaffRole, StaffUser
from models.staff.operations import create_staff
from models.requests.bank_details import BankChangeInput, prepare_bank_change
from models.requests.entities import (
    BankDetailChangeRequest, ContactRequest, DocumentSubmission, TeletransmissionRequest,
)
from models.requests.operations import claim as claim_request
from tests.browser import a11y
from tests.browser.a11y import VIEWPORTS, Exclusion, PageState, submit
from tests.browser.conftest import CHROMIUM_ARGS, serving
from tests.conftest import truncate_tables
from tests.factories import make_member

pytestmark = pytest.mark.browser

MEMBER_LANGUAGES = ("fr", "en")
BACKOFFICE_LANGUAGES = ("fr",)
MOUNTS = {"member": "", "backoffice": "/backoffice"}
#: A folder where each checked state leaves a full-page screenshot, to look at the pages as people see them.
SCREENSHOTS = os.environ.get("A11Y_SCREENSHOTS", "")

# ---------------------------------------------------------------------------------------------------------
# Page states


def _submit_without_browser_checks(form_holding: str, fill: dict | None = None):
    """Submit a form as it is, server-side checks only: the browser's own "required" bubbles are not in the
    page (axe cannot see them) and some users' browsers skip them; the server's messages are what we check."""
    inner = submit(form_holding, fill)

    def act(page, values):
        page.locator(f"form:has([name={form_holding!r}])").first.evaluate("f => { f.noValidate = true; }")
        inner(page, values)

    return act


def _follow(selector: str):
    """An action: follow the first link matching ``selector`` (e.g. the next page of a keyset list)."""

    def act(page, values):
        page.locator(selector).first.click()
        page.wait_for_load_state("load")

    return act


def _next_page(page, values):
    """Follow the list's "Page suivante" link (a keyset cursor)."""
    page.get_by_role("link", name="Page suivante ›").click()
    page.wait_for_load_state("load")


def _open_actions(page, values):
    """Open the "three dots" menu of a card or certificate (Télécharger / Envoyer par e-mail)."""
    page.locator("details.more-actions summary").first.click()
    page.locator("details.more-actions[open] ul").wait_for()


def _preview(fill: dict):
    """Fill a content form and press its "Aperçu" button (the member's view is shown above the form)."""

    def act(page, values):
        form = page.locator("form:has([name='_apercu'])").first
        for name, value in fill.items():
            form.locator(f"[name={name!r}]").first.fill(value)
        with page.expect_navigation():
            form.locator("[name='_apercu']").click()
        page.wait_for_load_state("load")

    return act


PREVIEWS = {  # endpoint: the fields to fill before asking for a preview
    "news": {"title": "Nouveaux barèmes", "body": "Consultez-les.", "link_url": "/documents",
             "starts_on": "2027-01-01"},
    "content_documents": {"title": "Tableau des garanties", "description": "Barèmes 2027.", "position": "1"},
    "terms": {"version": "2099-01", "body": "Article 1. Objet du service."},
}


def _open_menu(page, values):
    """Open the back office's menu (the "Menu" button on a phone) and its first category."""
    toggler = page.locator("header .navbar-toggler")
    if toggler.is_visible():
        toggler.click()
        page.locator("#bo-nav.show").wait_for()
    page.locator("header .dropdown-toggle").first.click()
    page.locator("header .dropdown-menu.show").wait_for()


M = "member"
MEMBER_STATES = [
    PageState(M, "auth.login", "empty form", "/connexion"),
    PageState(M, "auth.login", "errors", "/connexion", act=submit("identifiant"), errors=True),
    PageState(M, "auth.login", "notice (signed out)", "/connexion", who="signed_out_notice", expect="main [role]"),
    PageState(M, "auth.second_factor", "empty form (SMS)", "/connexion/code", who="paul_pending"),
    PageState(M, "auth.second_factor", "wrong code", "/connexion/code", who="paul_pending",
              act=submit("code", {"code": "000000"}), errors=True),
    PageState(M, "auth.second_factor", "empty form (authenticator app)", "/connexion/code", who="michel_pending"),
    PageState(M, "auth.mobile", "empty form", "/connexion/mobile", who="nina_pending"),
    PageState(M, "auth.mobile", "errors", "/connexion/mobile", who="nina_pending",
              act=submit("mobile", {"mobile": "12"}), errors=True),
    PageState(M, "auth.activation", "empty form", "/activation"),
    PageState(M, "auth.activation", "errors", "/activation", act=_submit_without_browser_checks("nir"),
              errors=True),
    PageState(M, "auth.activation_sent", "notice", "/activation/envoyee"),
    PageState(M, "auth.forgot_password", "empty form", "/mot-de-passe-oublie"),
    PageState(M, "auth.forgot_password", "errors", "/mot-de-passe-oublie",
              act=_submit_without_browser_checks("identifiant"), errors=True),
    PageState(M, "auth.forgot_password_sent", "notice", "/mot-de-passe-oublie/envoye"),
    PageState(M, "auth.reset_password", "empty form", "/mot-de-passe/nouveau/{reset_token}"),
    PageState(M, "auth.reset_password", "errors", "/mot-de-passe/nouveau/{reset_token}",
              act=_submit_without_browser_checks("new_password", {"new_password": "court"}), errors=True),
    PageState(M, "auth.reset_password", "invalid link", "/mot-de-passe/nouveau/lien-perime", status=410),
    PageState(M, "home.index", "news and requests", "/", who="lea"),
    PageState(M, "auth.change_password", "empty form", "/mon-compte/mot-de-passe", who="lea"),
    PageState(M, "auth.change_password", "errors", "/mon-compte/mot-de-passe", who="lea",
              act=_submit_without_browser_checks("current_password"), errors=True),
    PageState(M, "auth.terms", "empty form", "/conditions-generales", who="lea"),
    PageState(M, "auth.terms", "errors", "/conditions-generales", who="lea",
              act=_submit_without_browser_checks("accept"), errors=True),
    PageState(M, "auth.account_security", "SMS code", "/mon-compte/securite", who="lea"),
    PageState(M, "auth.account_security", "authenticator app", "/mon-compte/securite", who="michel"),
    PageState(M, "auth.totp_enrolment", "empty form", "/mon-compte/securite/application", who="axel"),
    PageState(M, "auth.totp_enrolment", "wrong code", "/mon-compte/securite/application", who="axel",
              act=submit("code", {"code": "000000"}), errors=True),
    PageState(M, "auth.reauthenticate", "empty form", "/mon-compte/securite/confirmer/mobile", who="lea"),
    PageState(M, "auth.reauthenticate", "errors", "/mon-compte/securite/confirmer/mobile", who="lea",
              act=submit("password", {"password": "pas-le-bon", "code": "000000"}), errors=True),
    PageState(M, "auth.mobile_change", "empty form", "/mon-compte/securite/mobile", who="paul"),
    PageState(M, "auth.mobile_change", "errors", "/mon-compte/securite/mobile", who="paul",
              act=submit("new-mobile", {"new-mobile": "12"}), errors=True),
    PageState(M, "auth.sessions", "two open sessions", "/mon-compte/securite/sessions", who="lea"),
    PageState(M, "hospital_coverage.new", "empty form", "/prise-en-charge-hospitaliere/", who="lea"),
    PageState(M, "hospital_coverage.new", "errors", "/prise-en-charge-hospitaliere/", who="lea",
              act=_submit_without_browser_checks("establishment_name"), errors=True),
    PageState(M, "hospital_coverage.new", "no-coverage notice", "/prise-en-charge-hospitaliere/", who="lea",
              act=submit("establishment_name", {"start_on": "{start_on}", "beneficiary_id": "1",
                                                "establishment_name": "Clinique Pasteur Evreux",
                                                "finess": "750712184", "admission_fax": "04 76 00 00 01"}),
              expect="[name=confirm_no_coverage][value='1']"),
    PageState(M, "hospital_coverage.show", "request details", "/prise-en-charge-hospitaliere/{coverage_done_ref}",
              who="lea"),
    PageState(M, "documents.new", "empty form", "/depot-de-documents/", who="lea"),
    PageState(M, "documents.new", "errors", "/depot-de-documents/", who="lea",
              act=_submit_without_browser_checks("category_id"), errors=True),
    PageState(M, "contact.new", "empty form", "/contacter-la-mutuelle/", who="lea"),
    PageState(M, "contact.new", "errors", "/contacter-la-mutuelle/", who="lea",
              act=_submit_without_browser_checks("reason_id"), errors=True),
    PageState(M, "bank_change.new", "empty form", "/coordonnees-bancaires/changement/", who="lea"),
    PageState(M, "bank_change.new", "errors", "/coordonnees-bancaires/changement/", who="lea",
              act=_submit_without_browser_checks("iban", {"iban": "FR76 1234"}), errors=True),
    PageState(M, "bank_change.confirm", "code to type", "/coordonnees-bancaires/changement/confirmation",
              who="lea_bank"),
    PageState(M, "bank_change.confirm", "wrong code", "/coordonnees-bancaires/changement/confirmation",
              who="lea_bank", act=submit("code", {"code": "000000"}), errors=True),
    PageState(M, "teletransmission.new", "form", "/teletransmission/{principal_id}", who="lea"),
    PageState(M, "teletransmission.new", "already active", "/teletransmission/{spouse_id}", who="lea"),
    PageState(M, "teletransmission.new", "errors", "/teletransmission/{principal_id}", who="lea",
              act=_submit_without_browser_checks("files"), errors=True),
    PageState(M, "teletransmission.new", "request in progress", "/teletransmission/{child_id}", who="lea"),
    PageState(M, "my_requests.index", "every request of the family", "/mes-demandes/", who="lea"),
    PageState(M, "privacy.consultations", "consultations of the file by role", "/mon-compte/consultations", who="lea",
              expect="table.consultations"),
    PageState(M, "my_requests.show", "waiting for the member's answer", "/mes-demandes/{documents_ref}", who="lea",
              expect="#reponse"),
    PageState(M, "my_requests.show", "answer refused", "/mes-demandes/{documents_ref}", who="lea",
              act=_submit_without_browser_checks("text"), errors=True),
    PageState(M, "my_requests.show", "reply read", "/mes-demandes/{contact_ref}", who="lea"),
    PageState(M, "my_requests.show", "bank change in progress", "/mes-demandes/{bank_ref}", who="lea"),
    PageState(M, "reimbursements.index", "two years of the family's care", "/mes-remboursements", who="lea",
              expect="table.reimbursements"),
    PageState(M, "reimbursements.index", "filtered, second page", "/mes-remboursements?du=2000-01-01",
              who="lea", act=_follow("a[href*='apres=']"), expect="a[href*='avant=']"),
    PageState(M, "reimbursements.index", "empty selection", "/mes-remboursements?du=2000-01-01&au=2000-12-31",
              who="lea", expect="form.filters"),
    PageState(M, "reimbursements.index", "errors", "/mes-remboursements?du=31/02/2025&au=2000-01-01&soins=x",
              who="lea", errors=True),
    PageState(M, "publications.contractual", "documents", "/documents-contractuels", who="lea",
              expect="ul.documents a"),
    PageState(M, "publications.information", "Bulletins Santé", "/documents-d-information", who="lea",
              expect="ul.documents a"),
    PageState(M, "card.card", "card of the first contract", "/ma-carte-mutuelle", who="lea"),
    PageState(M, "card.card", "menu open", "/ma-carte-mutuelle/{lea_contract_id}", who="lea", act=_open_actions),
    PageState(M, "card.certificate", "whole family", "/attestation", who="lea"),
    PageState(M, "card.certificate", "one person, menu open", "/attestation/{lea_contract_id}?beneficiaire={spouse_id}",
              who="lea", act=_open_actions),
    PageState(M, "card.send", "empty form", "/envoyer/carte/{lea_contract_id}", who="lea"),
    PageState(M, "card.send", "errors", "/envoyer/attestation/{lea_contract_id}", who="lea",
              act=_submit_without_browser_checks("email", {"email": "pas-une-adresse"}), errors=True),
    PageState(M, "services.teleconsultation", "family table", "/services/teleconsultation", who="lea"),
    PageState(M, "services.find_professional", "empty form", "/services/professionnel-de-sante", who="lea"),
    PageState(M, "services.find_professional", "errors", "/services/professionnel-de-sante?where=Grenoble",
              who="lea", errors=True),
    PageState(M, "services.assistance", "IMA (collective contract)", "/services/assistance", who="lea"),
    PageState(M, "services.assistance", "RMA (individual contract)", "/services/assistance", who="michel"),
    PageState(M, "services.kalixia", "six partners", "/services/reseau-kalixia", who="lea"),
    PageState(M, "services.prevention", "space and webinars", "/services/prevention-sante", who="lea"),
    PageState(M, "retirement.index", "documents", "/futur-retraite", who="lea"),
    PageState(M, "(error page)", "403 (future retiree page of a retiree)", "/futur-retraite", who="michel",
              status=403),
    PageState(M, "contracts.index", "two health contracts", "/mon-contrat", who="lea", expect=".contract-card"),
    PageState(M, "contracts.detail", "beneficiaries, each tele-transmission state", "/mon-contrat/{socle_id}",
              who="lea", expect=".person"),
    PageState(M, "contracts.contributions", "collective contracts (payslip)", "/cotisations", who="lea"),
    PageState(M, "contracts.contributions", "individual contract schedule", "/cotisations", who="michel",
              expect="table.schedule"),
    PageState(M, "contracts.bank_details", "member and beneficiaries", "/coordonnees-bancaires", who="lea",
              expect=".person"),
    PageState(M, "profile.index", "personal information", "/mes-informations", who="lea"),
    PageState(M, "auth.reauthenticate", "before a change of e-mail", "/mon-compte/securite/confirmer/email",
              who="lea"),
    PageState(M, "profile.address", "form", "/mes-informations/adresse", who="lea"),
    PageState(M, "profile.address", "errors", "/mes-informations/adresse", who="lea",
              act=_submit_without_browser_checks("postcode", {"postcode": "38", "city": ""}), errors=True),
    PageState(M, "profile.email", "empty form", "/mes-informations/email", who="paul", expect="#new-email"),
    PageState(M, "profile.email", "errors", "/mes-informations/email", who="paul",
              act=_submit_without_browser_checks("new-email", {"new-email": "lea@"}), errors=True),
    PageState(M, "profile.email", "code to type", "/mes-informations/email", who="nina", expect="#check-code"),
    PageState(M, "profile.email", "wrong code", "/mes-informations/email", who="nina",
              act=_submit_without_browser_checks("check-code", {"check-code": "000000"}), errors=True),
    PageState(M, "(error page)", "404", "/page-inexistante", status=404),
    PageState(M, "(error page)", "404 signed in", "/prise-en-charge-hospitaliere/PEC-2000-000001", who="lea",
              status=404),
    PageState(M, "(error page)", "400", "/connexion?identifiant=%01", status=400),
]

B = "backoffice"
CONTENT_VIEWS = {  # endpoint: (URL, a required field of its form, the world key of one row)
    "news": ("/actualites", "title", "news_id"),
    "content_documents": ("/documents", "title", "document_id"),
    "terms": ("/conditions-utilisation", "version", "terms_id"),
    "document_categories": ("/categories-documents", "name", "category_id"),
    "document_types": ("/types-documents", "name", "type_id"),
    "contact_reasons": ("/motifs-contact", "name", "reason_id"),
    "no_coverage": ("/etablissements-sans-prise-en-charge", "label", "no_coverage_id"),
    "service_links": ("/liens-services", "url", "service_link_id"),
}
QUEUE_VIEWS = [  # endpoint, URL, the world key of one request, who looks at it
    ("documents_queue", "/depots-documents", "documents_id", "manager"),
    ("contact_queue", "/messages", "contact_id", "manager"),
    ("bank_details_queue", "/coordonnees-bancaires", "bank_id", "manager"),
    ("teletransmission_queue", "/teletransmission", "teletransmission_id", "agent"),
]
BACKOFFICE_STATES = [
    PageState(B, "auth.login", "empty form", "/connexion"),
    PageState(B, "auth.login", "errors", "/connexion", act=_submit_without_browser_checks("email"),
              errors=True),
    PageState(B, "auth.login", "wrong password", "/connexion",
              act=submit("email", {"email": "inconnu@mese.fr", "password": "pas-le-bon"}), errors=True),
    PageState(B, "auth.login", "notice (signed out)", "/connexion", who="signed_out_notice", expect=".alert"),
    PageState(B, "auth.totp", "empty form", "/connexion/code", who="admin_pending"),
    PageState(B, "auth.totp", "wrong code", "/connexion/code", who="admin_pending",
              act=submit("code", {"code": "000000"}), errors=True),
    PageState(B, "auth.invitation", "empty form", "/invitation/{invitation_token}"),
    PageState(B, "auth.invitation", "errors", "/invitation/{invitation_token}",
              act=_submit_without_browser_checks("new_password"), errors=True),
    PageState(B, "auth.invitation", "weak password", "/invitation/{invitation_token}",
              act=submit("new_password", {"new_password": "court", "confirmation": "court"}), errors=True),
    PageState(B, "auth.invitation", "link no longer valid", "/invitation/lien-perime", status=404,
              expect=".alert-danger"),
    PageState(B, "auth.enrol_totp", "QR code and key", "/connexion/application", who="newcomer_enrol",
              expect="img.bo-qr"),
    PageState(B, "auth.enrol_totp", "wrong code", "/connexion/application", who="newcomer_enrol",
              act=submit("code", {"code": "000000"}), errors=True),
    PageState(B, "auth.change_password", "empty form", "/mot-de-passe", who="agent"),
    PageState(B, "auth.change_password", "errors", "/mot-de-passe", who="agent",
              act=_submit_without_browser_checks("current_password"), errors=True),
    PageState(B, "admin.index", "queue overview", "/", who="agent"),
    PageState(B, "own_sessions.index", "open sessions", "/mes-sessions/", who="agent"),
    PageState(B, "admin.index", "menu open", "/", who="admin", act=_open_menu),
    PageState(B, "hospital_coverage.index_view", "list with rows", "/prises-en-charge/", who="agent"),
    PageState(B, "hospital_coverage.index_view", "all statuses, sorted", "/prises-en-charge/?flt0_0=all&sort=2",
              who="manager"),
    PageState(B, "hospital_coverage.index_view", "search without result", "/prises-en-charge/?search=PEC-1999-000001",
              who="agent"),
    PageState(B, "hospital_coverage.details_view", "new request", "/prises-en-charge/details/?id={coverage_new}",
              who="agent"),
    PageState(B, "hospital_coverage.details_view", "request in progress (mine)",
              "/prises-en-charge/details/?id={coverage_mine}", who="agent"),
    PageState(B, "hospital_coverage.details_view", "closed request", "/prises-en-charge/details/?id={coverage_done}",
              who="agent"),
    PageState(B, "hospital_coverage.take_next", "confirmation", "/prises-en-charge/suivante/", who="agent"),
    *[state for endpoint, url, row, who in QUEUE_VIEWS for state in (
        PageState(B, f"{endpoint}.index_view", "list with rows", f"{url}/", who=who),
        PageState(B, f"{endpoint}.index_view", "all statuses, filtered", f"{url}/?flt0_0=all&flt1_1=week", who=who),
        PageState(B, f"{endpoint}.details_view", "request", f"{url}/details/?id={{{row}}}", who=who),
        PageState(B, f"{endpoint}.take_next", "confirmation", f"{url}/suivante/", who=who),
    )],
    PageState(B, "documents_queue.details_view", "request held by me, waiting", "/depots-documents/details/"
              "?id={documents_id}", who="agent"),
    PageState(B, "contact_queue.details_view", "new request", "/messages/details/?id={contact_new_id}",
              who="agent"),
    PageState(B, "outbox.index_view", "list with rows", "/envois/", who="manager"),
    PageState(B, "outbox.details_view", "message", "/envois/details/?id={outbox_id}", who="manager"),
    PageState(B, "outbox.details_view", "dead fax and its attempts", "/envois/details/?id={outbox_dead_id}",
              who="manager"),
    PageState(B, "outbox.resend_view", "confirmation", "/envois/renvoyer/?id={outbox_dead_id}", who="manager"),
    PageState(B, "outbox.resend_view", "risk not accepted", "/envois/renvoyer/?id={outbox_dead_id}", who="manager",
              act=submit("risque_doublon"), errors=True),
    PageState(B, "member_search.index", "empty form", "/adherents/", who="agent"),
    PageState(B, "member_search.index", "results (links to the queues)", "/adherents/?number=4400000", who="agent"),
    PageState(B, "member_search.index", "results", "/adherents/?last_name=rimon&birth_date=10/01/1984",
              who="manager", expect="a[href*='/adherents/fiche/']"),
    PageState(B, "member_search.index", "errors", "/adherents/?last_name=RIMON", who="manager", status=400,
              errors=True),
    PageState(B, "member360.index", "files opened lately", "/adherents/fiche/", who="manager"),
    PageState(B, "member360.member", "member file", "/adherents/fiche/{lea_id}/", who="manager"),
    PageState(B, "member360.member", "unmask form errors", "/adherents/fiche/{lea_id}/", who="manager",
              act=_submit_without_browser_checks("reason"), errors=True),
    PageState(B, "member360.member", "unmasked", "/adherents/fiche/{lea_id}/", who="admin",
              act=submit("reason", {"reason": "Appel de l'adhérente : vérification"}), expect="#en-clair"),
    PageState(B, "audit.index_view", "list with rows", "/journal/", who="manager"),
    PageState(B, "audit.index_view", "filtered", "/journal/?flt0_0=backoffice.viewed", who="manager"),
    PageState(B, "audit.index_view", "second page (pager)", "/journal/?page=1", who="manager",
              expect=".pagination .page-link[href]"),
    PageState(B, "audit.index_view", "next page (keyset)", "/journal/", who="manager", act=_next_page,
              expect=".pagination [aria-current='page']"),
    PageState(B, "dashboard.index", "figures and charts", "/tableau-de-bord/", who="manager",
              expect="canvas[data-chart='days']"),
    PageState(B, "dashboard.index", "errors", "/tableau-de-bord/?du=2026-13-01", who="manager", status=400,
              errors=True),
    PageState(B, "exports.index", "form", "/exports/?kind=requests&request_types=hospital_coverage", who="manager"),
    PageState(B, "exports.index", "errors", "/exports/", who="manager", act=submit("start", {"start": "2026-12-01",
                                                                                      "end": "2026-11-01"}),
              errors=True),
    PageState(B, "exports.job", "ready to download", "/exports/{export_job_id}/", who="manager"),
    PageState(B, "export_jobs.index_view", "list with rows", "/mes-exports/", who="manager"),
    PageState(B, "staff.index_view", "list with rows", "/personnel/", who="admin"),
    PageState(B, "staff.details_view", "staff member", "/personnel/details/?id={agent_id}", who="admin"),
    PageState(B, "staff.edit_view", "form", "/personnel/edit/?id={agent_id}", who="admin"),
    PageState(B, "staff.create_view", "invitation form", "/personnel/new/", who="admin"),
    PageState(B, "staff.create_view", "errors", "/personnel/new/", who="admin",
              act=_submit_without_browser_checks("email"), errors=True),
    PageState(B, "staff.totp_reset_view", "request", "/personnel/application-authentification/?id={agent_id}",
              who="admin"),
    PageState(B, "staff.totp_reset_view", "waiting for a second admin",
              "/personnel/application-authentification/?id={manager_id}", who="admin", expect=".alert-info"),
    PageState(B, "staff.totp_reset_view", "confirmation by a second admin",
              "/personnel/application-authentification/?id={manager_id}", who="admin2", expect=".btn-danger"),
    PageState(B, "staff.edit_view", "errors", "/personnel/edit/?id={agent_id}", who="admin",
              act=_submit_without_browser_checks("full_name", {"full_name": ""}), errors=True),
    *[state for endpoint, (url, required, row) in CONTENT_VIEWS.items() for state in (
        PageState(B, f"{endpoint}.index_view", "list with rows", f"{url}/", who="manager"),
        PageState(B, f"{endpoint}.details_view", "record", f"{url}/details/?id={{{row}}}", who="manager"),
        PageState(B, f"{endpoint}.create_view", "empty form", f"{url}/new/", who="manager"),
        PageState(B, f"{endpoint}.create_view", "errors", f"{url}/new/", who="manager",
                  act=_submit_without_browser_checks(required), errors=True),
        PageState(B, f"{endpoint}.edit_view", "form", f"{url}/edit/?id={{{row}}}", who="manager"),
    )],
    *[PageState(B, f"{endpoint}.create_view", "preview", f"{CONTENT_VIEWS[endpoint][0]}/new/", who="manager",
                act=_preview(fill), expect=".member-preview") for endpoint, fill in PREVIEWS.items()],
    PageState(B, "terms.edit_view", "preview", "/conditions-utilisation/edit/?id={terms_id}", who="manager",
              act=_preview({}), expect=".member-preview"),
    PageState(B, "(error page)", "403", "/personnel/", who="agent", status=403),
    PageState(B, "(error page)", "404", "/page-inexistante", who="agent", status=404),
    PageState(B, "(error page)", "404 signed out", "/page-inexistante", status=404),
]

EXCLUDED = {
    "member": [
        Exclusion("static", "files (CSS, scripts, fonts)"),
        Exclusion("auth.captcha_challenge", "JSON of the captcha widget"),
        Exclusion("auth.logout", "POST-only action (its notice is the state 'auth.login[notice (signed out)]')"),
        Exclusion("auth.resend_code", "POST-only action, answers with a redirect to the code page"),
        Exclusion("auth.totp_start", "POST-only action, answers with a redirect to the enrolment page"),
        Exclusion("auth.totp_disable", "POST-only action, answers with a redirect to the security page"),
        Exclusion("auth.mobile_change_start", "POST-only action, answers with a redirect to the re-authentication"),
        Exclusion("auth.email_change_start", "POST-only action, answers with a redirect to the re-authentication"),
        Exclusion("auth.end_session", "POST-only action, answers with a redirect to the sessions page"),
        Exclusion("bank_change.resend", "POST-only action, answers with a redirect to the code page"),
        Exclusion("my_requests.file", "file download (the family's own files)"),
        Exclusion("reimbursements.statement_pdf", "PDF download (tests/member_app/test_reimbursements.py)"),
        Exclusion("reimbursements.export_csv", "CSV download (tests/member_app/test_reimbursements.py)"),
        Exclusion("publications.download", "PDF download (tests/member_app/test_publications.py)"),
        Exclusion("card.card_pdf", "file download (PDF of the card)"),
        Exclusion("card.certificate_pdf", "file download (PDF of the certificate)"),
        Exclusion("retirement.download", "file download (PDF documents for future retirees)"),
        Exclusion("contracts.guarantees", "PDF of a contract's guarantees table"),
        Exclusion("health", "JSON of the health check, for load balancers"),
    ],
    "backoffice": [
        Exclusion("static", "files (our CSS and scripts)"),
        Exclusion("admin.static", "files (Flask-Admin's CSS and scripts)"),
        Exclusion("auth.logout", "POST-only action (its notice is the state 'auth.login[notice (signed out)]')"),
        Exclusion("own_sessions.end", "POST-only action, answers with a redirect to the sessions page"),
        Exclusion("member360.unlock", "POST-only action, answers with a redirect to the member's file"),
        Exclusion("*.action_view", "POST-only: list actions, answer with a redirect to the list"),
        Exclusion("*.delete_view", "POST-only, and nothing is deleted from the back office (can_delete = False)"),
        Exclusion("*.ajax_update", "POST-only JSON of in-line list editing (no editable column)"),
        Exclusion("*.ajax_lookup", "JSON of select2 look-ups"),
        Exclusion("*.export", "file download (CSV, XLSX)"),
        *[Exclusion(f"*.{action}", "POST-only action of a request's page") for action in (
            "claim", "release", "reassign", "ask_member", "reject", "close", "approve", "classify", "reply", "propose",
            "send_back")],
        Exclusion("*.file", "file of a request, shown by the browser's own viewer (PDF, image)"),
        # Switched off in their view: Flask-Admin answers with a redirect to the list (see test below).
        *[Exclusion(f"{queue}.{page}", f"switched off ({flag} = False)")
          for queue in ("hospital_coverage", "documents_queue", "contact_queue", "bank_details_queue",
                        "teletransmission_queue")
          for page, flag in (("create_view", "can_create"), ("edit_view", "can_edit"))],
        Exclusion("outbox.create_view", "switched off (can_create = False)"),
        Exclusion("outbox.edit_view", "switched off (can_edit = False)"),
        Exclusion("audit.create_view", "switched off (can_create = False)"),
        Exclusion("audit.edit_view", "switched off (can_edit = False)"),
        Exclusion("audit.details_view", "switched off (can_view_details = False)"),
        Exclusion("health", "JSON of the health check, for load balancers"),
        Exclusion("exports.job_state", "JSON of an export's progress, read by js/export-progress.js"),
        Exclusion("exports.download", "file download (XLSX)"),
        *[Exclusion(f"export_jobs.{page}", f"switched off ({flag} = False)")
          for page, flag in (("create_view", "can_create"), ("edit_view", "can_edit"),
                             ("details_view", "can_view_details"))],
    ],
}
SWITCHED_OFF = {"create_view": "can_create", "edit_view": "can_edit", "details_view": "can_view_details"}


def _cases():
    for state in MEMBER_STATES:
        for lang in MEMBER_LANGUAGES:
            for viewport in VIEWPORTS:
                yield pytest.param(state, lang, viewport, id=f"member-{lang}-{viewport}-{state.id}")
    for state in BACKOFFICE_STATES:
        for lang in BACKOFFICE_LANGUAGES:
            for viewport in VIEWPORTS:
                yield pytest.param(state, lang, viewport, id=f"backoffice-{viewport}-{state.id}")


# ---------------------------------------------------------------------------------------------------------
# Test data, apps, browser: one of each for the module


@dataclass
class World:
    """The data the page states point at, and how to carry each kind of visitor's session."""

    values: dict
    member_keys: dict
    member_stamps: dict
    member_ids: dict
    staff: dict

    def member_session(self, who: str | None, lang: str) -> dict:
        now = time.time()
        data: dict = {"lang": lang}
        if who == "signed_out_notice":
            data["_flashes"] = [("message", "Vous êtes déconnecté(e).")]
        elif who and who.endswith("_pending"):
            name = who.removesuffix("_pending")
            data["signin"] = {"member": self.member_ids[name], "stamp": self.member_stamps[name],
                              "attempt": "a11y-" + name * 8, "at": now, "via": "password", "mobile": False}
        elif who == "lea_bank":  # a change of bank details typed, waiting for its code
            data.update({"_user_id": self.member_keys["lea"], "_fresh": True, "auth_complete": True,
                         "bank_change": self.values["bank_token"]})
        elif who:
            data.update({"_user_id": self.member_keys[who], "_fresh": True, "auth_complete": True})
        return data

    def backoffice_session(self, who: str | None) -> dict:
        now = int(time.time())
        if who is None:
            return {}
        if who == "signed_out_notice":
            return {"_flashes": [("info", "Vous êtes déconnecté(e).")]}
        if who.endswith("_pending"):
            return {"staff_pending": {"id": self.staff[who.removesuffix("_pending")][0], "at": now, "next": None}}
        if who.endswith("_enrol"):
            return {"staff_enrol": {"id": self.staff[who.removesuffix("_enrol")][0], "at": now, "next": None}}
        return {"_user_id": self.staff[who][1], "_fresh": True, "auth_complete": True, "last_seen": now}


def _rib() -> bytes:
    """A one-page PDF standing for a scanned RIB."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (80, 40), (255, 255, 255)).save(out, "PDF")
    return out.getvalue()


@pytest.fixture(autouse=True)
def _clean_tables():
    """This module's data (``world``) serves all its tests; it is emptied once, when the module ends."""
    yield


@pytest.fixture(scope="module")
def world(migrated_database, models_config):
    """The demo data, plus one member or record in each state a page can show."""
    session = session_factory(models_config)()
    now = utcnow()
    today = local_today(now)
    try:
        load_demo(session, now=now)
        session.commit()
        lea, michel, axel = (session.scalar(select(Member).where(Member.number == n))
                             for n in ("4400000", "4400001", "4400002"))
        paul = make_member(session, number="5590001", email="paul@example.test")
        nina = make_member(session, number="5590002", email="nina@example.test", mobile=None)
        michel.totp_secret, michel.second_factor = pyotp.random_base32(), SecondFactor.TOTP
        begin_totp_enrolment(session, axel, now=now)
        tokens: list[str] = []
        request_password_reset(session, "4400000", make_link=lambda t: tokens.append(t) or f"/x/{t}",
                               valid_minutes=600, ip=None, now=now)
        staff = {u.role.value: u for u in session.scalars(select(StaffUser))}
        child = selectable_beneficiaries(session, lea, today)[-1]
        requests = [submit_hospital_coverage(session, lea, HospitalCoverageInput(
            beneficiary_id=child.id, establishment_name=f"Clinique du Parc {n}", finess="750712184",
            start_on=today + timedelta(days=10 + n), admission_fax="0476000001", admission_email=""),
            now=now) for n in range(3)]
        session.flush()
        for request in requests[1:]:
            claim_request(session, request, staff=staff["agent"], now=now)
        approve_hospital_coverage(session, requests[2], staff=staff["agent"], now=now)
        session.commit()
        samuel, zoe = lea.beneficiaries[1], lea.beneficiaries[2]
        contact_new = ContactRequest(member_id=lea.id, reason_id=session.scalar(select(ContactReason.id)),
                                     beneficiary_id=samuel.id, message="Bonjour, une question sur mes cotisations.")
        start_request(session, contact_new, now=now)
        teletransmission = session.scalars(select(TeletransmissionRequest)).one()
        claim_request(session, teletransmission, staff=staff["agent"], now=now)
        bank_token = prepare_bank_change(session, lea, BankChangeInput(
            beneficiary_id=None, holder="Léa RIMON", iban="DE89 3704 0044 0532 0130 00",
            files=[("rib.pdf", _rib())]),
            policy=MemberAppConfig().sign_in_policy(), now=now).token
        session.commit()
        demo = {model: session.scalars(select(model).where(model.member_id == lea.id).order_by(model.id)).first()
                for model in (DocumentSubmission, ContactRequest, BankDetailChangeRequest)}
        export_job = ExportJob(kind="requests", filters={"kind": "requests", "start": None, "end": None, "types": [],
                                                         "statuses": []}, status=ExportStatus.DONE,
                               requested_by_id=staff["manager"].id, created_at=now, finished_at=now, rows_total=3,
                               rows_done=3, file_name=None, download_name="demandes_tout.xlsx",
                               expires_at=now + timedelta(hours=24))
        session.add(export_job)
        session.commit()
        first = {model: session.scalar(select(model.id).order_by(model.id)) for model in (
            NewsItem, ContentDocument, TermsVersion, DocumentCategory, DocumentType, ContactReason,
            NoCoverageEstablishment, OutboxMessage, ServiceLink)}
        dead_fax = OutboxMessage(channel=Channel.FAX, recipient="0476000001", subject="Prise en charge",
                                 related=requests[2].reference, status=OutboxStatus.DEAD, attempts=1,
                                 last_error=INTERRUPTED_ERROR, attachments=[])
        session.add(dead_fax)
        session.flush()
        session.add(OutboxAttempt(message_id=dead_fax.id, number=1, worker="worker-1:4242", started_at=now,
                                  ended_at=now, outcome=AttemptOutcome.INTERRUPTED, detail=INTERRUPTED_ERROR))
        session.commit()
        # Staff administration: an invitation link, a newcomer enrolling the app, a reset asked by one admin.
        invitation_tokens: list[str] = []
        invite_staff(session, email="invitee@mese.test", full_name="Inès Invitée", role=StaffRole.AGENT,
                     by=staff["admin"], make_link=lambda raw: invitation_tokens.append(raw) or raw, now=now)
        newcomer = invite_staff(session, email="newcomer@mese.test", full_name="Noé Nouveau", role=StaffRole.AGENT,
                                by=staff["admin"], make_link=lambda raw: raw, now=now)
        second_admin, _uri = create_staff(session, email="admin2@mese.test", full_name="Adèle Admin",
                                          role=StaffRole.ADMIN, password="Second-Admin-2026", now=now)
        request_totp_reset(session, staff["manager"], by=staff["admin"], now=now)
        session.commit()
        values = {
            "outbox_dead_id": dead_fax.id,
            "reset_token": tokens[0], "start_on": (today + timedelta(days=20)).isoformat(),
            "coverage_new": requests[0].id, "coverage_mine": requests[1].id, "coverage_done": requests[2].id,
            "coverage_done_ref": requests[2].reference, "agent_id": staff["agent"].id,
            "news_id": first[NewsItem], "document_id": first[ContentDocument], "terms_id": first[TermsVersion],
            "category_id": first[DocumentCategory], "type_id": first[DocumentType],
            "reason_id": first[ContactReason], "no_coverage_id": first[NoCoverageEstablishment],
            "outbox_id": first[OutboxMessage], "export_job_id": export_job.id,
            "documents_id": demo[DocumentSubmission].id, "documents_ref": demo[DocumentSubmission].reference,
            "contact_id": demo[ContactRequest].id, "contact_ref": demo[ContactRequest].reference,
            "contact_new_id": contact_new.id, "bank_id": demo[BankDetailChangeRequest].id,
            "bank_ref": demo[BankDetailChangeRequest].reference, "teletransmission_id": teletransmission.id,
            "spouse_id": samuel.id, "child_id": zoe.id, "lea_id": lea.id, "principal_id": lea.beneficiaries[0].id,
            "bank_token": bank_token,
            "service_link_id": first[ServiceLink],
            "lea_contract_id": session.scalar(select(Contract.id).where(Contract.member_id == lea.id)
                                              .order_by(Contract.subscribed_on, Contract.id)),
            "invitation_token": invitation_tokens[0], "manager_id": staff["manager"].id,
        }
        members = {"lea": lea, "michel": michel, "axel": axel, "paul": paul, "nina": nina}
        member_policy, staff_policy = MemberAppConfig().session_policy(), BackofficeConfig().session_policy()
        member_policy_codes = MemberAppConfig().sign_in_policy()
        keys = {k: open_session(session, member_id=m.id, policy=member_policy, ip="127.0.0.1",
                                user_agent="Mozilla/5.0 (Linux; Android 14) Chrome/120 Mobile", now=now)
                for k, m in members.items()}
        open_session(session, member_id=lea.id, policy=member_policy, ip="192.0.2.7",
                     user_agent="Mozilla/5.0 (Windows NT 10.0) Firefox/128.0", now=now)
        # Nina has asked to change her e-mail address: the page waits for the code sent to the new one.
        nina_session = find_session(session, keys["nina"], policy=member_policy, now=now)
        nina_session.reauthenticated_at = now
        request_email_change(session, nina, "nina.nouvelle@example.fr", web_session=nina_session,
                             web_session_key=keys["nina"], session_policy=member_policy,
                             policy=member_policy_codes, ip=None, now=now)
        nina_session.reauthenticated_at = None  # the code page shows without the form of a new address
        values["socle_id"] = next(c.id for c in lea.contracts if c.number == "C40SOCLE")
        # Paul and Axel have just confirmed their identity: the mobile change and app enrolment pages are open.
        for name in ("paul", "axel"):
            find_session(session, keys[name], policy=member_policy, now=now).reauthenticated_at = now
        staff = {**staff, "admin2": second_admin, "newcomer": newcomer}
        staff_keys = {role: open_session(session, staff_id=u.id, policy=staff_policy, ip="127.0.0.1",
                                         user_agent="", now=now) for role, u in staff.items()}
        session.commit()
        yield World(values=values, member_keys=keys, member_stamps={k: sign_in_stamp(m) for k, m in members.items()},
                    member_ids={k: m.id for k, m in members.items()},
                    staff={role: (u.id, staff_keys[role]) for role, u in staff.items()})
    finally:
        session.close()
        truncate_tables(migrated_database)


@pytest.fixture(scope="module")
def apps(migrated_database, models_config, tmp_path_factory):
    """Both apps built from the test settings (jobs in embedded mode, generous rate limits, captcha on)."""
    from backoffice import create_app as create_backoffice
    from backoffice.config import BackofficeConfig
    from member_app import create_app as create_member_app
    from member_app.config import MemberAppConfig

    jobs = JobsConfig(outbox_dir=tmp_path_factory.mktemp("a11y-outbox"))
    lots = "1000 per minute"
    member = create_member_app(MemberAppConfig(
        models=models_config, jobs=jobs, testing=True, ratelimit_storage_url="memory://", captcha_enabled=True,
        limit_signin=lots, limit_signin_identifier=lots, limit_codes=lots, limit_code_sends=lots,
        limit_account_forms=lots, limit_captcha=lots))
    backoffice = create_backoffice(BackofficeConfig(models=models_config, jobs=jobs, testing=True,
                                                    limit_signin=lots))
    return {"member": member, "backoffice": backoffice}


@pytest.fixture(scope="module")
def base_url(apps, world):
    """Both apps mounted as wsgi.py mounts them, on a free local port."""
    with serving(DispatcherMiddleware(apps["member"], {"/backoffice": apps["backoffice"]})) as url:
        yield url


@pytest.fixture(scope="module")
def pages():
    """One Chromium for the module; one context and page per language and viewport, reused by every state."""
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        cache: dict = {}

        def page_for(lang: str, viewport: str):
            if (lang, viewport) not in cache:
                context = browser.new_context(locale={"fr": "fr-FR", "en": "en-GB"}[lang], **VIEWPORTS[viewport])
                page = context.new_page()
                page.set_default_timeout(20_000)
                page.csp_violations = []
                page.on("console", lambda msg, page=page: page.csp_violations.append(msg.text)
                        if "Content Security Policy" in msg.text else None)
                cache[(lang, viewport)] = page
            return cache[(lang, viewport)]

        yield page_for
        browser.close()
    print(f"\naccessibility module: {time.monotonic() - started:.1f} s in the browser")


# ---------------------------------------------------------------------------------------------------------
# Tests


def test_every_route_has_an_accessibility_check(apps):
    """A new page of either app must get a state in the registry, or an exclusion with its reason."""
    problems = []
    for name, states in (("member", MEMBER_STATES), ("backoffice", BACKOFFICE_STATES)):
        rules = [(r.endpoint, r.rule, r.methods - {"HEAD", "OPTIONS"}) for r in apps[name].url_map.iter_rules()]
        missing, stale = a11y.route_coverage(rules, {s.endpoint for s in states}, EXCLUDED[name])
        problems += [f"{name}: no accessibility check for {m}" for m in missing]
        problems += [f"{name}: exclusion {s!r} matches no route" for s in stale]
        for state in states:
            if not state.endpoint.startswith("(") and state.endpoint not in {r[0] for r in rules}:
                problems.append(f"{name}: state {state.id} names an unknown endpoint")
        get_only_excluded = [r for r in rules if "GET" in r[2] and a11y.matches_any(
            r[0], [e.pattern for e in EXCLUDED[name] if e.reason.startswith("POST-only")])]
        problems += [f"{name}: {r[0]} answers GET but is excluded as POST-only" for r in get_only_excluded]
    assert not problems, "\n".join(problems)


def test_switched_off_views_are_really_switched_off(apps):
    """The Flask-Admin pages excluded as switched off do not exist for anyone (they redirect to the list)."""
    views = {view.endpoint: view for view in apps["backoffice"].extensions["admin"][0]._views}
    for exclusion in EXCLUDED["backoffice"]:
        if exclusion.reason.startswith("switched off"):
            endpoint, page = exclusion.pattern.split(".")
            assert getattr(views[endpoint], SWITCHED_OFF[page]) is False, exclusion.pattern


@pytest.mark.parametrize(("state", "lang", "viewport"), list(_cases()))
def test_page_has_no_accessibility_violation(state: PageState, lang: str, viewport: str, world, apps, base_url,
                                             pages, request):
    page = pages(lang, viewport)
    mount = MOUNTS[state.app]
    context = page.context
    context.clear_cookies()
    data = world.member_session(state.who, lang) if state.app == "member" else world.backoffice_session(state.who)
    if data:
        context.add_cookies([a11y.session_cookie(apps[state.app], data, base_url=base_url)])
    path = state.path.format(**world.values)
    page.csp_violations.clear()
    response = page.goto(base_url + mount + path)
    page.wait_for_load_state("load")
    if state.act is not None:
        state.act(page, world.values)
        response = None
    title = f"{state.app} page {state.id} ({lang}, {viewport}): {page.url}"
    reached = urlsplit(page.url).path
    expected = mount + urlsplit(path).path
    assert reached == expected, f"{title}: expected {expected}, landed on {reached} (session not accepted?)"
    if response is not None:
        assert response.status == state.status, f"{title}: HTTP {response.status}, expected {state.status}"
    if state.expect:
        assert page.locator(state.expect).count(), f"{title}: the state shows nothing matching {state.expect!r}"
    if state.errors:
        assert page.locator(a11y.ERROR_MARKERS).count(), f"{title}: the page shows no error"

    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{request.node.callspec.id}.png"), full_page=True)

    findings = a11y.run_axe(page) + a11y.structure_findings(page, lang=lang, errors=state.errors)
    findings += a11y.reflow_findings(page) + a11y.target_size_findings(page)
    findings += [a11y.Finding("csp", "serious", text) for text in page.csp_violations]
    assert not findings, a11y.report(f"{title}: {len(findings)} problem(s)", findings)
