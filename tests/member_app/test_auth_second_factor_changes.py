"""The second factor cannot be taken over with the password alone: new mobile, app, mobile change, sessions."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
from sqlalchemy import select

from models.audit.entities import AuditEvent
from models.members.entities import SecondFactor
from models.outbox.entities import Channel
from models.sessions.entities import WebSession
from tests.factories import PASSWORD, make_member
from tests.helpers import login_member
from tests.member_app.test_auth_support import (app, audit_actions, auth_config, client, last_sms_code,  # noqa: F401
                                                login_password, outbox, post_form, reload, sign_in)

SESSION_COOKIE = "__Host-mese"


def email_code(session) -> str:
    mail = outbox(session, template="account_mobile_confirmation")[-1]
    return re.search(r": (\d{6})\b", mail.text_body).group(1)


# --- a new mobile during sign-in ----------------------------------------------------------------------------


def test_a_new_mobile_is_not_usable_without_the_code_sent_to_the_e_mail_on_file(client, session):
    member = make_member(session, mobile=None)
    login_password(client, member.number, PASSWORD)
    post_form(client, "/connexion/mobile", {"mobile": "07 11 22 33 44"})  # the attacker's phone
    mail = outbox(session, template="account_mobile_confirmation")[-1]
    assert mail.recipient == member.email and mail.secret
    sms_code = last_sms_code(session, member)
    alone = post_form(client, "/connexion/code", {"code": sms_code})
    assert alone.status_code == 200 and "Ce champ est obligatoire." in alone.get_data(as_text=True)
    wrong = post_form(client, "/connexion/code", {"code": sms_code, "email_code": "000000"})
    assert wrong.status_code == 200 and "Code incorrect" in wrong.get_data(as_text=True)
    assert client.get("/").location.startswith("/connexion")
    member = reload(session, member)
    assert member.mobile is None and not member.mobile_verified
    assert "mobile.confirmation_requested" in audit_actions(session, member.id)
    assert "mobile.confirmed" not in audit_actions(session, member.id)


def test_the_number_on_file_needs_no_e_mail_code(client, session):
    member = make_member(session)
    member.mobile_verified = False
    session.commit()
    assert login_password(client, member.number, PASSWORD).location == "/connexion/mobile"
    post_form(client, "/connexion/mobile", {"mobile": "06 06 06 06 06"})
    assert "Code reçu par e-mail" not in client.get("/connexion/code").get_data(as_text=True)
    assert post_form(client, "/connexion/code", {"code": last_sms_code(session, member)}).location == "/"
    assert reload(session, member).mobile_verified


def test_an_authenticator_app_account_never_signs_in_through_a_new_mobile(client, session):
    member = make_member(session, mobile=None)
    member.second_factor, member.totp_secret = SecondFactor.TOTP, pyotp.random_base32()
    session.commit()
    assert login_password(client, member.number, PASSWORD).location == "/connexion/code"
    # Going straight to the mobile page sends nothing and leads back to the app's code.
    response = post_form(client, "/connexion/mobile", {"mobile": "07 11 22 33 44"}, form_url="/connexion/code")
    assert response.location == "/connexion/code"
    assert outbox(session, channel=Channel.SMS) == []
    with client.session_transaction() as s:
        s["signin"] = {**s["signin"], "mobile": True}  # even with a forged cookie state
    assert client.get("/connexion/code").location == "/connexion"


# --- changes of the second factor, signed in ------------------------------------------------------------------


def test_switching_to_an_app_asks_for_the_password_and_an_sms_code(client, session, time_machine):
    time_machine.move_to(datetime(2026, 11, 27, 9, 0, 5, tzinfo=UTC), tick=False)
    member = make_member(session)
    login_member(client, member)
    # Without re-authentication, neither the enrolment page nor its confirmation does anything.
    assert client.get("/mon-compte/securite/application").location == "/mon-compte/securite"
    start = post_form(client, "/mon-compte/securite/application/nouvelle", {}, form_url="/mon-compte/securite")
    assert start.location == "/mon-compte/securite/confirmer/application"
    assert reload(session, member).totp_secret is None
    page = client.get(start.location).get_data(as_text=True)
    assert "Confirmez votre identité" in page and "06 ** ** ** 06" in page
    code = last_sms_code(session, member)
    wrong = post_form(client, start.location, {"password": "Wrong-password-1", "code": code})
    assert "Mot de passe ou code incorrect." in wrong.get_data(as_text=True)
    assert reload(session, member).failed_login_count == 1
    assert client.get("/mon-compte/securite/application").location == "/mon-compte/securite"
    assert post_form(client, start.location, {"password": PASSWORD, "code": code}).location \
        == "/mon-compte/securite/application"
    secret = reload(session, member).totp_secret
    assert post_form(client, "/mon-compte/securite/application",
                     {"code": pyotp.TOTP(secret).now()}).location == "/mon-compte/securite"
    assert reload(session, member).second_factor is SecondFactor.TOTP
    assert [m.template for m in outbox(session, channel=Channel.EMAIL)] == ["account_second_factor_changed"]
    assert {"reauthentication.failed", "reauthentication.succeeded", "totp.enabled"} <= \
        set(audit_actions(session, member.id))


def test_going_back_to_sms_asks_for_the_password_and_the_app_code(client, session, time_machine):
    time_machine.move_to(datetime(2026, 11, 27, 9, 0, 5, tzinfo=UTC), tick=False)
    member = make_member(session)
    member.second_factor, member.totp_secret = SecondFactor.TOTP, pyotp.random_base32()
    session.commit()
    login_member(client, member)
    start = post_form(client, "/mon-compte/securite/sms", {}, form_url="/mon-compte/securite")
    assert start.location == "/mon-compte/securite/confirmer/sms"
    assert outbox(session, channel=Channel.SMS) == []  # the app gives the code
    assert reload(session, member).second_factor is SecondFactor.TOTP
    totp = pyotp.TOTP(member.totp_secret)
    assert post_form(client, start.location, {"password": "Wrong-password-1", "code": totp.now()}).status_code == 200
    assert reload(session, member).second_factor is SecondFactor.TOTP
    time_machine.shift(timedelta(seconds=30))
    assert post_form(client, start.location, {"password": PASSWORD, "code": totp.now()}).location \
        == "/mon-compte/securite"
    assert reload(session, member).second_factor is SecondFactor.SMS


def test_changing_the_mobile_asks_for_the_password_and_a_code_of_the_current_one(client, session, time_machine):
    time_machine.move_to(datetime.now(UTC), tick=False)
    member = make_member(session)
    login_member(client, member)
    assert client.get("/mon-compte/securite/mobile").location == "/mon-compte/securite"
    start = post_form(client, "/mon-compte/securite/mobile/nouveau", {}, form_url="/mon-compte/securite")
    assert start.location == "/mon-compte/securite/confirmer/mobile"
    sms = outbox(session, channel=Channel.SMS)[-1]
    assert sms.recipient == "+33606060606"  # the code goes to the current mobile
    assert post_form(client, start.location, {"password": PASSWORD, "code": last_sms_code(session, member)}) \
        .location == "/mon-compte/securite/mobile"
    time_machine.shift(timedelta(seconds=61))
    token_page = "/mon-compte/securite/mobile"
    page = client.get(token_page).get_data(as_text=True)
    token = re.search(r'name="new-csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post(token_page, data={"new-csrf_token": token, "new-mobile": "07 11 22 33 44"}) \
        .location == token_page
    assert outbox(session, channel=Channel.SMS)[-1].recipient == "+33711223344"
    page = client.get(token_page).get_data(as_text=True)
    token = re.search(r'name="check-csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    assert client.post(token_page, data={"check-csrf_token": token, "check-code": last_sms_code(session, member)}) \
        .location == "/mon-compte/securite"
    member = reload(session, member)
    assert member.mobile == "+33711223344" and member.mobile_verified
    assert [m.template for m in outbox(session, channel=Channel.EMAIL)] == ["account_mobile_added"]


# --- sessions -----------------------------------------------------------------------------------------------


def test_a_member_lists_their_sessions_and_ends_one_for_good(app, session):
    member = make_member(session)
    laptop, phone = app.test_client(), app.test_client()
    phone.environ_base["HTTP_USER_AGENT"] = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 "
                                             "(KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36")
    login_member(laptop, member)
    sign_in(phone, session, member, PASSWORD)
    stolen = phone.get_cookie(SESSION_COOKIE).value
    login_member(app.test_client(), make_member(session))  # someone else's session is not listed
    page = laptop.get("/mon-compte/securite/sessions").get_data(as_text=True)
    assert "Mes sessions ouvertes" in page and "Chrome Mobile, Android" in page and "(cette session)" in page
    assert page.count("Fermer cette session") == 2
    assert "Mes sessions ouvertes" in laptop.get("/mon-compte/securite").get_data(as_text=True)
    english = laptop.get("/mon-compte/securite/sessions?lang=en").get_data(as_text=True)
    assert "My open sessions" in english and "Close this session" in english
    phone_session = session.scalar(select(WebSession).where(WebSession.member_id == member.id,
                                                            WebSession.device == "Chrome Mobile, Android"))
    others = session.scalars(select(WebSession).where(WebSession.member_id != member.id)).all()
    assert post_form(laptop, f"/mon-compte/securite/sessions/{others[0].id}/fermer", {},
                     form_url="/mon-compte/securite/sessions").status_code == 404
    response = post_form(laptop, f"/mon-compte/securite/sessions/{phone_session.id}/fermer", {},
                         form_url="/mon-compte/securite/sessions")
    assert response.location == "/mon-compte/securite/sessions"
    thief = app.test_client()
    thief.set_cookie(SESSION_COOKIE, stolen)
    assert thief.get("/").location.startswith("/connexion")
    assert laptop.get("/").status_code == 200
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "session.ended"))
    assert event.member_id == member.id and event.details["session_id"] == phone_session.id
