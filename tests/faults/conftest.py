"""Fault tests: real ``mese worker`` processes reach PostgreSQL, Redis and an SMTP server through our own proxies.

Each test queues receipts, lets the workers run, injects a fault at the proxy (never at the shared
servers), and checks that every message ends delivered exactly once (faxes: at most once, the rest
visible to staff) within a bound, with nobody restarting anything.

Outage lengths come from the environment so a quick run can shorten them; the defaults are the bar's
(``FAULT_REDIS_OUTAGE``: 60 s of Redis down while jobs run; ``FAULT_DATABASE_OUTAGE``: a 10 s
PostgreSQL restart in the middle of a burst; ``FAULT_RECEIPTS``: 500 receipts per run).
"""

from __future__ import annotations

import asyncio
import email
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
import redis as redis_lib
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from models.base import utcnow
from models.members.entities import Civility
from models.outbox.entities import OutboxMessage, OutboxStatus
from models.outbox.operations import queue_email
from tests.conftest import TEST_DATABASE_URL, TEST_REDIS_URL, free_port

from .proxy import FaultProxy

RECEIPTS = int(os.environ.get("FAULT_RECEIPTS", 500))
REDIS_OUTAGE = float(os.environ.get("FAULT_REDIS_OUTAGE", 60))
DATABASE_OUTAGE = float(os.environ.get("FAULT_DATABASE_OUTAGE", 10))
#: The bar: the queue is empty within two minutes of the fault's end.
RECOVERY_BOUND = 120.0
QUEUE = "mese-fault"
FAX_DOMAIN = "fax.example.test"


class ReceivingServer:
    """An SMTP server that keeps what it receives and, like a receiving server may, drops a copy by Message-ID."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.raw: list[dict] = []
        self.hold_outbox_id: int | None = None
        self.holding = threading.Event()
        self.release = threading.Event()
        self.port = 0

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=policy.default)
        outbox_id = int(msg["X-Outbox-Id"])
        # Kept before answering, as a real server queues a message before its "250": the worst case,
        # where a sender that dies now never learns that its message left.
        with self.lock:
            self.raw.append({"outbox_id": outbox_id, "message_id": msg["Message-ID"], "to": list(envelope.rcpt_tos)})
        if outbox_id == self.hold_outbox_id:
            self.holding.set()  # the answer waits: the test kills the sender meanwhile
            while not self.release.is_set():
                await asyncio.sleep(0.02)
        return "250 Message accepted for delivery"

    def copies(self) -> Counter:
        """How many copies of each outbox message arrived."""
        with self.lock:
            return Counter(m["outbox_id"] for m in self.raw)

    def delivered(self) -> Counter:
        """Deliveries once copies with a known Message-ID are dropped, per outbox message."""
        with self.lock:
            return Counter(outbox_id for outbox_id, _mid in {(m["outbox_id"], m["message_id"]) for m in self.raw})

    def message_ids(self, outbox_id: int) -> set[str]:
        with self.lock:
            return {m["message_id"] for m in self.raw if m["outbox_id"] == outbox_id}


@pytest.fixture
def receiving_server():
    handler = ReceivingServer()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    handler.release.set()
    controller.stop()


@dataclass
class Faults:
    """The proxies in front of PostgreSQL, Redis and SMTP, and the ``mese worker`` processes behind them."""

    database: FaultProxy
    redis: FaultProxy
    smtp: FaultProxy
    env: dict[str, str]
    logs: Path
    workers: list[subprocess.Popen] = field(default_factory=list)

    def start_worker(self) -> subprocess.Popen:
        """Start a ``mese worker`` in a process group of its own (so a test can kill it whole, as a host crash)."""
        log = open(self.logs / f"worker-{len(self.workers) + 1}.log", "wb")
        process = subprocess.Popen([sys.executable, "-c", "from backoffice.cli import cli; cli(['worker'])"],
                                   env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.workers.append(process)
        return process

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.workers:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def faults(migrated_database, models_config, receiving_server, tmp_path, redis_conn):
    """Proxies in front of the test PostgreSQL, Redis and SMTP server; workers configured to go through them."""
    database_url, redis_url = urlsplit(TEST_DATABASE_URL), urlsplit(TEST_REDIS_URL)
    database = FaultProxy(database_url.hostname, database_url.port or 5432)
    redis_proxy = FaultProxy(redis_url.hostname, redis_url.port or 6379)
    smtp = FaultProxy("127.0.0.1", receiving_server.port)
    env = {
        **os.environ,
        "MESE_ENV": "development",
        "DATABASE_URL": database_url._replace(netloc=f"{database_url.username}@127.0.0.1:{database.port}").geturl()
        + "?application_name=mese-fault-worker",
        "REDIS_URL": redis_url._replace(netloc=f"127.0.0.1:{redis_proxy.port}").geturl(),
        "RQ_QUEUE": QUEUE,
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp.port),
        "MAIL_TIMEOUT": "10",
        "FAX_GATEWAY_DOMAIN": FAX_DOMAIN,
        "FILES_DIR": str(models_config.files_dir),
        "OUTBOX_DIR": str(tmp_path / "outbox"),
        "OUTBOX_RELAY_INTERVAL": "1",
        "OUTBOX_RETRY_DELAYS": "1,2,4,8,15,30",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    harness = Faults(database, redis_proxy, smtp, env, tmp_path)
    yield harness
    harness.stop_workers()
    for proxy in (database, redis_proxy, smtp):
        proxy.close()


def queue_receipts(session, count: int) -> list[int]:
    """``count`` acknowledgement e-mails of hospital coverage requests, queued with the real template, committed."""
    ids = []
    for n in range(count):
        reference = f"PEC-2026-{n + 1:06d}"
        message = queue_email(session, to=f"adherent{n + 1}@example.test", template="hospital_coverage_received",
                              related=reference, context={
                                  "member": SimpleNamespace(civility=Civility.MADAME, last_name="Rimon"),
                                  "request": SimpleNamespace(reference=reference, establishment_name="Clinique des Cèdres",
                                                             start_on=utcnow().date()),
                                  "beneficiary": SimpleNamespace(full_name="Zoé RIMON")})
        ids.append(message)
    session.commit()
    return [m.id for m in ids]


def statuses(session) -> Counter:
    """How many messages are in each delivery state."""
    session.expire_all()
    return Counter({status: count for status, count in session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status))})


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> float:
    """Wait until ``condition()`` holds; fail after ``timeout`` seconds. Returns the seconds waited."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not within {timeout:.0f} s: {what}")
        time.sleep(interval)
    return time.monotonic() - start


def all_sent(session, count: int) -> Callable[[], bool]:
    return lambda: statuses(session)[OutboxStatus.SENT] == count


def queue_is_empty() -> bool:
    """Nothing left waiting in RQ for the fault workers."""
    connection = redis_lib.Redis.from_url(TEST_REDIS_URL)
    try:
        return connection.llen(f"rq:queue:{QUEUE}") == 0
    finally:
        connection.close()
