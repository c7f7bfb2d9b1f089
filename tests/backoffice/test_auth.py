"""Staff sign-in: password, then a TOTP code accepted once; lock, idle timeout, password expiry."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from models.audit.entities import AuditEvent
from models.outbox.entities import OutboxMessage
from models.base import utcnow
from models.sessions.operations import SessionPolicy, find_session
from models.staff.entities import StaffUser
from models.staff.operations import LOGIN_REFUSED_MESSAGE
from tests.helpers import login_staff

from .support import CSRF_RE, csrf_from, local, sign_in, totp_code

NEW_PASSWORD = "Nouveau-Secret-2027"


def _actions(session, action_prefix: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action.startswith(action_prefix))
                                .order_by(AuditEvent.id)))


def test_password_then_code_opens_the_back_office(backoffice_client, session, agent):
    response = sign_in(backoffice_client, agent)
    assert response.status_code == 302 and local(response.location) == "/"
    assert backoffice_client.get("/prises-en-charge/").status_code == 200
    session.refresh(agent)
    assert agent.last_login_at is not None and agent.totp_last_timecode is not None
    assert [e.action for e in _actions(session, "staff.login")] == ["staff.login_succeeded"]


def test_right_password_alone_only_leads_to_the_code_page(backoffice_client, agent):
    token = csrf_from(backoffice_client, "/connexion")
    response = backoffice_client.post("/connexion", data={"email": agent.email, "password": "Correct-Horse-2026",
                                                          "csrf_token": token})
    assert local(response.location) == "/connexion/code"
    response = backoffice_client.get("/prises-en-charge/")
    assert response.status_code == 302 and local(response.location).startswith("/connexion")


def test_email_is_matched_without_case_or_spaces(backoffice_client, agent):
    token = csrf_from(backoffice_client, "/connexion")
    response = backoffice_client.post("/connexion", data={"email": f"  {agent.email.upper()} ",
                                                          "password": "Correct-Horse-2026", "csrf_token": token})
    assert local(response.location) == "/connexion/code"


def test_wrong_password_is_refused_and_counted(backoffice_client, session, agent):
    response = sign_in(backoffice_client, agent, password="Wrong-Password-1")
    assert response.status_code == 200
    assert LOGIN_REFUSED_MESSAGE in response.get_data(as_text=True)
    session.refresh(agent)
    assert agent.failed_login_count == 1
    assert [e.details["reason"] for e in _actions(session, "staff.login_failed")] == ["wrong_password"]


def test_unknown_email_is_answered_like_a_wrong_password(backoffice_client, session, agent):
    wrong = sign_in(backoffice_client, agent, password="Wrong-Password-1")
    token = csrf_from(backoffice_client, "/connexion")
    unknown = backoffice_client.post("/connexion", data={"email": "nobody@mese.test", "password": "Wrong-Password-1",
                                                         "csrf_token": token})
    assert unknown.status_code == wrong.status_code == 200

    def page(response):
        html = response.get_data(as_text=True)
        return CSRF_RE.sub("", html).replace("nobody@mese.test", "EMAIL").replace(agent.email, "EMAIL")

    assert page(unknown) == page(wrong)
    assert [e.details["reason"] for e in _actions(session, "staff.login_failed")] == ["wrong_password",
                                                                                     "unknown_email"]


def test_wrong_code_is_refused(backoffice_client, session, agent):
    old_code = totp_code(agent, utcnow() - timedelta(minutes=10))
    response = sign_in(backoffice_client, agent, code=old_code)
    assert response.status_code == 200
    assert "Code incorrect" in response.get_data(as_text=True)
    assert backoffice_client.get("/").status_code == 302
    session.refresh(agent)
    assert agent.failed_login_count == 1
    assert [e.details["reason"] for e in _actions(session, "staff.login_failed")] == ["wrong_code"]


def test_replayed_code_is_refused(new_client, session, agent):
    code = totp_code(agent)
    first = new_client()
    assert local(sign_in(first, agent, code=code).location) == "/"
    second = new_client()
    response = sign_in(second, agent, code=code)
    assert response.status_code == 200 and "Code incorrect" in response.get_data(as_text=True)
    assert second.get("/").status_code == 302
    assert [e.details["reason"] for e in _actions(session, "staff.login_failed")] == ["replayed_code"]


def test_code_page_needs_the_password_first(backoffice_client):
    response = backoffice_client.get("/connexion/code")
    assert response.status_code == 302 and local(response.location) == "/connexion"


def test_failures_bring_growing_delays_then_a_timed_lock_told_by_e_mail(backoffice_client, session, agent,
                                                                         time_machine):
    time_machine.move_to(utcnow(), tick=False)
    for _ in range(5):
        sign_in(backoffice_client, agent, password="Wrong-Password-1")
    # Delayed, not locked: the right password waits a minute, then works.
    assert sign_in(backoffice_client, agent).status_code == 200
    time_machine.shift(timedelta(seconds=61))
    assert local(sign_in(backoffice_client, agent, code=totp_code(agent, utcnow())).location) == "/"
    backoffice_client.post("/deconnexion", data={"csrf_token": csrf_from(backoffice_client, "/")})
    # Ten failures in a row (each after its delay) lock the account for 30 minutes.
    for i in range(10):
        time_machine.shift(timedelta(minutes=2 ** max(0, i - 4) + 1))
        sign_in(backoffice_client, agent, password="Wrong-Password-1")
    session.expire_all()
    user = session.get(StaffUser, agent.id)
    assert user.failed_login_count == 10 and user.locked_until is not None
    response = sign_in(backoffice_client, agent)  # the right password does not open it now
    assert response.status_code == 200 and LOGIN_REFUSED_MESSAGE in response.get_data(as_text=True)
    assert [e.action for e in _actions(session, "staff.locked")] == ["staff.locked"]
    assert _actions(session, "staff.login_failed")[-1].details["reason"] == "locked"
    assert len([e for e in _actions(session, "staff.login_failed") if e.details["reason"] == "wrong_password"]) == 15
    mails = session.scalars(select(OutboxMessage).where(OutboxMessage.template == "staff_locked")).all()
    assert [m.recipient for m in mails] == [agent.email] and "bloqué jusqu'au" in mails[0].text_body
    # The lock ends by itself: no admin needed.
    time_machine.shift(timedelta(minutes=31))
    assert local(sign_in(backoffice_client, agent, code=totp_code(agent, utcnow())).location) == "/"


def test_successful_sign_in_clears_the_failure_count(backoffice_client, session, agent):
    sign_in(backoffice_client, agent, password="Wrong-Password-1")
    assert local(sign_in(backoffice_client, agent).location) == "/"
    session.refresh(agent)
    assert agent.failed_login_count == 0


def test_sign_in_starts_a_new_session(backoffice_client, agent):
    with backoffice_client.session_transaction() as sess:
        sess["planted"] = "by someone else"
    sign_in(backoffice_client, agent)
    with backoffice_client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["_user_id"] and sess["auth_complete"] is True


def test_next_page_is_kept_but_only_inside_the_back_office(backoffice_client, agent):
    response = backoffice_client.get("/prises-en-charge/?flt0_0=new")
    login_page = local(response.location)
    assert login_page.startswith("/connexion?next=")
    token = csrf_from(backoffice_client, login_page)
    backoffice_client.post(login_page, data={"email": agent.email, "password": "Correct-Horse-2026",
                                             "csrf_token": token})
    token = csrf_from(backoffice_client, "/connexion/code")
    response = backoffice_client.post("/connexion/code", data={"code": totp_code(agent), "csrf_token": token})
    assert response.location == "/backoffice/prises-en-charge/?flt0_0=new"

    backoffice_client.post("/deconnexion", data={"csrf_token": csrf_from(backoffice_client, "/")})
    token = csrf_from(backoffice_client, "/connexion")
    backoffice_client.post("/connexion?next=//evil.example/x", data={
        "email": agent.email, "password": "Correct-Horse-2026", "csrf_token": token})
    token = csrf_from(backoffice_client, "/connexion/code")
    later_code = totp_code(agent, utcnow() + timedelta(seconds=30))
    response = backoffice_client.post("/connexion/code", data={"code": later_code, "csrf_token": token})
    assert response.location == "/backoffice/"


def test_logout_is_a_post_with_csrf(backoffice_client, session, agent):
    login_staff(backoffice_client, agent)
    assert backoffice_client.get("/deconnexion").status_code == 405
    assert backoffice_client.post("/deconnexion").status_code == 400
    token = csrf_from(backoffice_client, "/")
    response = backoffice_client.post("/deconnexion", data={"csrf_token": token})
    assert local(response.location) == "/connexion"
    assert backoffice_client.get("/").status_code == 302
    assert [e.action for e in _actions(session, "staff.logout")] == ["staff.logout"]


def test_idle_session_expires(backoffice_app, backoffice_client, session, agent):
    login_staff(backoffice_client, agent)
    idle = backoffice_app.extensions["mese_backoffice_config"].session_idle_minutes
    with backoffice_client.session_transaction() as sess:
        sess["last_seen"] = int(time.time()) - idle * 60 - 5
    response = backoffice_client.get("/prises-en-charge/")
    assert response.status_code == 302 and local(response.location) == "/connexion"
    assert "expiré" in backoffice_client.get("/connexion").get_data(as_text=True)
    assert backoffice_client.get("/").status_code == 302
    assert _actions(session, "staff.logout")[0].details["reason"] == "idle"


def test_activity_keeps_the_session_alive(backoffice_client, agent):
    login_staff(backoffice_client, agent)
    with backoffice_client.session_transaction() as sess:
        sess["last_seen"] = int(time.time()) - 60
    assert backoffice_client.get("/").status_code == 200
    with backoffice_client.session_transaction() as sess:
        assert sess["last_seen"] >= int(time.time()) - 2


def test_expired_password_must_be_changed_first(backoffice_app, backoffice_client, session, agent):
    max_age = backoffice_app.extensions["mese_backoffice_config"].staff_password_max_age_days
    agent.password_set_at = utcnow() - timedelta(days=max_age + 1)
    session.commit()
    old_key = login_staff(backoffice_client, agent)
    response = backoffice_client.get("/prises-en-charge/")
    assert response.status_code == 302 and local(response.location) == "/mot-de-passe"

    token = csrf_from(backoffice_client, "/mot-de-passe")
    response = backoffice_client.post("/mot-de-passe", data={
        "current_password": "Correct-Horse-2026", "new_password": "short", "confirmation": "short",
        "csrf_token": token})
    assert response.status_code == 200 and "au moins 12 caractères" in response.get_data(as_text=True)

    response = backoffice_client.post("/mot-de-passe", data={
        "current_password": "Correct-Horse-2026", "new_password": NEW_PASSWORD, "confirmation": NEW_PASSWORD,
        "csrf_token": token})
    assert response.status_code == 302 and local(response.location) == "/"
    assert backoffice_client.get("/prises-en-charge/").status_code == 200
    session.expire_all()
    user = session.get(StaffUser, agent.id)
    assert user.password_set_at > utcnow() - timedelta(minutes=1)
    with backoffice_client.session_transaction() as sess:
        assert sess["_user_id"] != old_key  # a new session; the old one (and any other) is over
    assert find_session(session, old_key, policy=SessionPolicy(), now=utcnow()) is None


def test_without_totp_setting_the_password_completes_sign_in(backoffice_config, migrated_database, agent):
    from backoffice import create_app

    from .support import MountedClient

    app = create_app(replace(backoffice_config, require_totp=False))
    app.test_client_class = MountedClient
    client = app.test_client()
    response = sign_in(client, agent)
    assert local(response.location) == "/"
    assert client.get("/prises-en-charge/").status_code == 200


def test_production_refuses_to_start_without_totp(backoffice_config):
    from models.config import ModelsConfig

    config = replace(backoffice_config, require_totp=False, models=ModelsConfig(env="production"))
    assert "STAFF_REQUIRE_TOTP must be true in production" in config.problems()


def test_sign_in_pages_are_in_french(backoffice_client):
    html = backoffice_client.get("/connexion").get_data(as_text=True)
    assert '<html lang="fr">' in html and "Adresse e-mail" in html and "Mot de passe" in html
    assert CSRF_RE.search(html)


def test_one_address_trying_many_accounts_is_slowed_down(backoffice_config, migrated_database, session):
    from backoffice import create_app

    from .support import MountedClient

    app = create_app(replace(backoffice_config, limit_signin="3 per minute"))
    app.test_client_class = MountedClient
    client = app.test_client()
    token = csrf_from(client, "/connexion")
    answers = [client.post("/connexion", data={"csrf_token": token, "email": f"nobody{i}@mese.test",
                                               "password": "Wrong-Password-1"}).status_code for i in range(4)]
    assert answers == [200, 200, 200, 429]
    assert "Trop de tentatives" in client.post("/connexion", data={"csrf_token": token}).get_data(as_text=True)


def change_password_form(client, current: str):
    token = csrf_from(client, "/mot-de-passe")
    return client.post("/mot-de-passe", data={"current_password": current, "new_password": NEW_PASSWORD,
                                              "confirmation": NEW_PASSWORD, "csrf_token": token})


def unlimited_client(backoffice_config, **settings):
    """A back-office client whose per-address rate limits do not interfere (the account's own rules are tested)."""
    from backoffice import create_app

    from .support import MountedClient

    app = create_app(replace(backoffice_config, limit_signin="1000 per minute", **settings))
    app.test_client_class = MountedClient
    return app.test_client()


def test_the_26th_guess_of_the_current_password_is_refused(backoffice_config, migrated_database, session, agent):
    backoffice_client = unlimited_client(backoffice_config)
    login_staff(backoffice_client, agent)
    answers = [change_password_form(backoffice_client, f"Wrong-Guess-{i:02d}") for i in range(25)]
    assert {r.status_code for r in answers} == {200}
    assert "Le mot de passe actuel est incorrect." in answers[0].get_data(as_text=True)
    assert "Trop d&#39;essais" in answers[-1].get_data(as_text=True)
    session.expire_all()
    assert session.get(StaffUser, agent.id).failed_login_count == 5  # then each try waits longer
    assert len(_actions(session, "staff.password_change_failed")) == 25
    right = change_password_form(backoffice_client, "Correct-Horse-2026")
    assert right.status_code == 200 and "Trop d&#39;essais" in right.get_data(as_text=True)
    session.expire_all()
    from models.members.passwords import verify_password

    assert verify_password(session.get(StaffUser, agent.id).password_hash, "Correct-Horse-2026")


def test_guessing_the_current_password_ends_in_the_lock_and_signs_out(backoffice_config, migrated_database,
                                                                       session, agent):
    client = unlimited_client(backoffice_config, signin_delay_after=100, signin_lock_after=10)
    login_staff(client, agent)
    answers = [change_password_form(client, f"Wrong-Guess-{i:02d}").status_code for i in range(10)]
    assert answers == [200] * 9 + [302]
    assert client.get("/").status_code == 302
    session.expire_all()
    user = session.get(StaffUser, agent.id)
    assert user.failed_login_count == 10 and user.locked_until is not None
    assert [e.action for e in _actions(session, "staff.locked")] == ["staff.locked"]


def test_the_password_page_is_rate_limited_per_address(backoffice_config, migrated_database, session, agent):
    from backoffice import create_app

    from .support import MountedClient

    app = create_app(replace(backoffice_config, limit_signin="3 per minute"))
    app.test_client_class = MountedClient
    client = app.test_client()
    login_staff(client, agent)
    token = csrf_from(client, "/mot-de-passe")
    answers = [client.post("/mot-de-passe", data={"current_password": "Wrong-Guess", "new_password": NEW_PASSWORD,
                                                  "confirmation": NEW_PASSWORD, "csrf_token": token}).status_code
               for _ in range(4)]
    assert answers == [200, 200, 200, 429]
