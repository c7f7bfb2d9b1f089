"""Log in: the guide's form, the captcha, the SMS code or authenticator app, guessing limits, no enumeration."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from models.audit.entities import AuditEvent
from models.members.entities import SecondFactor
from models.outbox.entities import Channel
from tests.factories import PASSWORD, make_member
from tests.member_app.test_auth_support import (reload, same_page, app, audit_actions, auth_config, client,  # noqa: F401
                                                last_sms_code, login_password, outbox, post_form, sign_in,
                                                solve_captcha)

GENERIC = "Identifiant ou mot de passe incorrect, ou accès temporairement suspendu après plusieurs erreurs."




def test_the_login_page_has_the_guide_s_labels(client):
    page = client.get("/connexion").get_data(as_text=True)
    for label in ("ACCÉDER À VOTRE ESPACE PERSONNEL", "L'accès à cet espace est réservé aux adhérents munis de leurs "
                  "codes d'accès. Votre espace personnel est aussi disponible sur smartphone et tablette.",
                  "Identifiant mese", "Mot de passe", "Se souvenir de mon identifiant", "VALIDER",
                  "Mot de passe oublié", "Activer mon compte", "Mot de passe oublié ou expiré ?",
                  "Me connecter à mon compte"):
        assert label in page, label
    assert 'type="password"' in page and 'autocomplete="current-password"' in page and "onpaste" not in page


def test_password_then_sms_code_signs_the_member_in(client, session):
    member = make_member(session)
    response = sign_in(client, session, member, PASSWORD)
    assert response.status_code == 302 and response.location == "/"
    assert client.get("/").status_code == 200
    with client.session_transaction() as s:
        assert s["auth_complete"] is True and s["_user_id"]
    assert audit_actions(session, member.id) == ["signin.password_ok", "signin.code_sent", "signin.succeeded"]
    assert reload(session, member).last_login_at is not None


def test_after_the_password_alone_no_page_of_the_member_area_opens(client, session):
    member = make_member(session)
    assert login_password(client, member.number, PASSWORD).location == "/connexion/code"
    response = client.get("/")
    assert response.status_code == 302 and response.location.startswith("/connexion")


def test_a_wrong_password_an_unknown_identifier_and_a_locked_account_get_the_same_answer(app, session):
    member = make_member(session)
    locked = make_member(session, number="5599999")
    locked.locked_at = datetime.now(UTC)
    session.commit()
    answers = [login_password(app.test_client(), member.number, "Wrong-password-1"),
               login_password(app.test_client(), "9999999", "Wrong-password-1"),
               login_password(app.test_client(), locked.number, PASSWORD)]
    assert {r.status_code for r in answers} == {200}
    bodies = {same_page(r.get_data(as_text=True)) for r in answers}
    assert len(bodies) == 1 and GENERIC in bodies.pop()
    assert len({tuple(sorted(r.headers.keys())) for r in answers}) == 1


def test_the_remember_cookie_holds_only_the_member_number(client, session):
    member = make_member(session)
    response = login_password(client, member.number, PASSWORD, remember=True)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("__Host-mese-identifiant="))
    assert cookie.startswith(f"__Host-mese-identifiant={member.number};")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Max-Age=7776000" in cookie
    fresh = client.application.test_client()
    fresh.set_cookie("__Host-mese-identifiant", member.number)
    page = fresh.get("/connexion").get_data(as_text=True)
    assert f'value="{member.number}"' in page and re.search(r'<input checked id="remember"', page)
    response = login_password(fresh, member.number, PASSWORD)
    assert any(c.startswith("__Host-mese-identifiant=;") for c in response.headers.getlist("Set-Cookie"))


def test_a_junk_remember_cookie_is_ignored(client):
    client.set_cookie("__Host-mese-identifiant", '"><script>alert(1)</script>')
    assert "<script>alert" not in client.get("/connexion").get_data(as_text=True)


# --- guessing limits ---------------------------------------------------------------------------------------


def attempt(client, number, password, ip):
    return post_form(client, "/connexion", {"identifiant": number, "password": password},
                     environ_base={"REMOTE_ADDR": ip})


def test_after_five_failures_the_right_password_waits_then_works(client, session, time_machine):
    time_machine.move_to(datetime.now(UTC), tick=False)
    member = make_member(session)
    for i in range(5):
        assert GENERIC in attempt(client, member.number, "Wrong-password-1", f"198.51.100.{i}").get_data(as_text=True)
    refused = attempt(client, member.number, PASSWORD, "198.51.100.10")
    assert refused.status_code == 200 and GENERIC in refused.get_data(as_text=True)
    time_machine.shift(timedelta(seconds=61))
    assert attempt(client, member.number, PASSWORD, "198.51.100.11").location == "/connexion/code"


def test_the_eleventh_attempt_finds_the_account_locked_until_a_reset(client, session, time_machine):
    time_machine.move_to(datetime.now(UTC), tick=False)
    member = make_member(session)
    for i in range(10):
        attempt(client, member.number, "Wrong-password-1", f"203.0.113.{i}")
        time_machine.shift(timedelta(hours=1))
    assert reload(session, member).locked_at is not None
    eleventh = attempt(client, member.number, PASSWORD, "203.0.113.99")
    assert eleventh.status_code == 200 and GENERIC in eleventh.get_data(as_text=True)
    assert [m.template for m in outbox(session, channel=Channel.EMAIL)] == ["account_locked"]
    events = session.scalars(select(AuditEvent).where(AuditEvent.member_id == member.id)).all()
    assert [e.action for e in events].count("signin.failed") == 10
    assert {e.ip for e in events if e.action == "signin.failed"} == {f"203.0.113.{i}" for i in range(10)}
    assert all(e.at is not None for e in events)


def test_one_address_is_rate_limited_on_the_login_form(client, session):
    member = make_member(session)
    codes = [attempt(client, member.number, "Wrong-password-1", "192.0.2.50").status_code for _ in range(11)]
    assert codes[:10] == [200] * 10 and codes[10] == 429


def test_one_identifier_is_rate_limited_whatever_the_address(app, session):
    app.extensions["mese_config"] = replace(app.extensions["mese_config"], limit_signin_identifier="3 per hour")
    client = app.test_client()
    codes = [attempt(client, "9999999", "Wrong-password-1", f"192.0.2.{i}").status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]


# --- captcha -----------------------------------------------------------------------------------------------


@pytest.fixture
def captcha_client(migrated_database, auth_config):
    from member_app import create_app

    return create_app(replace(auth_config, captcha_enabled=True)).test_client()


def test_the_login_needs_a_solved_captcha_that_cannot_be_replayed(captcha_client, session):
    member = make_member(session)
    page = captcha_client.get("/connexion").get_data(as_text=True)
    assert "<altcha-widget" in page and 'challenge="/altcha/challenge"' in page and "Je ne suis pas un robot" in page
    missing = login_password(captcha_client, member.number, PASSWORD)
    assert missing.status_code == 200 and "Cochez « Je ne suis pas un robot »" in missing.get_data(as_text=True)
    assert "signin.password_ok" not in audit_actions(session) and "signin.captcha_failed" in audit_actions(session)
    payload = solve_captcha(captcha_client)
    assert login_password(captcha_client, member.number, PASSWORD, altcha=payload).location == "/connexion/code"
    other = captcha_client.application.test_client()
    replayed = login_password(other, member.number, PASSWORD, altcha=payload)
    assert replayed.status_code == 200 and "Cochez « Je ne suis pas un robot »" in replayed.get_data(as_text=True)


def test_the_challenge_is_signed_expires_and_is_never_cached(captcha_client):
    response = captcha_client.get("/altcha/challenge")
    challenge = response.get_json()
    assert challenge["parameters"]["algorithm"] == "PBKDF2/SHA-256" and challenge["signature"]
    assert challenge["parameters"]["expiresAt"] > datetime.now(UTC).timestamp()
    assert response.headers["Cache-Control"] == "no-store"


# --- second factor -----------------------------------------------------------------------------------------


def test_a_wrong_code_then_the_right_one(client, session):
    member = make_member(session)
    login_password(client, member.number, PASSWORD)
    code = last_sms_code(session, member)
    wrong = post_form(client, "/connexion/code", {"code": f"{(int(code) + 1) % 10 ** 6:06d}"})
    assert wrong.status_code == 200 and "Code incorrect" in wrong.get_data(as_text=True)
    assert "06 ** ** ** 06" in wrong.get_data(as_text=True)
    assert post_form(client, "/connexion/code", {"code": code}).location == "/"
    assert "signin.code_failed" in audit_actions(session, member.id)


def test_an_expired_code_is_refused_and_a_new_one_works(client, session, time_machine):
    time_machine.move_to(datetime.now(UTC), tick=False)
    member = make_member(session)
    login_password(client, member.number, PASSWORD)
    code = last_sms_code(session, member)
    time_machine.shift(timedelta(minutes=5, seconds=1))
    expired = post_form(client, "/connexion/code", {"code": code})
    assert "Ce code a expiré" in expired.get_data(as_text=True)
    assert post_form(client, "/connexion/code/nouveau", {}, form_url="/connexion/code").location == "/connexion/code"
    new_code = last_sms_code(session, member)
    assert post_form(client, "/connexion/code", {"code": new_code}).location == "/"


def test_a_used_code_cannot_sign_in_again(client, session, app):
    member = make_member(session)
    login_password(client, member.number, PASSWORD)
    code = last_sms_code(session, member)
    assert post_form(client, "/connexion/code", {"code": code}).location == "/"
    other = app.test_client()
    login_password(other, member.number, PASSWORD)
    if last_sms_code(session, member) == code:  # one chance in a million that the new code is the same
        pytest.skip("the new code happens to equal the old one")
    assert "Code incorrect" in post_form(other, "/connexion/code", {"code": code}).get_data(as_text=True)


def test_a_code_sent_to_one_browser_does_not_work_in_another(app, session):
    member = make_member(session)
    alice, mallory = app.test_client(), app.test_client()
    login_password(alice, member.number, PASSWORD)
    code = last_sms_code(session, member)
    assert post_form(mallory, "/connexion/code", {"code": code}, form_url="/connexion").location == "/connexion"
    assert post_form(alice, "/connexion/code", {"code": code}).location == "/"


def test_code_pages_are_rate_limited_per_address(app, session):
    member = make_member(session)
    client = app.test_client()
    login_password(client, member.number, PASSWORD)
    token_page = "/connexion/code"
    codes = [post_form(client, "/connexion/code", {"code": "12345"}, form_url=token_page,
                       environ_base={"REMOTE_ADDR": "192.0.2.90"}).status_code for _ in range(16)]
    assert codes[:15] == [200] * 15 and codes[15] == 429


def test_resending_too_soon_is_refused(client, session):
    member = make_member(session)
    login_password(client, member.number, PASSWORD)
    post_form(client, "/connexion/code/nouveau", {}, form_url="/connexion/code")
    assert "patientez une minute" in client.get("/connexion/code").get_data(as_text=True)
    assert len(outbox(session, channel=Channel.SMS)) == 1


def test_a_member_without_mobile_enters_one_confirmed_by_a_code(client, session):
    member = make_member(session, mobile=None)
    assert login_password(client, member.number, PASSWORD).location == "/connexion/mobile"
    page = client.get("/connexion/mobile").get_data(as_text=True)
    assert "Numéro de téléphone mobile" in page
    bad = post_form(client, "/connexion/mobile", {"mobile": "08 99 12 34 56"})
    assert "Saisissez un numéro de mobile français" in bad.get_data(as_text=True)
    assert post_form(client, "/connexion/mobile", {"mobile": "06 55 44 33 22"}).location == "/connexion/code"
    page = client.get("/connexion/code").get_data(as_text=True)
    assert "06 ** ** ** 22" in page and "Code reçu par e-mail" in page and "l***@example.test" in page
    sms = outbox(session, channel=Channel.SMS)[-1]
    assert sms.recipient == "+33655443322"
    mail = outbox(session, template="account_mobile_confirmation")[-1]
    email_code = re.search(r": (\d{6})\b", mail.text_body).group(1)
    assert post_form(client, "/connexion/code", {"code": last_sms_code(session, member),
                                                 "email_code": email_code}).location == "/"
    member = reload(session, member)
    assert member.mobile == "+33655443322" and member.mobile_verified
    assert [m.template for m in outbox(session, channel=Channel.EMAIL)] == ["account_mobile_confirmation",
                                                                           "account_mobile_added"]


def test_the_authenticator_app_replaces_the_sms_code(client, session, app, time_machine):
    time_machine.move_to(datetime(2026, 11, 27, 9, 0, 5, tzinfo=UTC), tick=False)
    member = make_member(session)
    sign_in(client, session, member, PASSWORD)
    assert client.get("/mon-compte/securite/application").location == "/mon-compte/securite"
    assert "Utiliser une application d'authentification" in client.get("/mon-compte/securite").get_data(as_text=True)
    assert post_form(client, "/mon-compte/securite/application/nouvelle", {},
                     form_url="/mon-compte/securite").location == "/mon-compte/securite/confirmer/application"
    assert post_form(client, "/mon-compte/securite/confirmer/application",
                     {"password": PASSWORD, "code": last_sms_code(session, member)}).location \
        == "/mon-compte/securite/application"
    page = client.get("/mon-compte/securite/application").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page
    secret = re.search(r'<p class="secret">([A-Z2-7]+)</p>', page).group(1)
    totp = pyotp.TOTP(secret)
    assert "Code incorrect" in post_form(client, "/mon-compte/securite/application",
                                         {"code": "12345"}).get_data(as_text=True)
    assert post_form(client, "/mon-compte/securite/application",
                     {"code": totp.now()}).location == "/mon-compte/securite"
    assert reload(session, member).second_factor is SecondFactor.TOTP
    sms_before = len(outbox(session, channel=Channel.SMS))

    time_machine.shift(timedelta(seconds=30))
    other = app.test_client()
    assert login_password(other, member.number, PASSWORD).location == "/connexion/code"
    assert "application d'authentification" in other.get("/connexion/code").get_data(as_text=True)
    assert len(outbox(session, channel=Channel.SMS)) == sms_before
    assert post_form(other, "/connexion/code", {"code": totp.now()}).location == "/"

    third = app.test_client()
    login_password(third, member.number, PASSWORD)
    replay = post_form(third, "/connexion/code", {"code": totp.now()})
    assert "Ce code a déjà servi" in replay.get_data(as_text=True)
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "signin.succeeded")).all()[-1]
    assert event.details["method"] == "totp"


def test_wrong_codes_lock_the_account_like_wrong_passwords(client, session):
    member = make_member(session)
    member.failed_login_count = 9
    session.commit()
    login_password(client, member.number, PASSWORD)
    member = reload(session, member)
    assert member.failed_login_count == 9, "a right password alone must not forgive earlier failures"
    code = last_sms_code(session, member)
    response = post_form(client, "/connexion/code", {"code": f"{(int(code) + 1) % 10 ** 6:06d}"})
    assert response.status_code == 302 and response.location == "/connexion"
    assert reload(session, member).locked_at is not None


def test_only_a_completed_sign_in_forgives_failures(client, session):
    member = make_member(session)
    member.failed_login_count = 3
    session.commit()
    login_password(client, member.number, PASSWORD)
    assert reload(session, member).failed_login_count == 3
    post_form(client, "/connexion/code", {"code": last_sms_code(session, member)})
    assert reload(session, member).failed_login_count == 0
