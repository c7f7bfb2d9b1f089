"""The database down during web requests: both apps answer 503, Retry-After and their own page; health checks.

The apps reach PostgreSQL through our proxy, which the tests cut (connections reset, new ones refused).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from models.outbox.entities import OutboxMessage
from models.requests.entities import HospitalCoverageRequest
from tests.backoffice.support import MountedClient
from tests.conftest import TEST_DATABASE_URL, free_port
from tests.factories import make_member, make_staff
from tests.helpers import login_member, login_staff
from web.availability import RETRY_AFTER_SECONDS

from .proxy import FaultProxy

pytestmark = [pytest.mark.fault, pytest.mark.timeout(120)]
COVERAGE = "/prise-en-charge-hospitaliere/"


@pytest.fixture
def database(migrated_database):
    url = urlsplit(TEST_DATABASE_URL)
    proxy = FaultProxy(url.hostname, url.port or 5432)
    yield proxy
    proxy.close()


def _through(proxy: FaultProxy, config):
    url = urlsplit(TEST_DATABASE_URL)
    proxied = url._replace(netloc=f"{url.username}@127.0.0.1:{proxy.port}").geturl()
    return replace(config, models=replace(config.models, database_url=proxied))


@pytest.fixture
def member_client(database, member_app_config):
    from member_app import create_app

    return create_app(_through(database, member_app_config)).test_client()


@pytest.fixture
def backoffice_client(database, backoffice_config):
    from backoffice import create_app

    app = create_app(_through(database, backoffice_config))
    app.test_client_class = MountedClient
    return app.test_client()


def _assert_outage_page(response, *, title: str, lang: str) -> str:
    body = response.get_data(as_text=True)
    assert response.status_code == 503 and response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert f'<html lang="{lang}">' in body and title in body
    assert "Internal Server Error" not in body and "Traceback" not in body and "psycopg" not in body
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    return body


def test_member_pages_answer_503_with_the_products_french_page_and_nothing_is_half_written(
        session, database, member_client):
    member = make_member(session)
    login_member(member_client, member)
    assert member_client.get("/").status_code == 200
    form = member_client.get(COVERAGE).get_data(as_text=True)
    assert "csrf_token" in form

    database.cut()
    for page in ("/", COVERAGE, "/connexion"):
        response = member_client.get(page)
        if response.status_code != 503:  # a page that needs no database still works
            assert response.status_code in (200, 302), page
            continue
        body = _assert_outage_page(response, title="Service momentanément indisponible", lang="fr")
        assert "Léa" not in body and "RIMON" not in body  # no signed-in member shown: it would need the database
    response = member_client.post(COVERAGE, data={"establishment_name": "Clinique des Cèdres"})
    _assert_outage_page(response, title="Service momentanément indisponible", lang="fr")

    database.restore()
    assert member_client.get("/").status_code == 200
    assert session.scalar(select(func.count()).select_from(HospitalCoverageRequest)) == 0
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_a_database_that_hangs_gets_the_outage_page_within_seconds_not_a_hung_request(
        session, database, member_client):
    login_member(member_client, make_member(session))
    database.drop_connections()  # pooled connections are gone...
    database.hang()  # ...and new ones are accepted but never answered

    start = time.monotonic()
    _assert_outage_page(member_client.get("/"), title="Service momentanément indisponible", lang="fr")
    assert time.monotonic() - start < 15  # connect_timeout, not the TCP stack's minutes


def test_a_member_who_chose_english_gets_the_page_in_english(session, database, member_client):
    login_member(member_client, make_member(session))
    assert member_client.get("/?lang=en").status_code == 200

    database.cut()
    body = _assert_outage_page(member_client.get("/"), title="Service temporarily unavailable", lang="en")
    assert "Please try again in a few minutes." in body


def test_back_office_pages_answer_503_with_their_own_page(session, database, backoffice_client):
    login_staff(backoffice_client, make_staff(session))
    assert backoffice_client.get("/").status_code == 200

    database.cut()
    for page in ("/", "/envois/", "/journal/"):
        _assert_outage_page(backoffice_client.get(page), title="Service momentanément indisponible", lang="fr")

    database.restore()
    assert backoffice_client.get("/").status_code == 200


@pytest.mark.parametrize("app_name", ["member", "backoffice"])
def test_the_health_check_reports_the_database_and_redis_without_personal_data(
        session, database, member_client, backoffice_client, app_name):
    client = member_client if app_name == "member" else backoffice_client
    response = client.get("/health")
    assert response.status_code == 200
    assert json.loads(response.data) == {"status": "ok", "database": "ok", "redis": "ok"}

    database.cut()
    response = client.get("/health")
    assert response.status_code == 503 and response.headers["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert json.loads(response.data) == {"status": "unavailable", "database": "unavailable", "redis": "ok"}


def test_with_redis_down_the_health_check_says_degraded_and_the_app_serves(session, database, member_app_config):
    from member_app import create_app

    config = _through(database, member_app_config)
    config = replace(config, jobs=replace(config.jobs, redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    client = create_app(config).test_client()

    response = client.get("/health")
    assert response.status_code == 200
    assert json.loads(response.data) == {"status": "degraded", "database": "ok", "redis": "unavailable"}


def test_an_outage_met_while_drawing_the_ordinary_error_page_still_gets_the_outage_page(database, member_app_config):
    from member_app import create_app

    app = create_app(_through(database, member_app_config))

    def broken():
        try:
            raise OperationalError("SELECT 1", {}, ConnectionError("server closed the connection"))
        except OperationalError as exc:
            raise RuntimeError("the view failed after losing the database") from exc

    app.add_url_rule("/broken", "broken", broken)
    response = app.test_client().get("/broken")
    _assert_outage_page(response, title="Service momentanément indisponible", lang="fr")
