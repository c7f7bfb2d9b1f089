"""Helpers of the back-office tests: a client mounted at /backoffice, CSRF tokens, the real sign-in."""

from __future__ import annotations

import re
from datetime import datetime

import pyotp
from flask.testing import FlaskClient

from models.base import utcnow
from tests.factories import PASSWORD

MOUNT = "/backoffice"
BASE_URL = f"http://localhost{MOUNT}"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')


class MountedClient(FlaskClient):
    """A test client that reaches the back office where wsgi.py mounts it (SCRIPT_NAME=/backoffice).

    The session cookie is limited to /backoffice, so a client at / would never send it back.
    Paths given to get/post are those of the app (``/prises-en-charge/``); redirects come back
    with the mount prefix and are stripped by ``local()``.
    """

    def open(self, *args, **kwargs):
        if not args or isinstance(args[0], str):
            kwargs.setdefault("base_url", BASE_URL)
        return super().open(*args, **kwargs)

    def session_transaction(self, *args, **kwargs):
        kwargs.setdefault("base_url", BASE_URL)
        return super().session_transaction(*args, **kwargs)


def local(location: str) -> str:
    """A Location header as a path of the app (without the /backoffice mount)."""
    path = re.sub(r"^https?://[^/]+", "", location)
    return path[len(MOUNT):] if path.startswith(MOUNT + "/") else path


def csrf_from(client, path: str) -> str:
    """The CSRF token of the page at ``path`` (CSRF stays on in tests, like in production)."""
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def app_url(app, endpoint: str, **values) -> str:
    """The path of ``endpoint`` inside the app."""
    from flask import url_for

    with app.test_request_context():
        return url_for(endpoint, **values)


def totp_code(staff, at: datetime | None = None) -> str:
    """The authenticator code of ``staff`` at ``at`` (default: now)."""
    return pyotp.TOTP(staff.totp_secret).at(at or utcnow())


def sign_in(client, staff, *, password: str = PASSWORD, code: str | None = None):
    """Walk the real sign-in: password page, then code page. Returns the last response."""
    token = csrf_from(client, "/connexion")
    response = client.post("/connexion", data={"email": staff.email, "password": password, "csrf_token": token})
    if response.status_code != 302 or local(response.location) != "/connexion/code":
        return response
    token = csrf_from(client, "/connexion/code")
    return client.post("/connexion/code", data={"code": code or totp_code(staff), "csrf_token": token})
