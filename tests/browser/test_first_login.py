"""The guide's first login, in Chromium: activation, login ID by e-mail, password, captcha, SMS code, terms."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models.demo import load_demo
from models.members.entities import Member
from models.outbox.entities import Channel, OutboxMessage, OutboxStatus
from tests.browser.conftest import last_sms_code, new_page, serving, tick_captcha

pytestmark = pytest.mark.browser
NEW_PASSWORD = "Randonnee-en-Chartreuse-74"


@pytest.fixture
def server(migrated_database, member_app_config, session):
    """The member area with the demo data, served on a free local port; the captcha is on, as in production."""
    from member_app import create_app

    load_demo(session)
    session.commit()
    with serving(create_app(replace(member_app_config, captcha_enabled=True))) as url:
        yield url


@pytest.fixture
def page(browser):
    return new_page(browser)


def received_emails(session, jobs_config, smtp, to: str) -> list[str]:
    """Deliver the pending e-mails as the outbox job does, and return the texts the SMTP server got for ``to``.

    Without the jobs layer's delivery function, fall back to the texts of the queued outbox rows.
    """
    session.expire_all()
    ids = session.scalars(select(OutboxMessage.id).where(OutboxMessage.channel == Channel.EMAIL,
                                                         OutboxMessage.status == OutboxStatus.PENDING)
                          .order_by(OutboxMessage.id)).all()
    try:
        from jobs.deliver import deliver
    except ImportError:
        return [m.text_body for m in session.scalars(select(OutboxMessage).where(
            OutboxMessage.channel == Channel.EMAIL, OutboxMessage.recipient == to).order_by(OutboxMessage.id))]
    for message_id in ids:
        deliver(session, message_id, jobs_config)
        session.commit()
    return [m["message"].get_body(preferencelist=("plain",)).get_content() for m in smtp.to(to)]


def test_first_login_journey_of_a_member_who_never_logged_in(server, page, session, jobs_config, smtp):
    axel = session.scalar(select(Member).where(Member.number == "4400002"))
    assert axel.password_hash is None

    # 1- "Activer mon compte", fill in the fields of the principal insured.
    page.goto(server + "/connexion")
    expect(page.get_by_role("heading", name="ACCÉDER À VOTRE ESPACE PERSONNEL")).to_be_visible()
    page.get_by_role("link", name="Activer mon compte").first.click()
    expect(page.get_by_role("heading", name="Activation de votre espace")).to_be_visible()
    page.get_by_role("textbox", name="Nom", exact=True).fill("Dumont")
    page.get_by_role("textbox", name="Prénom").fill("Axel")
    page.get_by_label("Date de naissance").fill("1974-08-10")
    page.get_by_role("textbox", name="Numéro INSEE").fill("1 74 08 38 109 055 55")
    tick_captcha(page)
    page.get_by_role("button", name="Envoyer").click()
    expect(page.get_by_text("un e-mail contenant votre identifiant vient d'être envoyé")).to_be_visible()

    # 2- An e-mail containing the login ID.
    mails = received_emails(session, jobs_config, smtp, "axel.dumont@example.fr")
    assert len(mails) == 1
    number = re.search(r"Votre identifiant mese : (\d+)", mails[0]).group(1)
    assert number == "4400002"

    # 3- "Mot de passe oublié ou expiré ?", 4- the login ID, "Valider".
    page.get_by_role("link", name="Retour à la page de connexion").click()
    page.get_by_role("link", name="Mot de passe oublié ou expiré ?").click()
    expect(page.get_by_role("heading", name="Mot de passe oublié")).to_be_visible()
    page.get_by_role("textbox", name="Identifiant", exact=True).fill(number)
    tick_captcha(page)
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_text("Si cet identifiant correspond à un compte")).to_be_visible()

    # The e-mail allowing to set the password; the password rules are shown next to the field.
    mails = received_emails(session, jobs_config, smtp, "axel.dumont@example.fr")
    link = re.search(r"https?://\S+/mot-de-passe/nouveau/\S+", mails[-1]).group(0)
    page.goto(link)
    expect(page.get_by_text("12 caractères au moins")).to_be_visible()
    page.get_by_role("textbox", name="Nouveau mot de passe").fill("motdepassesecret")
    page.get_by_role("button", name="Valider").click()
    errors = page.locator("#new_password-error")  # next to the field, and listed first in the page
    expect(errors).to_contain_text("Au moins un chiffre, un caractère spécial de la liste ou une lettre majuscule.")
    expect(errors).to_contain_text("Ce mot de passe est trop courant")
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page).to_have_title(re.compile(r"^Erreur : "))
    page.get_by_role("textbox", name="Nouveau mot de passe").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Valider").click()

    # Setting the password ends with the second factor: the 6-digit code by SMS.
    expect(page.get_by_role("heading", name="Le code à 6 chiffres")).to_be_visible()
    expect(page.get_by_text("06 ** ** ** 22")).to_be_visible()
    page.get_by_role("textbox", name="Code à 6 chiffres").fill(last_sms_code(session, axel.id))
    page.get_by_role("button", name="Valider").click()

    # First login: the terms of use before anything else.
    expect(page.get_by_role("heading", name="Conditions générales d'utilisation de votre espace adhérent MESE")) \
        .to_be_visible()
    page.goto(server + "/")
    page.wait_for_url("**/conditions-generales")
    page.get_by_label("J'ai lu et j'accepte les conditions générales d'utilisation").check()
    page.get_by_role("button", name="Valider").click()
    page.wait_for_url(server + "/")
    page.get_by_role("button", name="Se déconnecter").click()

    # Log in as the guide says: member number, password, "Je ne suis pas un robot", VALIDER, then the code.
    expect(page.get_by_role("heading", name="ACCÉDER À VOTRE ESPACE PERSONNEL")).to_be_visible()
    page.get_by_role("textbox", name="Identifiant mese").fill(number)
    page.locator("#password").fill(NEW_PASSWORD)
    page.get_by_label("Se souvenir de mon identifiant").check()
    tick_captcha(page)
    page.get_by_role("button", name="VALIDER").click()
    expect(page.get_by_role("heading", name="Le code à 6 chiffres")).to_be_visible()
    page.get_by_role("textbox", name="Code à 6 chiffres").fill(last_sms_code(session, axel.id))
    page.get_by_role("button", name="Valider").click()
    page.wait_for_url(server + "/")
    expect(page.get_by_text("Axel DUMONT").first).to_be_visible()

    # The member number is remembered for the next visit, and nothing broke the page's security policy.
    page.get_by_role("button", name="Se déconnecter").click()
    assert page.get_by_role("textbox", name="Identifiant mese").input_value() == number
    assert page.csp_violations == []
