"""French and English: rules' messages, statuses, roles, error pages, e-mails and SMS in the member's language."""

from __future__ import annotations

import pickle
import re
from datetime import date, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from models.audit.entities import AuditEvent
from models.base import utcnow
from models.content.entities import NewsItem
from models.i18n import Message, localize
from models.members.entities import Civility
from models.members.security import SignInPolicy, send_code
from models.members.entities import CodePurpose
from models.outbox.entities import Channel, OutboxMessage
from models.outbox.operations import render_blocks
from models.requests.entities import RequestStatus
from models.requests.workflow import local_today
from tests.factories import PASSWORD, make_member
from tests.helpers import login_member

from .test_auth_support import app, auth_config, client, post_form, sign_in  # noqa: F401  (fixtures)

#: Words that only a French sentence has; an English page must show none of them outside lang="fr" parts.
FRENCH_WORDS = re.compile(r"\b(vous|votre|vos|les|des|une|est|pour|avec|dans|sur|pas|être|été|aucune?|"
                          r"demande|personne|mot de passe|champ|connexion|envoyer|valider)\b", re.I)


def visible_text(html: str) -> str:
    """The text a reader gets from ``html``, without scripts, styles, attributes and ``lang="fr"`` elements."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r'<(\w+)[^>]*\blang="fr"[^>]*>.*?</\1>', " ", html, flags=re.S)
    html = re.sub(r"https?://\S+", " ", html)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def french_left(html: str) -> list[str]:
    """French words on an English page (none expected)."""
    return FRENCH_WORDS.findall(visible_text(html))


@pytest.fixture
def member(session):
    return make_member(session)


@pytest.fixture
def english(client, member):  # noqa: F811
    """A signed-in member's client, switched to English."""
    login_member(client, member)
    client.get("/?lang=en")
    return client


# ---------------------------------------------------------------------------------------------------------
# Messages of the rules


def test_a_message_of_the_rules_is_french_text_that_knows_its_translation():
    rule = Message("Au moins %(count)d caractères.", count=12)
    assert rule == "Au moins 12 caractères." and isinstance(rule, str)
    assert localize(rule, "en") == "At least 12 characters."
    assert localize(rule, "fr") == localize(rule, "xx") == "Au moins 12 caractères."
    assert localize("plain text", "en") == "plain text"
    assert localize(pickle.loads(pickle.dumps(rule)), "en") == "At least 12 characters."


def test_parameters_that_are_messages_are_translated_too():
    sentence = Message("Pour vous connecter à votre espace adhérent MESE (identifiant %(number)s), vous utiliserez "
                       "désormais %(method)s en plus de votre mot de passe.", number="4400000",
                       method=Message("un code reçu par SMS"))
    assert "a code received by text message" in localize(sentence, "en")


def test_statuses_and_roles_have_their_english_label():
    assert localize(RequestStatus.WAITING_MEMBER.label, "en") == "Waiting for you"
    assert RequestStatus.WAITING_MEMBER.label == "En attente de votre part"
    assert localize(Civility.MADAME.label, "en") == "Ms"


def test_the_rules_refusals_of_the_coverage_form_are_shown_in_english(english, session):
    yesterday = local_today(utcnow()) - timedelta(days=1)
    page = post_form(english, "/prise-en-charge-hospitaliere/", {
        "beneficiary_id": "", "establishment_name": "", "finess": "123", "start_on": yesterday.isoformat(),
        "admission_fax": "", "admission_email": ""}).get_data(as_text=True)
    assert "The hospital admission date cannot be in the past." in page
    assert "The FINESS number has 9 characters." in page
    assert "This field is required." in page
    assert "Enter at least the fax or the e-mail so that the request can be sent" in page
    assert french_left(page) == []
    assert "<title>Error: " in page


def test_roles_in_the_person_list_and_the_page_scripts_messages_are_english(english):
    page = english.get("/prise-en-charge-hospitaliere/").get_data(as_text=True)
    assert "(Main policyholder)" in page and "(Spouse)" in page and "(Child)" in page
    assert 'data-not-covered="{name} is not covered by your contract on this date' in page
    assert french_left(page) == []


def test_error_pages_and_the_sign_in_prompt_are_english(client):  # noqa: F811
    client.get("/connexion?lang=en")
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and "<title>Page not found" in missing.get_data(as_text=True)
    assert french_left(missing.get_data(as_text=True)) == []
    page = client.get("/", follow_redirects=True).get_data(as_text=True)
    assert "Please sign in to open this page." in page


# ---------------------------------------------------------------------------------------------------------
# The member's language: kept on the member, used by e-mails and SMS


def test_switching_language_is_kept_on_the_member_and_audited(english, session, member):
    session.expire_all()
    assert session.get(type(member), member.id).language == "en"
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "member.language_changed"))
    assert event.member_id == member.id and event.details["language"] == "en"
    english.get("/?lang=fr")
    session.expire_all()
    assert session.get(type(member), member.id).language == "fr"


def test_a_member_signing_in_from_the_english_page_gets_english_e_mails(client, session, member):  # noqa: F811
    client.get("/connexion?lang=en")
    response = sign_in(client, session, member, PASSWORD)
    assert response.status_code == 302
    session.expire_all()
    assert session.get(type(member), member.id).language == "en"
    sms = session.scalars(select(OutboxMessage).where(OutboxMessage.channel == Channel.SMS)).all()
    assert sms[-1].text_body.startswith("MESE : votre code")  # sent before the member chose: French


def test_a_visit_starts_in_the_members_language(client, session, member):  # noqa: F811
    member.language = "en"
    session.commit()
    login_member(client, member)
    assert '<html lang="en">' in client.get("/").get_data(as_text=True)


def test_the_receipt_and_the_code_follow_the_members_language(english, session, member):
    start = local_today(utcnow()) + timedelta(days=10)
    response = post_form(english, "/prise-en-charge-hospitaliere/", {
        "beneficiary_id": str(member.beneficiaries[1].id), "establishment_name": "Clinique des Cèdres",
        "start_on": start.isoformat(), "admission_fax": "04 76 00 00 01"})
    assert response.status_code == 303
    receipt = session.scalar(select(OutboxMessage).where(OutboxMessage.template == "hospital_coverage_received"))
    assert receipt.subject.startswith("We have received your hospital coverage request PEC-")
    assert receipt.text_body.startswith("Dear Ms RIMON,") and "Kind regards," in receipt.text_body
    assert french_left(receipt.text_body.replace("Clinique des Cèdres", "")) == []

    session.expire_all()
    member = session.get(type(member), member.id)
    send_code(session, member, attempt="a" * 32, purpose=CodePurpose.LOGIN, destination=member.mobile,
              policy=SignInPolicy(), ip=None, now=utcnow())
    sms = session.scalars(select(OutboxMessage).where(OutboxMessage.channel == Channel.SMS)).all()[-1]
    assert re.fullmatch(r"MESE: your security code is \d{6}\. It is valid for 5 minutes\. Never share it with "
                        r"anyone, not even MESE\.", sms.text_body)


MEMBER_EMAILS = {
    "account_activation": {"login_url": "https://adherents.mese.fr/connexion"},
    "account_locked": {"failures": 10},
    "account_mobile_added": {"masked_mobile": "06 ** ** ** 06"},
    "account_password_changed": {"changed_at": utcnow()},
    "account_password_reset": {"link": "https://adherents.mese.fr/mot-de-passe/nouveau/x", "minutes": 60,
                               "first_password": False},
    "account_second_factor_changed": {"method": Message("un code reçu par SMS")},
    "hospital_coverage_received": {},
    "hospital_coverage_approved": {},
    "hospital_coverage_rejected": {"reason": "Contrat résilié"},
}


@pytest.mark.parametrize("template", sorted(MEMBER_EMAILS))
def test_every_member_e_mail_exists_in_english_with_no_french_left(template):
    member = SimpleNamespace(civility=Civility.MONSIEUR, last_name="d'Arc", number="4400000")
    request = SimpleNamespace(reference="PEC-2026-000001", establishment_name="Clinic", start_on=date(2026, 12, 24),
                              admission_fax="0476000001", admission_email=None)
    context = {"member": member, "request": request, "beneficiary": SimpleNamespace(full_name="Zoé RIMON"),
               **MEMBER_EMAILS[template]}
    english = render_blocks(f"email/{template}.html", context, "en")
    french = render_blocks(f"email/{template}.html", context, "fr")
    assert english["subject"] != french["subject"]
    assert english["text"].startswith("Dear Mr D'ARC,") and french["text"].startswith("Bonjour Monsieur D'ARC,")
    assert 'lang="en"' in english["html"] and "Dear Mr D&#39;ARC," in english["html"]
    for part in ("subject", "text", "html"):
        assert french_left(english[part].replace("Contrat résilié", "")) == [], part


# ---------------------------------------------------------------------------------------------------------
# What staff write stays French, and says so


def test_staff_content_is_marked_french_on_an_english_page(english, session):
    session.add(NewsItem(title="Bulletin Santé en ligne", body="Dans Documents d'informations.",
                         starts_on=local_today(utcnow())))
    session.commit()
    page = english.get("/").get_data(as_text=True)
    assert '<strong lang="fr">Bulletin Santé en ligne</strong>' in page
    assert '<span class="news-body" lang="fr">' in page
    french = english.get("/?lang=fr").get_data(as_text=True)
    assert "<strong>Bulletin Santé en ligne</strong>" in french and 'lang="fr">Bulletin' not in french


def test_statuses_of_the_members_requests_are_english(english, session, member):
    start = local_today(utcnow()) + timedelta(days=10)
    post_form(english, "/prise-en-charge-hospitaliere/", {
        "beneficiary_id": str(member.beneficiaries[0].id), "establishment_name": "Clinique des Cèdres",
        "start_on": start.isoformat(), "admission_email": "admissions@cedres.example"})
    home = english.get("/").get_data(as_text=True)
    assert '<span class="status status-new">New</span>' in home
    reference = re.search(r"PEC-\d{4}-\d{6}", home).group(0)
    details = english.get(f"/prise-en-charge-hospitaliere/{reference}").get_data(as_text=True)
    assert '<span class="status status-new">New</span>' in details and " at " in details
    assert french_left(details.replace("Clinique des Cèdres", "")) == []


def test_a_render_that_fails_does_not_change_how_the_next_e_mails_are_escaped():
    member = SimpleNamespace(civility=Civility.MADAME, last_name="<b>d'Arc</b>", number="4400000")
    context = {"member": member, "failures": 10}
    broken = SimpleNamespace(civility=Civility.MADAME, number="1")  # no last_name: the greeting fails mid-way
    with pytest.raises(Exception):
        render_blocks("email/account_locked.html", {"member": broken, "failures": 1})
    for _ in range(2):
        parts = render_blocks("email/account_locked.html", context)
        assert parts["text"].startswith("Bonjour Madame <B>D'ARC</B>,")
        assert "Bonjour Madame &lt;B&gt;D&#39;ARC&lt;/B&gt;," in parts["html"]
