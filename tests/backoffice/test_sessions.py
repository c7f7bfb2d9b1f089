"""Staff sessions live on the server: sign-out, password change, deactivation and admins end them for good."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from models.audit.entities import AuditEvent
from models.base import utcnow
from models.sessions.entities import WebSession

from .support import MOUNT, csrf_from, local, sign_in, totp_code

COOKIE = "mese_backoffice"


def copied_cookie(client) -> str:
    return client.get_cookie(COOKIE, path=MOUNT).value


def replay(new_client, cookie: str):
    """Another browser holding a copy of the cookie."""
    thief = new_client()
    thief.set_cookie(COOKIE, cookie, path=MOUNT)
    return thief.get("/prises-en-charge/")


def test_a_cookie_copied_before_sign_out_opens_nothing_after_it(new_client, session, agent):
    client = new_client()
    sign_in(client, agent)
    cookie = copied_cookie(client)
    assert replay(new_client, cookie).status_code == 200
    client.post("/deconnexion", data={"csrf_token": csrf_from(client, "/")})
    response = replay(new_client, cookie)
    assert response.status_code == 302 and local(response.location).startswith("/connexion")
    ended = session.scalar(select(WebSession).where(WebSession.staff_id == agent.id))
    assert ended.ended_at is not None and ended.end_reason == "signed_out"


def test_a_staff_session_ends_after_its_absolute_lifetime_however_active(new_client, agent, time_machine):
    time_machine.move_to(utcnow(), tick=False)
    client = new_client()
    sign_in(client, agent)
    for _ in range(20):  # active every 29 minutes for 9 h 40 min
        time_machine.shift(timedelta(minutes=29))
        assert client.get("/prises-en-charge/").status_code == 200
    time_machine.shift(timedelta(minutes=25))  # 10 h 05 after sign-in, 25 idle minutes only
    response = client.get("/prises-en-charge/")
    assert response.status_code == 302 and local(response.location).startswith("/connexion")


def test_changing_the_password_ends_the_other_sessions_and_keeps_this_browser_in(new_client, agent):
    here, elsewhere = new_client(), new_client()
    sign_in(here, agent)
    sign_in(elsewhere, agent, code=totp_code(agent, utcnow() + timedelta(seconds=30)))
    old_here = copied_cookie(here)
    token = csrf_from(here, "/mot-de-passe")
    response = here.post("/mot-de-passe", data={"current_password": "Correct-Horse-2026",
                                                "new_password": "Nouveau-Secret-2027",
                                                "confirmation": "Nouveau-Secret-2027", "csrf_token": token})
    assert local(response.location) == "/"
    assert here.get("/prises-en-charge/").status_code == 200
    assert elsewhere.get("/prises-en-charge/").status_code == 302
    assert replay(new_client, old_here).status_code == 302  # this browser has a new session too


def test_deactivating_a_staff_member_ends_their_sessions_at_once(new_client, session, as_staff, admin, agent):
    other = new_client()
    sign_in(other, agent)
    client = as_staff(admin)
    page = f"/personnel/edit/?id={agent.id}"
    client.post(page, data={"full_name": agent.full_name, "role": "agent", "csrf_token": csrf_from(client, page)})
    assert other.get("/prises-en-charge/").status_code == 302
    session.expire_all()
    assert session.scalar(select(WebSession.end_reason).where(WebSession.staff_id == agent.id)) == "deactivated"


def test_each_staff_member_lists_their_sessions_and_ends_one(new_client, session, agent, manager):
    laptop, phone = new_client(), new_client()
    sign_in(laptop, agent)
    phone.environ_base["HTTP_USER_AGENT"] = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
                                             "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1")
    sign_in(phone, agent, code=totp_code(agent, utcnow() + timedelta(seconds=30)))
    phone_cookie = copied_cookie(phone)
    sign_in(new_client(), manager)  # someone else's session is not listed
    page = laptop.get("/mes-sessions/").get_data(as_text=True)
    assert "Mes sessions ouvertes" in page and "Mobile Safari, iOS" in page and "(cette session)" in page
    assert page.count("Fermer cette session") == 2
    phone_session = session.scalar(select(WebSession).where(WebSession.staff_id == agent.id,
                                                            WebSession.device == "Mobile Safari, iOS"))
    manager_session = session.scalar(select(WebSession).where(WebSession.staff_id == manager.id))
    token = csrf_from(laptop, "/mes-sessions/")
    # Another person's session cannot be ended from here.
    assert laptop.post("/mes-sessions/fermer/", data={"session_id": str(manager_session.id),
                                                      "csrf_token": token}).status_code == 404
    response = laptop.post("/mes-sessions/fermer/", data={"session_id": str(phone_session.id), "csrf_token": token})
    assert local(response.location) == "/mes-sessions/"
    assert replay(new_client, phone_cookie).status_code == 302
    assert laptop.get("/prises-en-charge/").status_code == 200
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.session_ended"))
    assert event.actor_id == agent.id and event.details["session_id"] == phone_session.id


def _sends_cookie(response) -> bool:
    return any(c.startswith(COOKIE + "=") for c in response.headers.getlist("Set-Cookie"))


def test_a_static_file_never_sends_an_older_session_cookie_back(new_client, agent, time_machine):
    """A stylesheet asked by the previous page may finish after a newer page changed the session: its
    response must not put the older cookie back."""
    time_machine.move_to(utcnow(), tick=False)
    client = new_client()
    sign_in(client, agent)
    time_machine.shift(timedelta(seconds=61))
    page = client.get("/prises-en-charge/")
    assert _sends_cookie(page)
    for asset in ("/assets/css/backoffice.css", "/static/admin/bootstrap/bootstrap4/css/bootstrap.min.css"):
        response = client.get(asset)
        assert response.status_code == 200, asset
        assert not any(c.startswith(COOKIE + "=") for c in response.headers.getlist("Set-Cookie")), asset


def test_an_unchanged_session_cookie_is_signed_again_once_a_minute_not_with_every_page(new_client, agent,
                                                                                       time_machine):
    """The last activity is written in the cookie (and on the server) at most once a minute: signing and sending
    the cookie with every page would cost each list page for nothing; the idle limit still counts from it."""
    time_machine.move_to(utcnow(), tick=False)
    client = new_client()
    sign_in(client, agent)
    time_machine.shift(timedelta(seconds=61))
    assert _sends_cookie(client.get("/prises-en-charge/"))
    time_machine.shift(timedelta(seconds=20))
    assert not _sends_cookie(client.get("/prises-en-charge/"))
    time_machine.shift(timedelta(seconds=41))
    assert _sends_cookie(client.get("/prises-en-charge/"))
