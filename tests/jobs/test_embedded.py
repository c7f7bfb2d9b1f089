"""Embedded mode (SQLite, no Redis): messages reach the outbox folder right after the commit that queued them."""

from __future__ import annotations

import email
import signal
import socket
from dataclasses import replace
from email import policy

import pytest
from sqlalchemy import select

from jobs.config import JobsConfig
from jobs.worker import run_worker
from member_app import create_app
from member_app.config import MemberAppConfig
from member_app.extensions import db
from models.config import ModelsConfig
from models.outbox.entities import OutboxMessage, OutboxStatus
from models.schema import upgrade
from tests.factories import make_member

from .conftest import submit_request


@pytest.fixture
def sqlite_config(tmp_path) -> ModelsConfig:
    config = ModelsConfig(database_url=f"sqlite:///{tmp_path / 'mese.db'}", files_dir=tmp_path / "files")
    upgrade(config.database_url)
    return config


@pytest.fixture
def embedded(tmp_path) -> JobsConfig:
    return JobsConfig(outbox_dir=tmp_path / "outbox")


def _app(models_config: ModelsConfig, jobs_config: JobsConfig):
    return create_app(MemberAppConfig(models=models_config, jobs=jobs_config, testing=True))


@pytest.fixture
def redis_mode_app(sqlite_config, embedded):
    """Builds the member area in Redis mode for the same database, which must switch the in-process delivery off."""
    yield lambda: _app(sqlite_config, replace(embedded, redis_url="redis://127.0.0.1:1/0"))
    _app(sqlite_config, replace(embedded, redis_url="redis://127.0.0.1:1/0"))


def test_a_commit_that_queued_a_message_delivers_it_to_the_folder(sqlite_config, embedded, redis_mode_app):
    app = _app(sqlite_config, embedded)
    with app.test_request_context():
        member = make_member(db.session)
        assert not embedded.outbox_dir.exists()  # committing a member queues nothing
        reference = submit_request(db.session, member).reference
        row = db.session.scalars(select(OutboxMessage)).one()

    assert (row.status, row.attempts, row.receipt) == (OutboxStatus.SENT, 1, f"folder:email-{row.id:06d}.eml")
    eml = email.message_from_bytes((embedded.outbox_dir / f"email-{row.id:06d}.eml").read_bytes(),
                                   policy=policy.default)
    assert eml["To"] == "lea.rimon@example.test" and eml["X-Outbox-Id"] == str(row.id)
    assert reference in eml["Subject"]
    assert "Le service adhérents MESE" in eml.get_body(("plain",)).get_content()
    assert reference in (embedded.outbox_dir / f"email-{row.id:06d}.txt").read_text()


def test_an_app_in_redis_mode_leaves_messages_to_the_worker(sqlite_config, embedded, redis_mode_app):
    _app(sqlite_config, embedded)
    app = redis_mode_app()  # the latest configuration of this database wins
    with app.test_request_context():
        submit_request(db.session, make_member(db.session))
        row = db.session.scalars(select(OutboxMessage)).one()
        assert row.status is OutboxStatus.PENDING
    assert not embedded.outbox_dir.exists()

    handlers = signal.getsignal(signal.SIGTERM), socket.getdefaulttimeout()
    try:
        run_worker(burst=True, jobs_config=embedded, models_config=sqlite_config)
    finally:
        signal.signal(signal.SIGTERM, handlers[0])
        socket.setdefaulttimeout(handlers[1])

    with app.app_context():
        assert db.session.get(OutboxMessage, row.id).status is OutboxStatus.SENT
    assert (embedded.outbox_dir / f"email-{row.id:06d}.eml").exists()


def test_the_worker_refuses_to_start_in_production_without_redis(sqlite_config, embedded):
    with pytest.raises(SystemExit, match="REDIS_URL is required"):
        run_worker(burst=True, jobs_config=embedded, models_config=replace(sqlite_config, env="production"))
