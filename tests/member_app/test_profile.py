"""Mes informations personnelles: what is shown, and the changes of address, e-mail and mobile end to end.

A new e-mail is confirmed by a code sent to it and the previous address is told; a new mobile goes through
the account security flow (password and a code of the current factor again, then a code by SMS to the new
number); every change is audited.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from models.outbox.entities import Channel
from tests.factories import PASSWORD, make_member
from tests.helpers import login_member
from tests.member_app.test_auth_support import audit_actions, last_sms_code, outbox, reload
from tests.member_app.test_hospital_coverage import error_next_to, text

PROFILE, ADDRESS, EMAIL = "/mes-informations", "/mes-informations/adresse", "/mes-informations/email"
CSRF = re.compile(r'<input[^>]*name="(?:(new|check)-)?csrf_token"[^>]*value="([^"]+)"')


@pytest.fixture
def member(session):
    return make_member(session, email="LEA.RIMON35@example.fr")


@pytest.fixture
def client(member_client, member):
    member_client.session_key = login_member(member_client, member)
    return member_client


def confirm_identity(client, session) -> None:
    """As if the member had just typed their password and a code again (``auth.reauthenticate``)."""
    from models.base import utcnow
    from models.sessions.operations import find_session

    policy = client.application.extensions["mese_config"].session_policy()
    find_session(session, client.session_key, policy=policy, now=utcnow()).reauthenticated_at = utcnow()
    session.commit()


def tokens(client, url: str) -> dict:
    """The CSRF token of each form of ``url`` by prefix ("" for a form without prefix)."""
    return {prefix or "": token for prefix, token in CSRF.findall(client.get(url).get_data(as_text=True))}


def post(client, url: str, data: dict, prefix: str = ""):
    token = tokens(client, url)[prefix]
    name = f"{prefix}-csrf_token" if prefix else "csrf_token"
    return client.post(url, data={name: token, **data})


def email_code(session, address: str) -> str:
    mail = [m for m in outbox(session, template="account_email_confirmation") if m.recipient == address][-1]
    return re.search(r": (\d{6})\b", mail.text_body).group(1)


# --- The page ---------------------------------------------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_the_login_page(member_client):
    for url in (PROFILE, ADDRESS, EMAIL):
        response = member_client.get(url)
        assert response.status_code == 302 and "/connexion" in response.location


def test_the_page_shows_the_guide_s_fields_and_advice(client):
    page = text(client.get(PROFILE))
    assert "<title>Mes informations personnelles · MESE</title>" in page
    assert 'href="/mon-compte/mot-de-passe"' in page and 'href="/mon-compte/securite"' in page
    assert "Civilité - Prénom - Nom" in page and "Madame Léa RIMON" in page
    assert "Date de naissance" in page and "10/01/1984" in page
    assert "Adresse" in page and "34 CHEMIN DU LOUP 38000 GRENOBLE" in page
    assert "Email" in page and "LEA.RIMON35@example.fr" in page
    assert "Numéro(s) de téléphone" in page and "0606060606" in page
    assert "une adresse e-mail personnelle plutôt que professionnelle" in page
    assert "le numéro de téléphone mobile de la personne qui gère les démarches auprès de la MESE au sein du " \
           "foyer. Il sera ainsi le destinataire des SMS de validation de la connexion" in page
    assert 'action="/mon-compte/securite/mobile/nouveau"' in page
    assert 'action="/mon-compte/securite/email/nouveau"' in page
    assert "2848013809111" not in page and "284801380911174" not in page


def test_the_page_in_english(client):
    page = text(client.get(PROFILE + "?lang=en"))
    assert "My personal information" in page and "Title - First name - Last name" in page
    assert "Ms Léa RIMON" in page or "Madame" not in page
    assert "Phone number(s)" in page and "We advise you to fill in:" in page


# --- Address ------------------------------------------------------------------------------------------------------


def test_full_width_digits_and_control_characters_are_cleaned(client, session, member):
    post(client, ADDRESS, {"address_line": "5\tplace\u00a0Grenette", "postcode": "３８０００", "city": "Grenoble"})
    member = reload(session, member)
    assert (member.address_line, member.postcode) == ("5 PLACE GRENETTE", "38000")


def test_a_new_address_is_kept_audited_and_told(client, session, member):
    response = post(client, ADDRESS, {"address_line": " 12  rue des Alpes ", "postcode": "38 500", "city": "Voiron"})
    assert response.status_code == 303 and response.location == PROFILE
    member = reload(session, member)
    assert (member.address_line, member.postcode, member.city) == ("12 RUE DES ALPES", "38500", "VOIRON")
    assert "member.address_changed" in audit_actions(session, member.id)
    notice = outbox(session, template="account_details_changed")[-1]
    assert notice.recipient == "LEA.RIMON35@example.fr" and "votre adresse postale" in notice.text_body
    assert "12 RUE DES ALPES 38500 VOIRON" in text(client.get(PROFILE))


@pytest.mark.parametrize("data, field, message", [
    ({"address_line": "", "postcode": "38000", "city": "Grenoble"}, "address_line", "Ce champ est obligatoire."),
    ({"address_line": "1 rue", "postcode": "380", "city": "Grenoble"}, "postcode",
     "Saisissez un code postal de 5 chiffres."),
    ({"address_line": "1 rue", "postcode": "ABCDE", "city": "Grenoble"}, "postcode",
     "Saisissez un code postal de 5 chiffres."),
    ({"address_line": "1 rue", "postcode": "38000", "city": "   "}, "city", "Ce champ est obligatoire."),
    ({"address_line": "x" * 201, "postcode": "38000", "city": "Grenoble"}, "address_line",
     "200 caractères au maximum."),
    ({"address_line": "1 rue", "postcode": "٣٨٠٠٠", "city": "Grenoble"}, "postcode",
     "Saisissez un code postal de 5 chiffres."),
    ({"address_line": "1 rue", "postcode": "38000", "city": "G" * 101}, "city", "100 caractères au maximum."),
    ({"address_line": "34 chemin du loup", "postcode": "38000", "city": "grenoble"}, "address_line",
     "Cette adresse est déjà celle que nous connaissons."),
])
def test_a_wrong_address_gets_its_message_next_to_the_field(client, session, member, data, field, message):
    response = post(client, ADDRESS, data)
    page = text(response)
    assert response.status_code == 200 and "<title>Erreur :" in page
    assert message in error_next_to(page, field)
    assert reload(session, member).address_line == "34 CHEMIN DU LOUP"
    assert "member.address_changed" not in audit_actions(session, member.id)
    assert outbox(session, template="account_details_changed") == []


# --- E-mail --------------------------------------------------------------------------------------------------------


def test_a_new_e_mail_is_confirmed_by_a_code_sent_to_it_and_the_previous_one_is_told(client, session, member,
                                                                                        time_machine):
    time_machine.move_to(datetime.now(UTC), tick=False)
    confirm_identity(client, session)
    response = post(client, EMAIL, {"new-email": " lea.nouvelle@Example.ORG "}, prefix="new")
    assert response.status_code == 303 and response.location == EMAIL
    mail = outbox(session, template="account_email_confirmation")[-1]
    assert mail.recipient == "lea.nouvelle@example.org" and mail.secret and mail.channel is Channel.EMAIL
    assert reload(session, member).email == "LEA.RIMON35@example.fr"  # not before the code
    page = text(client.get(EMAIL))
    assert "Le code envoyé par e-mail à lea.nouvelle@example.org" in page
    # A wrong code: a message next to the field, nothing changes.
    wrong = post(client, EMAIL, {"check-code": "000000"}, prefix="check")
    assert wrong.status_code == 200 and "Code incorrect" in error_next_to(text(wrong), "check-code")
    assert reload(session, member).email == "LEA.RIMON35@example.fr"
    right = post(client, EMAIL, {"check-code": email_code(session, "lea.nouvelle@example.org")}, prefix="check")
    assert right.status_code == 303 and right.location == PROFILE
    member = reload(session, member)
    assert member.email == "lea.nouvelle@example.org"
    told = outbox(session, template="account_email_changed")
    assert [m.recipient for m in told] == ["LEA.RIMON35@example.fr"]
    assert "l***@example.org" in told[0].text_body and "lea.nouvelle@example.org" not in told[0].text_body
    actions = audit_actions(session, member.id)
    assert "email.change_requested" in actions and "email.changed" in actions
    assert "lea.nouvelle@example.org" in text(client.get(PROFILE))
    # The code works once: no change is waiting any more.
    assert "Le code envoyé par e-mail" not in text(client.get(EMAIL))


def test_the_code_only_works_in_the_session_that_asked_for_it(member_app, client, session, member, time_machine):
    time_machine.move_to(datetime.now(UTC), tick=False)
    confirm_identity(client, session)
    post(client, EMAIL, {"new-email": "lea.nouvelle@example.org"}, prefix="new")
    code = email_code(session, "lea.nouvelle@example.org")
    other = member_app.test_client()
    other.session_key = login_member(other, member)
    confirm_identity(other, session)
    page = text(other.get(EMAIL))
    assert "Le code envoyé par e-mail" not in page  # no pending change in that session
    other.post(EMAIL, data={"check-csrf_token": tokens(other, EMAIL)["new"], "check-code": code})
    assert reload(session, member).email == "LEA.RIMON35@example.fr"


def test_an_expired_code_no_longer_confirms(client, session, member, time_machine):
    time_machine.move_to(datetime.now(UTC), tick=False)
    confirm_identity(client, session)
    post(client, EMAIL, {"new-email": "lea.nouvelle@example.org"}, prefix="new")
    code = email_code(session, "lea.nouvelle@example.org")
    token = tokens(client, EMAIL)["check"]
    time_machine.shift(timedelta(minutes=6))
    client.post(EMAIL, data={"check-csrf_token": token, "check-code": code})
    assert reload(session, member).email == "LEA.RIMON35@example.fr"
    assert "Le code envoyé par e-mail" not in text(client.get(EMAIL))


@pytest.mark.parametrize("typed, message", [
    ("", "Ce champ est obligatoire."),
    ("lea.rimon", "Saisissez une adresse e-mail valide"),
    ("lea@localhost", "Saisissez une adresse e-mail valide"),
    ("lea@exa mple.fr", "Saisissez une adresse e-mail valide"),
    ("a" * 250 + "@example.fr", "Saisissez une adresse e-mail valide"),
    ("lea.rimon35@EXAMPLE.fr", "Cette adresse est déjà celle de votre espace adhérent."),
])
def test_a_malformed_e_mail_gets_its_message_next_to_the_field(client, session, member, typed, message):
    confirm_identity(client, session)
    response = post(client, EMAIL, {"new-email": typed}, prefix="new")
    page = text(response)
    assert response.status_code == 200 and "<title>Erreur :" in page
    assert message in error_next_to(page, "new-email")
    assert outbox(session, template="account_email_confirmation") == []


def test_changing_the_e_mail_asks_for_the_password_and_a_code_first(client, session, member, time_machine):
    time_machine.move_to(datetime.now(UTC), tick=False)
    assert client.get(EMAIL).location == PROFILE
    token = tokens(client, PROFILE)[""]
    refused = client.post(EMAIL, data={"new-csrf_token": token, "new-email": "pirate@example.org"})
    assert refused.location == PROFILE and outbox(session, template="account_email_confirmation") == []
    start = client.post("/mon-compte/securite/email/nouveau", data={"csrf_token": token})
    assert start.location == "/mon-compte/securite/confirmer/email"
    assert outbox(session, channel=Channel.SMS)[-1].recipient == "+33606060606"  # the current factor
    assert "Confirmez votre identité" in text(client.get(start.location))
    done = client.post(start.location, data={"csrf_token": tokens(client, start.location)[""], "password": PASSWORD,
                                             "code": last_sms_code(session, member)})
    assert done.location == EMAIL
    post(client, EMAIL, {"new-email": "lea.nouvelle@example.org"}, prefix="new")
    assert outbox(session, template="account_email_confirmation")[-1].recipient == "lea.nouvelle@example.org"
    assert "reauthentication.succeeded" in audit_actions(session, member.id)
    # Past the re-authentication window, a new address needs it again.
    time_machine.shift(timedelta(minutes=11))
    assert client.get(EMAIL).location == PROFILE
    late = client.post(EMAIL, data={"new-csrf_token": tokens(client, PROFILE)[""], "new-email": "autre@example.org"})
    assert late.location == PROFILE
    assert outbox(session, template="account_email_confirmation")[-1].recipient == "lea.nouvelle@example.org"


# --- Mobile: the account security flow ----------------------------------------------------------------------------


def test_a_new_mobile_asks_the_password_and_a_code_then_a_code_sent_to_the_new_number(client, session, member,
                                                                                      time_machine):
    time_machine.move_to(datetime.now(UTC), tick=False)
    start = client.post("/mon-compte/securite/mobile/nouveau", data={"csrf_token": tokens(client, PROFILE)[""]})
    assert start.location == "/mon-compte/securite/confirmer/mobile"
    assert outbox(session, channel=Channel.SMS)[-1].recipient == "+33606060606"  # the current factor
    wrong = client.post(start.location, data={"csrf_token": tokens(client, start.location)[""], "password": "x",
                                              "code": last_sms_code(session, member)})
    assert wrong.status_code == 200
    assert client.get("/mon-compte/securite/mobile").location == "/mon-compte/securite"
    time_machine.shift(timedelta(seconds=61))
    client.post("/mon-compte/securite/mobile/nouveau", data={"csrf_token": tokens(client, PROFILE)[""]})
    ok = client.post(start.location, data={"csrf_token": tokens(client, start.location)[""], "password": PASSWORD,
                                           "code": last_sms_code(session, member)})
    assert ok.location == "/mon-compte/securite/mobile"
    time_machine.shift(timedelta(seconds=61))
    page = "/mon-compte/securite/mobile"
    bad = client.post(page, data={"new-csrf_token": tokens(client, page)["new"], "new-mobile": "01 23 45 67 89"})
    assert bad.status_code == 200 and error_next_to(text(bad), "new-mobile")
    client.post(page, data={"new-csrf_token": tokens(client, page)["new"], "new-mobile": "07 11 22 33 44"})
    assert outbox(session, channel=Channel.SMS)[-1].recipient == "+33711223344"  # the NEW number
    client.post(page, data={"check-csrf_token": tokens(client, page)["check"],
                            "check-code": last_sms_code(session, member)})
    member = reload(session, member)
    assert member.mobile == "+33711223344" and member.mobile_verified
    told = outbox(session, template="account_mobile_added")
    assert [m.recipient for m in told] == ["LEA.RIMON35@example.fr"]
    actions = audit_actions(session, member.id)
    assert "reauthentication.failed" in actions and "reauthentication.succeeded" in actions
    assert "mobile.confirmed" in actions
    assert "0711223344" in text(client.get(PROFILE))


@pytest.fixture
def delivery(jobs_config, models_config, migrated_database, redis_conn):
    from jobs import runtime
    from tests.jobs.conftest import Delivery

    runtime.configure(jobs_config, models_config)
    return Delivery(jobs_config, models_config, redis_conn)


def test_the_e_mails_of_a_change_really_leave_for_the_new_and_the_previous_address(client, session, member,
                                                                                    delivery, smtp):
    confirm_identity(client, session)
    post(client, EMAIL, {"new-email": "lea.nouvelle@example.org"}, prefix="new")
    delivery.run()
    [sent] = smtp.to("lea.nouvelle@example.org")
    code = re.search(r": (\d{6})\b", sent["message"].get_body(("plain",)).get_content()).group(1)
    assert smtp.to("LEA.RIMON35@example.fr") == []
    post(client, EMAIL, {"check-code": code}, prefix="check")
    delivery.run()
    [notice] = smtp.to("LEA.RIMON35@example.fr")
    assert notice["message"]["Subject"] == "Nouvelle adresse e-mail sur votre espace adhérent MESE"
    assert reload(session, member).email == "lea.nouvelle@example.org"


def test_the_rule_itself_refuses_a_new_e_mail_without_a_recent_re_authentication(session, member):
    from models.base import utcnow
    from models.members.operations import request_email_change
    from models.members.security import ReauthenticationRequired, SignInPolicy
    from models.sessions.operations import SessionPolicy, find_session, open_session

    policy = SessionPolicy()
    key = open_session(session, member_id=member.id, policy=policy, ip=None, user_agent="", now=utcnow())
    web_session = find_session(session, key, policy=policy, now=utcnow())
    with pytest.raises(ReauthenticationRequired):
        request_email_change(session, member, "lea.nouvelle@example.org", web_session=web_session,
                             web_session_key=key, session_policy=policy, policy=SignInPolicy(), ip=None,
                             now=utcnow())
    web_session.reauthenticated_at = utcnow() - timedelta(minutes=policy.reauthentication_minutes + 1)
    with pytest.raises(ReauthenticationRequired):
        request_email_change(session, member, "lea.nouvelle@example.org", web_session=web_session,
                             web_session_key=key, session_policy=policy, policy=SignInPolicy(), ip=None,
                             now=utcnow())
    web_session.reauthenticated_at = utcnow()
    assert request_email_change(session, member, "lea.nouvelle@example.org", web_session=web_session,
                                web_session_key=key, session_policy=policy, policy=SignInPolicy(), ip=None,
                                now=utcnow()) == "lea.nouvelle@example.org"
