"""``mese worker --burst`` in Redis mode: relays the outbox, then runs the jobs in forked work horses."""

from __future__ import annotations

import signal
import socket

import pytest
from sqlalchemy import select

from jobs.worker import run_worker
from models.outbox.entities import OutboxMessage, OutboxStatus
from tests.conftest import free_port
from tests.factories import make_member

from .conftest import submit_request


@pytest.fixture
def restore_process_state():
    """run_worker installs signal handlers and a default socket timeout for the process; put them back."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}, socket.getdefaulttimeout()
    yield
    for sig, handler in saved[0].items():
        signal.signal(sig, handler)
    socket.setdefaulttimeout(saved[1])


def test_a_burst_worker_relays_and_delivers_pending_messages(session, jobs_config, models_config, redis_conn,
                                                             smtp, restore_process_state):
    member = make_member(session)
    reference = submit_request(session, member).reference

    run_worker(burst=True, jobs_config=jobs_config, models_config=models_config)

    [receipt] = smtp.to(member.email)
    assert reference in receipt["message"]["Subject"]
    session.expire_all()
    assert session.scalars(select(OutboxMessage.status)).all() == [OutboxStatus.SENT]


def test_the_worker_health_check_needs_the_database_redis_and_a_recent_relay_pass(
        jobs_config, models_config, migrated_database, redis_conn):
    from click.testing import CliRunner

    from backoffice.cli import cli
    from jobs.relay import relay_once

    env = {"DATABASE_URL": models_config.database_url, "REDIS_URL": jobs_config.redis_url,
           "RQ_QUEUE": jobs_config.queue_name, "FILES_DIR": str(models_config.files_dir)}
    result = CliRunner(env=env).invoke(cli, ["worker", "--check"])
    assert result.exit_code == 1 and "relay: no pass yet" in result.output

    relay_once(jobs_config, models_config)
    result = CliRunner(env=env).invoke(cli, ["worker", "--check"])
    assert result.exit_code == 0, result.output
    assert "database: ok" in result.output and "redis: ok" in result.output and "relay: last pass" in result.output

    result = CliRunner(env={**env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}).invoke(cli, ["worker", "--check"])
    assert result.exit_code == 1 and "redis: unavailable" in result.output
