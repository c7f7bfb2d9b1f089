"""Each request type in Chromium, from the member's form to the agent's action, and back to "Mes demandes"."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pyotp
import pytest
from PIL import Image
from sqlalchemy import select
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from models.demo import DEMO_MEMBER_PASSWORD, DEMO_STAFF_PASSWORD, DEMO_TOTP, load_demo
from models.members.entities import Member
from models.requests.entities import REQUEST_MODELS
from tests.browser.conftest import last_sms_code, new_page, serving
from tests.browser.test_coverage_slice import plain_text, run_jobs

pytestmark = pytest.mark.browser
LEA_EMAIL = "lea.rimon35@example.fr"


@pytest.fixture
def server(migrated_database, member_app_config, backoffice_config, session):
    """Both apps mounted as wsgi.py mounts them, with the demo data (captcha off: not what is tested here)."""
    from backoffice import create_app as create_backoffice
    from member_app import create_app as create_member_app

    load_demo(session)
    session.commit()
    app = DispatcherMiddleware(create_member_app(replace(member_app_config, captcha_enabled=False)),
                               {"/backoffice": create_backoffice(backoffice_config)})
    with serving(app) as url:
        yield url


@pytest.fixture
def lea(session):
    return session.scalar(select(Member).where(Member.number == "4400000"))


@pytest.fixture
def scan(tmp_path):
    """A PDF file on disk, as the member's computer has it."""
    path = tmp_path / "scan.pdf"
    image = Image.new("RGB", (200, 280), (255, 255, 255))
    image.putpixel((10, 10), (0, 0, 0))
    out = io.BytesIO()
    image.save(out, "PDF")
    path.write_bytes(out.getvalue())
    return path


def member_signs_in(browser, server, session, lea, page=None):
    """Léa signs in with her password and the SMS code (in ``page``, else a new desktop page) and accepts the terms."""
    page = page or new_page(browser)
    page.goto(server + "/connexion")
    page.get_by_role("textbox", name="Identifiant mese").fill("4400000")
    page.locator("#password").fill(DEMO_MEMBER_PASSWORD)
    page.get_by_role("button", name="VALIDER").click()
    page.get_by_role("textbox", name="Code à 6 chiffres").fill(last_sms_code(session, lea.id))
    page.get_by_role("button", name="Valider").click()
    if "/conditions-generales" in page.url:
        page.get_by_label("J'ai lu et j'accepte les conditions générales d'utilisation").check()
        page.get_by_role("button", name="Valider").click()
    return page


def staff_signs_in(browser, server, role: str = "agent"):
    page = new_page(browser)
    page.goto(server + "/backoffice/")
    page.get_by_label("Adresse e-mail").fill(f"{role}@mese.fr")
    page.get_by_label("Mot de passe").fill(DEMO_STAFF_PASSWORD)
    page.get_by_role("button", name="Continuer").click()
    page.get_by_label("Code de l'application d'authentification").fill(pyotp.TOTP(DEMO_TOTP[role]).now())
    page.get_by_role("button", name="Valider").click()
    return page


def reference_on(page, prefix: str) -> str:
    return re.search(rf"{prefix}-\d{{4}}-\d{{6}}", page.content()).group(0)


def request_id(session, reference: str) -> int:
    model = next(m for m in REQUEST_MODELS.values() if m.reference_prefix == reference[:3])
    session.expire_all()
    return session.scalar(select(model.id).where(model.reference == reference))


def test_documents_from_the_form_to_the_agent_and_back(server, browser, session, lea, scan, smtp, jobs_config,
                                                       models_config):
    member = member_signs_in(browser, server, session, lea)
    member.goto(server + "/depot-de-documents/")
    assert member.get_by_role("heading", name="Envoyez-nous vos documents et justificatifs").is_visible()
    member.get_by_label("Catégorie").select_option(label="Remboursements")
    member.get_by_label("Type de document").select_option(label="Devis")
    member.get_by_label("Bénéficiaire concerné").select_option(label="Samuel RIMON (Conjoint)")
    member.get_by_label("Fichiers").set_input_files(str(scan))
    member.get_by_role("button", name="Envoyer").click()
    reference = reference_on(member, "DOC")
    assert member.get_by_text("accusé de réception").first.is_visible()
    run_jobs(jobs_config, models_config)
    assert any(reference in plain_text(m["message"]) for m in smtp.to(LEA_EMAIL))

    agent = staff_signs_in(browser, server)
    agent.goto(server + "/backoffice/depots-documents/")
    agent.get_by_role("button", name="Prendre la demande suivante").first.click()
    assert agent.get_by_text(reference).first.is_visible()
    with agent.expect_popup() as popup:
        agent.get_by_role("link", name="scan.pdf").click()
    assert "/fichiers/" in popup.value.url  # served by the back office to signed-in staff only
    agent.get_by_label("Question à l'adhérent (il répond dans « Mes demandes »)").fill("Il manque la page 2 du devis.")
    agent.get_by_role("button", name="Demander à l'adhérent").click()

    member.goto(server + f"/mes-demandes/{reference}")
    assert member.get_by_text("Il manque la page 2 du devis.").is_visible()
    member.get_by_label("Votre réponse").fill("La voici.")
    member.get_by_role("button", name="Envoyer").click()
    assert member.get_by_text("Votre réponse a bien été envoyée.").is_visible()

    agent.reload()
    assert agent.get_by_text("La voici.").is_visible()
    agent.get_by_role("button", name="Documents traités : terminer").click()
    member.goto(server + "/mes-demandes/")
    row = member.get_by_role("row").filter(has_text=reference)
    assert row.get_by_text("Traitée").is_visible()
    assert not member.csp_violations and not agent.csp_violations


def test_contact_from_the_form_to_the_reply_read_in_mes_demandes(server, browser, session, lea, smtp, jobs_config,
                                                                 models_config):
    member = member_signs_in(browser, server, session, lea)
    member.goto(server + "/contacter-la-mutuelle/")
    member.get_by_label("Motif de votre demande").select_option(label="Cotisations")
    member.get_by_label("Bénéficiaire concerné").select_option(label="Léa RIMON (Assuré Principal)")
    member.get_by_role("textbox", name="Votre demande").fill("Quand mes cotisations changent-elles ?")
    member.get_by_role("button", name="Envoyer").click()
    reference = reference_on(member, "CTC")

    agent = staff_signs_in(browser, server)
    agent.goto(server + "/backoffice/messages/")
    agent.get_by_role("button", name="Prendre la demande suivante").first.click()
    assert agent.get_by_text("Quand mes cotisations changent-elles ?").is_visible()
    agent.get_by_label("Réponse à l'adhérent").fill("Au 1er janvier de chaque année.")
    agent.get_by_role("button", name="Envoyer la réponse").click()
    agent.get_by_role("button", name="Clore la demande").click()

    member.goto(server + f"/mes-demandes/{reference}")
    assert member.get_by_text("Au 1er janvier de chaque année.").is_visible()
    assert member.get_by_text("Traitée").first.is_visible()
    run_jobs(jobs_config, models_config)
    subjects = [m["message"]["Subject"] for m in smtp.to(LEA_EMAIL)]
    assert any(reference in s and "réponse" in s for s in subjects)


def test_bank_change_confirmed_by_sms_proposed_by_an_agent_approved_by_a_manager(server, browser, session, lea, scan):
    member = member_signs_in(browser, server, session, lea)
    member.goto(server + "/coordonnees-bancaires/changement/")
    member.get_by_label("Titulaire du compte").fill("Léa RIMON")
    member.get_by_label("IBAN").fill("de89 3704 0044 0532 0130 00")
    member.get_by_label("RIB (relevé d'identité bancaire)").set_input_files(str(scan))
    member.get_by_role("button", name="Continuer").click()
    assert member.get_by_role("heading", name="Confirmez le changement de coordonnées bancaires").is_visible()
    member.get_by_label("Code de sécurité").fill(last_sms_code(session, lea.id))
    member.get_by_role("button", name="Valider").click()
    reference = reference_on(member, "RIB")
    assert member.get_by_text("L'ancien compte reste utilisé").first.is_visible()

    agent = staff_signs_in(browser, server)
    agent.goto(f"{server}/backoffice/coordonnees-bancaires/details/?id={request_id(session, reference)}")
    assert agent.get_by_text("DE89370400440532013000").is_visible() and agent.get_by_text("COBADEFF").first.is_visible()
    agent.get_by_role("button", name="Prendre cette demande").click()
    agent.get_by_role("button", name="Proposer le changement").click()
    assert agent.get_by_role("button", name="Valider le changement").count() == 0

    manager = staff_signs_in(browser, server, "manager")
    manager.goto(f"{server}/backoffice/coordonnees-bancaires/details/?id={request_id(session, reference)}")
    manager.get_by_role("button", name="Valider le changement").click()
    assert manager.get_by_text("Changement validé").first.is_visible()

    member.goto(server + f"/mes-demandes/{reference}")
    assert member.get_by_text("Votre nouveau compte est utilisé à compter du").is_visible()


def test_teletransmission_from_the_request_to_its_activation(server, browser, session, lea, scan):
    person = next(b for b in lea.beneficiaries if b.first_name == "Léa")  # the demo leaves hers off
    member = member_signs_in(browser, server, session, lea)
    member.goto(server + f"/teletransmission/{person.id}")
    member.get_by_label("Attestation de droits à l'assurance maladie").set_input_files(str(scan))
    member.get_by_role("button", name="Envoyer").click()
    reference = reference_on(member, "TLT")
    member.goto(server + f"/teletransmission/{person.id}")
    assert member.get_by_text("Demande en cours").is_visible()

    agent = staff_signs_in(browser, server)
    agent.goto(f"{server}/backoffice/teletransmission/details/?id={request_id(session, reference)}")
    agent.get_by_role("button", name="Prendre cette demande").click()
    agent.get_by_role("button", name="Télétransmission mise en place : activer").click()

    member.goto(server + f"/mes-demandes/{reference}")
    assert member.get_by_text("La télétransmission est activée pour Léa RIMON.").is_visible()
    member.goto(server + f"/teletransmission/{person.id}")
    assert member.get_by_text("Activée").first.is_visible()
