"""Shared fixtures: PostgreSQL migrated once per run, Redis, a real SMTP server, both apps.

Each test starts from empty tables (TRUNCATE after the test) and an empty Redis database.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest
import redis
from aiosmtpd.controller import Controller
from sqlalchemy import text

import models
from jobs.config import JobsConfig
from models.config import ModelsConfig
from models.db import get_engine, session_factory
from models.schema import upgrade

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/mese_test")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _recreate_database(url: str) -> None:
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    base, name = dsn.rsplit("/", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


@pytest.fixture(scope="session")
def files_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("files")


@pytest.fixture(scope="session")
def models_config(files_dir) -> ModelsConfig:
    """Domain settings of the test run: the test PostgreSQL database, a temporary file store."""
    return ModelsConfig(database_url=TEST_DATABASE_URL, files_dir=files_dir)


@pytest.fixture(scope="session")
def migrated_database(models_config) -> str:
    """The test database, created afresh and migrated with Alembic once per run."""
    _recreate_database(models_config.database_url)
    upgrade(models_config.database_url)
    return models_config.database_url


class SmtpSink:
    """Collects the messages a real SMTP server receives."""

    def __init__(self) -> None:
        self.messages: list = []
        self.lock = threading.Lock()
        self.fail_next: list[str] = []  # SMTP replies to give instead of accepting, one per message

    async def handle_DATA(self, server, session, envelope):
        import email
        from email import policy

        with self.lock:
            if self.fail_next:
                return self.fail_next.pop(0)
            msg = email.message_from_bytes(envelope.content, policy=policy.default)
            self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "message": msg})
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list:
        """Messages whose envelope recipients include ``address``."""
        return [m for m in self.messages if address.lower() in [r.lower() for r in m["to"]]]


@pytest.fixture(scope="session")
def smtp_server():
    """A real SMTP server (aiosmtpd) on a free local port, for the whole run."""
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def smtp(smtp_server) -> SmtpSink:
    """The SMTP sink, emptied for this test."""
    sink: SmtpSink = smtp_server.handler
    with sink.lock:
        sink.messages.clear()
        sink.fail_next.clear()
    return sink


@pytest.fixture
def redis_conn():
    """The test Redis database, emptied before the test."""
    conn = redis.Redis.from_url(TEST_REDIS_URL)
    conn.flushdb()
    yield conn
    conn.flushdb()
    conn.close()


@pytest.fixture
def jobs_config(smtp_server, tmp_path, redis_conn) -> JobsConfig:
    """Jobs settings of a test: Redis queue, the test SMTP server, a fax gateway domain."""
    return JobsConfig(
        redis_url=TEST_REDIS_URL,
        queue_name="mese-test",
        outbox_dir=tmp_path / "outbox",
        mail_server="127.0.0.1",
        mail_port=smtp_server.port,
        fax_gateway_domain="fax.example.test",
        retry_delays_seconds=(1, 2, 3),
    )


def truncate_tables(url: str) -> None:
    """Empty every table of the database at ``url``."""
    tables = ", ".join(f'"{t.name}"' for t in models.Base.metadata.sorted_tables)
    engine = get_engine(replace(ModelsConfig(), database_url=url))
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(autouse=True)
def _clean_tables(request):
    """Empty every table after each test that touched the database."""
    yield
    if "migrated_database" not in request.fixturenames:
        return
    truncate_tables(request.getfixturevalue("migrated_database"))


@pytest.fixture
def session(migrated_database, models_config):
    """A plain SQLAlchemy session on the test database; commits are real (tables are emptied after)."""
    s = session_factory(models_config)()
    yield s
    s.rollback()
    s.close()


@pytest.fixture
def member_app_config(models_config, jobs_config):
    """Member area settings for tests (Redis mode: nothing is delivered until the relay runs)."""
    from member_app.config import MemberAppConfig

    return MemberAppConfig(models=models_config, jobs=jobs_config, testing=True,
                           ratelimit_storage_url="memory://")


@pytest.fixture
def member_app(migrated_database, member_app_config):
    """The member area application."""
    from member_app import create_app

    return create_app(member_app_config)


@pytest.fixture
def member_client(member_app):
    """A browser-like client of the member area."""
    return member_app.test_client()


@pytest.fixture
def backoffice_config(models_config, jobs_config):
    """Back office settings for tests."""
    from backoffice.config import BackofficeConfig

    return BackofficeConfig(models=models_config, jobs=jobs_config, testing=True)


@pytest.fixture
def backoffice_app(migrated_database, backoffice_config):
    """The back office application."""
    from backoffice import create_app

    return create_app(backoffice_config)


@pytest.fixture
def backoffice_client(backoffice_app):
    """A browser-like client of the back office."""
    return backoffice_app.test_client()
