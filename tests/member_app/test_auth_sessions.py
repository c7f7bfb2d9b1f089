"""Sessions of the member area: new at each step, idle and absolute timeouts, logout, CSRF, headers, audit, logs."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from models.audit.entities import AuditEvent
from models.outbox.entities import Channel
from models.sessions.entities import WebSession
from models.sessions.operations import key_hash
from tests.factories import PASSWORD, make_member
from tests.helpers import login_member
from tests.member_app.test_auth_support import (NEW_PASSWORD, app, auth_config, client, csrf_token,  # noqa: F401
                                                last_sms_code, link_in, login_password, outbox, post_form, sign_in)

SESSION_COOKIE = "__Host-mese"


def cookie(client) -> str | None:
    found = client.get_cookie(SESSION_COOKIE)
    return found.value if found else None


def test_each_sign_in_step_starts_a_new_session(client, session):
    member = make_member(session)
    client.get("/connexion")
    with client.session_transaction() as s:
        s["planted"] = "by someone who handed this cookie over"
    before = cookie(client)
    login_password(client, member.number, PASSWORD)
    after_password = cookie(client)
    with client.session_transaction() as s:
        assert "planted" not in s and "csrf_token" not in s
        assert "_user_id" not in s  # no session of the member exists before the second factor
        s["planted"] = "again"
    post_form(client, "/connexion/code", {"code": last_sms_code(session, member)})
    after_code = cookie(client)
    assert len({before, after_password, after_code}) == 3
    with client.session_transaction() as s:
        assert "signin" not in s and "planted" not in s
        key = s["_user_id"]
        assert s.permanent and len(key) >= 43
    stored = session.scalar(select(WebSession).where(WebSession.member_id == member.id))
    assert stored.key_hash == key_hash(key) and key not in stored.key_hash  # only a hash of the key is kept


def test_the_session_cookie_is_secure_httponly_samesite_and_host_only(client, session):
    member = make_member(session)
    response = sign_in(client, session, member, PASSWORD)
    header = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(SESSION_COOKIE + "="))
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header
    assert "Domain" not in header


def test_a_static_file_never_sends_an_older_session_cookie_back(app, session, time_machine):
    """The page's stylesheet asked before the member switched to English may finish after the switch: its
    response must not put the French cookie back (the next page would be French again)."""
    time_machine.move_to(datetime.now(UTC), tick=False)
    member = make_member(session)
    client = app.test_client()
    sign_in(client, session, member, PASSWORD)
    client.get("/")
    french = cookie(client)
    switched = client.get("/?lang=en")
    assert 'lang="en"' in switched.get_data(as_text=True) and cookie(client) != french
    late = app.test_client()
    late.set_cookie(SESSION_COOKIE, french)
    stylesheet = late.get("/static/css/member.css")
    assert stylesheet.status_code == 200
    assert not any(c.startswith(SESSION_COOKIE + "=") for c in stylesheet.headers.getlist("Set-Cookie"))
    assert 'lang="en"' in client.get("/").get_data(as_text=True)
    time_machine.shift(timedelta(seconds=61))
    assert any(c.startswith(SESSION_COOKIE + "=") for c in client.get("/").headers.getlist("Set-Cookie"))


def test_an_unchanged_session_cookie_is_pushed_back_with_the_noted_activity_once_a_minute(client, session,
                                                                                          time_machine):
    """The cookie's expiry follows the server-side session's activity, written at most once a minute: signing it
    again with every page would cost each page for nothing."""
    time_machine.move_to(datetime.now(UTC), tick=False)
    member = make_member(session)
    sign_in(client, session, member, PASSWORD)
    client.get("/")

    def sent(response) -> bool:
        return any(c.startswith(SESSION_COOKIE + "=") for c in response.headers.getlist("Set-Cookie"))

    time_machine.shift(timedelta(seconds=20))
    assert not sent(client.get("/"))
    assert sent(client.get("/?lang=en"))  # a changed session is sent at once
    time_machine.shift(timedelta(seconds=45))
    assert sent(client.get("/"))  # the activity is written: the cookie's expiry moves with it
    assert not sent(client.get("/"))


def test_logout_ends_the_session_and_every_copy_of_its_cookie(app, session):
    member = make_member(session)
    client = app.test_client()
    sign_in(client, session, member, PASSWORD)
    stolen = cookie(client)
    assert client.get("/deconnexion").status_code == 405
    response = post_form(client, "/deconnexion", {}, form_url="/")
    assert response.location == "/connexion" and response.headers["Clear-Site-Data"] == '"cache"'
    assert client.get("/").location.startswith("/connexion")
    thief = app.test_client()
    thief.set_cookie(SESSION_COOKIE, stolen)
    assert thief.get("/").location.startswith("/connexion")
    assert "signin.signed_out" in [e.action for e in session.scalars(select(AuditEvent))]


def test_the_session_ends_after_15_idle_minutes_but_not_while_active(client, session, time_machine):
    time_machine.move_to(datetime.now(UTC), tick=False)
    member = make_member(session)
    sign_in(client, session, member, PASSWORD)
    for _ in range(3):
        time_machine.shift(timedelta(minutes=14))
        assert client.get("/").status_code == 200
    time_machine.shift(timedelta(minutes=15, seconds=1))
    assert client.get("/").location.startswith("/connexion")


def test_the_session_ends_12_hours_after_sign_in_however_active(client, session, time_machine):
    time_machine.move_to(datetime.now(UTC), tick=False)
    member = make_member(session)
    sign_in(client, session, member, PASSWORD)
    for _ in range(51):  # active every 14 minutes, for 11 h 54 min
        time_machine.shift(timedelta(minutes=14))
        assert client.get("/").status_code == 200
    time_machine.shift(timedelta(minutes=7))
    response = client.get("/")
    assert response.location == "/connexion"
    assert "Votre session a expiré" in client.get("/connexion").get_data(as_text=True)


def test_a_locked_account_loses_its_sessions(client, session):
    member = make_member(session)
    login_member(client, member)
    assert client.get("/").status_code == 200
    member.locked_at = datetime.now(UTC)
    session.commit()
    assert client.get("/").location.startswith("/connexion")


def test_a_forged_or_missing_csrf_token_is_refused(app, session):
    assert app.config["WTF_CSRF_ENABLED"] is True
    member = make_member(session)
    client = app.test_client()
    client.get("/connexion")
    data = {"identifiant": member.number, "password": PASSWORD}
    assert client.post("/connexion", data=data).status_code == 400
    forged = client.post("/connexion", data={**data, "csrf_token": "IjA0YjA2ZGJj.forged.token"})
    assert forged.status_code == 400
    other = app.test_client()
    token_of_another_session = csrf_token(other, "/connexion")
    assert client.post("/connexion", data={**data, "csrf_token": token_of_another_session}).status_code == 400
    assert outbox(session) == [] and session.scalar(select(AuditEvent)) is None
    login_member(client, member)
    assert client.post("/deconnexion", data={"csrf_token": "forged"}).status_code == 400
    assert client.get("/").status_code == 200


def test_sign_in_pages_send_the_security_headers(client):
    for url in ("/connexion", "/activation", "/mot-de-passe-oublie", "/altcha/challenge",
                "/mot-de-passe/nouveau/unknown"):
        headers = client.get(url).headers
        csp = headers["Content-Security-Policy"]
        script_src = re.search(r"script-src ([^;]*)", csp).group(1)
        assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp and "base-uri 'none'" in csp
        assert "worker-src 'self'" in csp
        assert re.search(r"max-age=(\d+); includeSubDomains", headers["Strict-Transport-Security"]).group(1) >= \
            "31536000"
        assert headers["X-Content-Type-Options"] == "nosniff" and headers["X-Frame-Options"] == "DENY"
        assert headers["Cache-Control"] == "no-store"


def test_pages_use_no_inline_script_and_no_third_party(client):
    """Scripts, styles and images come from this site; only plain links (Besoin d'aide ?) lead elsewhere."""
    for url in ("/connexion", "/activation", "/mot-de-passe-oublie"):
        page = client.get(url).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), url
        assert not re.search(r"src=\"https?://", page), url
        assert not re.search(r"<link[^>]*href=\"https?://", page), url
        for external in re.findall(r'<a [^>]*href="https?://[^"]*"[^>]*>', page):
            assert 'rel="noopener noreferrer"' in external, external


def test_only_the_sign_in_pages_open_without_signing_in(app, client):
    open_pages = set()
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments - {"token"} or rule.endpoint == "static":
            continue
        url = rule.rule.replace("<token>", "unknown")
        response = client.get(url)
        if response.status_code in (200, 410):
            open_pages.add(rule.endpoint)
    assert {e for e in open_pages if e.startswith("auth.")} == {
        "auth.login", "auth.captcha_challenge", "auth.activation", "auth.activation_sent", "auth.forgot_password",
        "auth.forgot_password_sent", "auth.reset_password"}


def test_every_sign_in_event_is_audited_with_time_and_address_and_no_secret_is_logged(app, session, caplog):
    caplog.set_level(logging.DEBUG)
    member = make_member(session, password=None)
    ip = {"REMOTE_ADDR": "198.51.100.23"}
    client = app.test_client()
    post_form(client, "/activation", {"last_name": "Rimon", "first_name": "Léa", "birth_date": "1984-01-10",
                                      "nir": "284801380911174"}, environ_base=ip)
    post_form(client, "/mot-de-passe-oublie", {"identifiant": member.number}, environ_base=ip)
    link = link_in(outbox(session, template="account_password_reset")[-1])
    token = link.rsplit("/", 1)[1]
    post_form(client, link, {"new_password": NEW_PASSWORD}, environ_base=ip)
    first_code = last_sms_code(session, member)
    post_form(client, "/connexion/code", {"code": "000000" if first_code != "000000" else "111111"},
              environ_base=ip)
    post_form(client, "/connexion/code", {"code": first_code}, environ_base=ip)
    post_form(client, "/mon-compte/mot-de-passe", {"current_password": NEW_PASSWORD,
                                                   "new_password": "Randonnee-en-Chartreuse-74"}, environ_base=ip)
    post_form(client, "/deconnexion", {}, form_url="/", environ_base=ip)
    post_form(client, "/connexion", {"identifiant": member.number, "password": "Wrong-password-1"},
              environ_base=ip)

    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == [
        "account.activation_requested", "password.reset_requested", "signin.code_sent", "signin.code_failed",
        "password.reset", "signin.succeeded", "password.changed", "signin.signed_out", "signin.failed"]
    assert all(e.ip == "198.51.100.23" and e.at is not None and e.member_id == member.id for e in events)
    secrets_ = [NEW_PASSWORD, "Randonnee-en-Chartreuse-74", "Wrong-password-1", "2848013809111",
                "284801380911174", first_code, token]
    details = json.dumps([e.details for e in events])
    logged = caplog.text + details
    for secret in secrets_:
        assert secret not in logged
    assert len(outbox(session, channel=Channel.EMAIL)) == 3


def test_no_sign_in_page_changes_anything_on_get(app, session):
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    member = make_member(session, mobile=None)
    flushes = []

    def count(s, *_):
        if s.new or s.dirty or s.deleted:
            flushes.append(1)

    client = app.test_client()
    login_password(client, member.number, PASSWORD)  # a sign-in waiting for its mobile number
    signed_in = app.test_client()
    login_member(signed_in, make_member(session))
    event.listen(Session, "before_flush", count)
    try:
        for who in (client, signed_in, app.test_client()):
            for rule in app.url_map.iter_rules():
                if rule.endpoint.startswith("auth.") and "GET" in rule.methods:
                    who.get(rule.rule.replace("<token>", "unknown"))
    finally:
        event.remove(Session, "before_flush", count)
    assert flushes == []
