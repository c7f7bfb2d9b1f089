"""``mese worker --burst`` in Redis mode: relays the outbox, then runs the jobs in forked work horses."""

from __future__ import annotations

import signal
import socket

import pytest
from sqlalchemy import select

from jobs.worker import run_worker
from models.outbox.entities import OutboxMessage, OutboxStatus
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
