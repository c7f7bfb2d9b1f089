"""Issue 2's slice in Chromium: a member asks for hospital coverage, an agent approves, the fax reaches the gateway."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pyotp
import pytest
from rq import SimpleWorker
from sqlalchemy import select
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from jobs import runtime
from jobs.relay import delivery_queue, relay_once
from models.base import utcnow
from models.demo import DEMO_MEMBER_PASSWORD, DEMO_STAFF_PASSWORD, DEMO_TOTP, load_demo
from models.members.entities import Member
from models.requests.entities import HospitalCoverageRequest, RequestStatus
from tests.browser.conftest import last_sms_code, new_page, serving, tick_captcha

pytestmark = pytest.mark.browser
ADMISSION_FAX = "04 76 00 00 01"


@pytest.fixture
def server(migrated_database, member_app_config, backoffice_config, session):
    """Both apps mounted as wsgi.py mounts them, with the demo data, on a free local port."""
    from backoffice import create_app as create_backoffice
    from member_app import create_app as create_member_app

    load_demo(session)
    session.commit()
    app = DispatcherMiddleware(create_member_app(replace(member_app_config, captcha_enabled=True)),
                               {"/backoffice": create_backoffice(backoffice_config)})
    with serving(app) as url:
        yield url


def run_jobs(jobs_config, models_config) -> None:
    """What `mese worker` does: relay the outbox into RQ, then work the queue until it is empty."""
    runtime.configure(jobs_config, models_config)
    relay_once(jobs_config, models_config)
    queue = delivery_queue(jobs_config)
    SimpleWorker([queue], connection=queue.connection, serializer=queue.serializer).work(burst=True)


def plain_text(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def test_member_request_reaches_the_hospital_fax(server, browser, session, smtp, jobs_config, models_config):
    lea = session.scalar(select(Member).where(Member.number == "4400000"))
    start_on = (utcnow() + timedelta(days=10)).date()

    # The member signs in as the guide says and fills the form of "Prise en charge hospitalière".
    member = new_page(browser)
    member.goto(server + "/connexion")
    member.get_by_role("textbox", name="Identifiant mese").fill("4400000")
    member.locator("#password").fill(DEMO_MEMBER_PASSWORD)
    tick_captcha(member)
    member.get_by_role("button", name="VALIDER").click()
    member.get_by_role("textbox", name="Code à 6 chiffres").fill(last_sms_code(session, lea.id))
    member.get_by_role("button", name="Valider").click()
    if "/conditions-generales" in member.url:
        member.get_by_label("J'ai lu et j'accepte les conditions générales d'utilisation").check()
        member.get_by_role("button", name="Valider").click()
    member.get_by_role("link", name="Prise en charge hospitalière").first.click()
    assert member.get_by_role("heading", name="Prise en charge hospitalière").first.is_visible()
    assert member.get_by_label("N° adhérent").input_value() == "4400000"
    member.get_by_label("Date de début d'hospitalisation").fill(start_on.isoformat())
    member.get_by_label("Personne").select_option(label="Zoé RIMON (Enfant)")
    member.get_by_label("Nom de l'établissement").fill("Clinique du Parc à Lyon")
    member.get_by_label("N° Finess de l'hôpital ou de la clinique").fill("750712184")
    member.get_by_label("Fax du service d'admission").fill(ADMISSION_FAX)
    member.get_by_role("button", name="Valider").click()
    reference = re.search(r"PEC-\d{4}-\d{6}", member.content()).group(0)
    assert member.get_by_text("accusé de réception").first.is_visible()

    # The receipt reaches the member's mailbox through the outbox, the queue and SMTP.
    run_jobs(jobs_config, models_config)
    receipts = smtp.to("lea.rimon35@example.fr")
    assert len(receipts) == 1 and reference in plain_text(receipts[0]["message"])

    # An agent signs in (password, then authenticator code), takes the next request and approves it.
    agent = new_page(browser)
    agent.goto(server + "/backoffice/")
    agent.get_by_label("Adresse e-mail").fill("agent@mese.fr")
    agent.get_by_label("Mot de passe").fill(DEMO_STAFF_PASSWORD)
    agent.get_by_role("button", name="Continuer").click()
    agent.get_by_label("Code de l'application d'authentification").fill(pyotp.TOTP(DEMO_TOTP["agent"]).now())
    agent.get_by_role("button", name="Valider").click()
    agent.goto(server + "/backoffice/prises-en-charge/")
    agent.get_by_role("button", name="Prendre la demande suivante").first.click()
    if agent.get_by_role("button", name="Prendre la demande suivante").count():
        agent.get_by_role("button", name="Prendre la demande suivante").first.click()
    assert agent.get_by_text(reference).first.is_visible()
    agent.get_by_role("button", name="Accepter et envoyer la prise en charge").click()

    session.expire_all()
    request = session.scalar(select(HospitalCoverageRequest).where(HospitalCoverageRequest.reference == reference))
    assert request.status is RequestStatus.DONE

    # The coverage letter reaches the e-mail-to-fax gateway as a PDF, and the member is told.
    run_jobs(jobs_config, models_config)
    faxes = smtp.to("0476000001@fax.example.test")
    assert len(faxes) == 1
    attachments = [part for part in faxes[0]["message"].iter_attachments()]
    assert [a.get_content_type() for a in attachments] == ["application/pdf"]
    assert attachments[0].get_content().startswith(b"%PDF")
    notices = smtp.to("lea.rimon35@example.fr")
    assert len(notices) == 2 and reference in plain_text(notices[1]["message"])
