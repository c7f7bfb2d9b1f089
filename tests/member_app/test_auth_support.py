"""Fixtures and helpers of the sign-in tests (imported by the test_auth_* modules; holds no test)."""

from __future__ import annotations

import re
from dataclasses import replace

import altcha
import pytest
from sqlalchemy import select

from models.audit.entities import AuditEvent
from models.members.entities import Member
from models.outbox.entities import Channel, OutboxMessage

CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
NEW_PASSWORD = "Vacances-au-Vercors-38"


@pytest.fixture
def auth_config(member_app_config):
    """Member area settings of the sign-in tests: captcha off (one test module turns it on for real)."""
    return replace(member_app_config, captcha_enabled=False, captcha_cost=50)


@pytest.fixture
def app(migrated_database, auth_config):
    from member_app import create_app

    return create_app(auth_config)


@pytest.fixture
def client(app):
    return app.test_client()


def csrf_token(client, url: str) -> str:
    """The CSRF token of the form on ``url`` (GET)."""
    page = client.get(url)
    match = CSRF.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {url} ({page.status_code})"
    return match.group(1) or match.group(2)


def post_form(client, url: str, data: dict, *, form_url: str | None = None, **kwargs):
    """POST ``data`` to ``url`` with the CSRF token of the form shown at ``form_url`` (default: ``url``)."""
    return client.post(url, data={"csrf_token": csrf_token(client, form_url or url), **data}, **kwargs)


def outbox(session, *, channel: Channel | None = None, member_id: int | None = None,
           template: str | None = None) -> list[OutboxMessage]:
    """Queued messages, oldest first."""
    session.expire_all()
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if channel:
        query = query.where(OutboxMessage.channel == channel)
    if member_id:
        query = query.where(OutboxMessage.member_id == member_id)
    if template:
        query = query.where(OutboxMessage.template == template)
    return list(session.scalars(query))


def last_sms_code(session, member) -> str:
    """The code of the last SMS queued for ``member`` (the code exists nowhere else in clear)."""
    sms = outbox(session, channel=Channel.SMS, member_id=member.id)
    assert sms, "no SMS queued"
    return re.search(r"\b(\d{6})\b", sms[-1].text_body).group(1)


def link_in(message: OutboxMessage) -> str:
    """The path of the first member-area link in an e-mail."""
    url = re.search(r"https?://[^\s\"<]+", message.text_body).group(0)
    return re.sub(r"^https?://[^/]+", "", url)


def audit_actions(session, member_id: int | None = None) -> list[str]:
    """Audit actions, oldest first (of one member if given)."""
    session.expire_all()
    query = select(AuditEvent).order_by(AuditEvent.id)
    if member_id is not None:
        query = query.where(AuditEvent.member_id == member_id)
    return [e.action for e in session.scalars(query)]


def solve_captcha(client) -> str:
    """Fetch a challenge from the app and solve its proof of work in Python, as the widget would."""
    challenge = altcha.Challenge.from_dict(client.get("/altcha/challenge").get_json())
    solution = altcha.solve_challenge(challenge, timeout=60)
    assert solution is not None
    return altcha.Payload(challenge, solution).to_base64()


def login_password(client, number: str, password: str, *, remember: bool = False, **extra):
    """Submit the login form (first step)."""
    data = {"identifiant": number, "password": password, **extra}
    if remember:
        data["remember"] = "y"
    return post_form(client, "/connexion", data)


def sign_in(client, session, member, password: str):
    """Walk the whole sign-in (password, SMS code) and return the last response."""
    response = login_password(client, member.number, password)
    assert response.status_code == 302 and response.location.endswith("/connexion/code"), response.location
    code = last_sms_code(session, member)
    return post_form(client, "/connexion/code", {"code": code})


def same_page(body: str) -> str:
    """A page without what changes on every response (CSRF token, CSP nonce)."""
    return re.sub(r'(value|nonce)="[^"]*"', r'\1=""', body)


def reload(session, member) -> Member:
    """The member as the database has it now."""
    session.expire_all()
    return session.get(Member, member.id)
