"""The bar of issue 10, proven with real ``mese worker`` processes and faults injected at our proxies.

Redis killed for a minute while jobs run, jobs lost by Redis, PostgreSQL restarted during a burst,
SMTP down for a while, a worker SIGKILLed with its job (an e-mail, then a fax): every receipt ends
delivered once (a copy that a crash made the server receive twice carries the same Message-ID, so
the receiving server drops it), faxes at most once with the rest left to staff, the queue empty
within two minutes of the fault's end, and nobody restarts anything.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select, text

from jobs.deliver import INTERRUPTED_ERROR
from models.audit.entities import AuditEvent
from models.outbox.entities import AttemptOutcome, Channel, OutboxAttempt, OutboxMessage, OutboxStatus

from .conftest import (
    DATABASE_OUTAGE, FAX_DOMAIN, RECEIPTS, RECOVERY_BOUND, REDIS_OUTAGE, all_sent, queue_is_empty, queue_receipts,
    statuses, wait_until,
)

pytestmark = pytest.mark.fault


def _report(name: str, **figures) -> None:
    print(f"\n[fault] {name}: " + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                            for k, v in figures.items()))


def _exactly_once(receiving_server, ids: list[int]) -> None:
    delivered = receiving_server.delivered()
    assert Counter({i: delivered[i] for i in ids}) == Counter({i: 1 for i in ids}), "each receipt once, none lost"


def _workers_alive(faults) -> None:
    assert all(w.poll() is None for w in faults.workers), "no worker exited: nobody had to restart one"


@pytest.mark.timeout(400)
def test_redis_killed_for_a_minute_while_jobs_run_loses_nothing_and_sends_nothing_twice(
        session, faults, receiving_server, redis_conn):
    ids = queue_receipts(session, RECEIPTS)
    faults.start_worker(), faults.start_worker()
    wait_until(lambda: sum(receiving_server.copies().values()) >= RECEIPTS // 5, 120, "deliveries under way")

    faults.redis.cut()
    time.sleep(REDIS_OUTAGE)
    sent_during_outage = statuses(session)[OutboxStatus.SENT]
    redis_conn.flushdb()  # Redis comes back empty, as after a crash without persistence
    faults.redis.restore()
    recovery = wait_until(all_sent(session, RECEIPTS), RECOVERY_BOUND, "every receipt sent after Redis came back")
    wait_until(queue_is_empty, RECOVERY_BOUND - recovery, "the queue empty")

    _exactly_once(receiving_server, ids)
    assert sum(receiving_server.copies().values()) == RECEIPTS  # not even a copy: no send was cut short
    _workers_alive(faults)
    _report("redis down", outage_s=REDIS_OUTAGE, sent_before_restore=sent_during_outage,
            all_sent_after_s=recovery)


@pytest.mark.timeout(200)
def test_jobs_that_redis_loses_are_queued_again_at_once(session, faults, receiving_server, redis_conn):
    ids = queue_receipts(session, RECEIPTS // 5)
    faults.smtp.hang()  # deliveries wait on the SMTP server, so jobs pile up in the queue
    faults.start_worker()
    wait_until(lambda: statuses(session)[OutboxStatus.ENQUEUED] >= len(ids) - 5, 60, "jobs queued")
    redis_conn.flushdb()  # the queued jobs are gone
    faults.smtp.restore()
    start = time.monotonic()

    recovery = wait_until(all_sent(session, len(ids)), RECOVERY_BOUND, "every receipt sent")
    _exactly_once(receiving_server, ids)
    _workers_alive(faults)
    _report("jobs lost by redis", receipts=len(ids), all_sent_after_s=time.monotonic() - start)
    assert recovery < 60  # queued again by the relay at once, not after OUTBOX_REQUEUE_AFTER (15 min)


@pytest.mark.timeout(300)
def test_postgresql_restarted_during_a_burst_loses_nothing_and_sends_nothing_twice(
        session, faults, receiving_server):
    ids = queue_receipts(session, RECEIPTS)
    faults.start_worker(), faults.start_worker()
    wait_until(lambda: sum(receiving_server.copies().values()) >= RECEIPTS // 5, 120, "deliveries under way")

    faults.database.cut()
    session.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE datname = current_database() AND application_name = 'mese-fault-worker'"))
    session.commit()
    time.sleep(DATABASE_OUTAGE)
    faults.database.restore()
    recovery = wait_until(all_sent(session, RECEIPTS), RECOVERY_BOUND, "every receipt sent after the restart")
    wait_until(queue_is_empty, RECOVERY_BOUND - recovery, "the queue empty")

    _exactly_once(receiving_server, ids)
    assert sum(receiving_server.copies().values()) == RECEIPTS
    _workers_alive(faults)
    _report("postgresql restart", outage_s=DATABASE_OUTAGE, all_sent_after_s=recovery)


@pytest.mark.timeout(300)
def test_smtp_down_for_a_while_delays_receipts_without_losing_or_doubling_them(session, faults, receiving_server):
    ids = queue_receipts(session, RECEIPTS // 5)
    faults.start_worker()
    wait_until(lambda: sum(receiving_server.copies().values()) >= 10, 60, "deliveries under way")

    faults.smtp.cut()
    time.sleep(15)
    faults.smtp.restore()
    recovery = wait_until(all_sent(session, len(ids)), RECOVERY_BOUND, "every receipt sent after SMTP came back")

    _exactly_once(receiving_server, ids)
    assert sum(receiving_server.copies().values()) - len(ids) <= 1  # at most the one send the cut interrupted
    _workers_alive(faults)
    _report("smtp down", outage_s=15.0, all_sent_after_s=recovery)


def _kill_the_worker_sending(session, faults, receiving_server, message_id: int) -> None:
    """SIGKILL the whole ``mese worker`` whose delivery process is sending ``message_id`` (a host crash)."""
    wait_until(receiving_server.holding.is_set, 120, "the held message reaching the server")
    worker = session.scalar(select(OutboxAttempt.worker).where(
        OutboxAttempt.message_id == message_id, OutboxAttempt.outcome == AttemptOutcome.IN_PROGRESS))
    group = os.getpgid(int(worker.rsplit(":", 1)[1]))
    [victim] = [w for w in faults.workers if w.pid == group]
    os.killpg(group, signal.SIGKILL)
    victim.wait(10)
    receiving_server.release.set()  # the server had the whole message: it did leave


@pytest.mark.timeout(300)
def test_a_worker_killed_during_a_send_leaves_no_receipt_lost_and_none_delivered_twice(
        session, faults, receiving_server):
    ids = queue_receipts(session, RECEIPTS)
    held = ids[RECEIPTS // 5]
    receiving_server.hold_outbox_id = held
    faults.start_worker(), faults.start_worker()

    _kill_the_worker_sending(session, faults, receiving_server, held)
    start = time.monotonic()
    recovery = wait_until(all_sent(session, RECEIPTS), RECOVERY_BOUND, "every receipt sent after the crash")
    wait_until(queue_is_empty, RECOVERY_BOUND - recovery, "the queue empty")

    _exactly_once(receiving_server, ids)
    copies = receiving_server.copies()
    assert {i: n for i, n in copies.items() if n > 1} == {held: 2}  # sent again after the crash...
    assert len(receiving_server.message_ids(held)) == 1  # ...with the same Message-ID: dropped as a copy
    assert [a.outcome for a in session.scalars(select(OutboxAttempt).where(OutboxAttempt.message_id == held)
                                               .order_by(OutboxAttempt.number))] == [AttemptOutcome.INTERRUPTED,
                                                                                     AttemptOutcome.SENT]
    assert faults.workers[0].poll() is None or faults.workers[1].poll() is None
    _report("worker killed", receipts=RECEIPTS, all_sent_after_s=time.monotonic() - start)


@pytest.mark.timeout(200)
def test_a_fax_whose_worker_was_killed_during_the_send_is_never_sent_twice_and_is_left_to_staff(
        session, faults, receiving_server):
    ids = queue_receipts(session, 20)
    fax = OutboxMessage(channel=Channel.FAX, recipient="04 76 60 56 36", subject="Prise en charge PEC-2026-000021",
                        text_body="TÉLÉCOPIE", related="PEC-2026-000021", attachments=[])
    session.add(fax)
    session.commit()
    receiving_server.hold_outbox_id = fax.id
    faults.start_worker(), faults.start_worker()

    _kill_the_worker_sending(session, faults, receiving_server, fax.id)
    wait_until(lambda: statuses(session)[OutboxStatus.DEAD] == 1 and all_sent(session, len(ids))(), RECOVERY_BOUND,
               "the fax settled and the receipts sent")
    time.sleep(3)  # a few more relay passes: the fax must stay as it is

    _exactly_once(receiving_server, ids)
    assert receiving_server.copies()[fax.id] == 1
    session.expire_all()
    fax = session.get(OutboxMessage, fax.id)
    assert fax.status is OutboxStatus.DEAD and fax.last_error == INTERRUPTED_ERROR
    assert [m["to"] for m in receiving_server.raw if m["outbox_id"] == fax.id] == [[f"0476605636@{FAX_DOMAIN}"]]
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "outbox.dead",
                                                   AuditEvent.subject_id == fax.id)) is not None


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.timeout(120)
def test_the_supervisor_starts_its_dead_processes_again_and_tells_systemd_it_is_alive(
        session, faults, receiving_server, tmp_path):
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(tmp_path / "notify.sock"))
    systemd.settimeout(30)
    faults.env["NOTIFY_SOCKET"] = str(tmp_path / "notify.sock")
    worker = faults.start_worker()
    assert systemd.recv(100) == b"READY=1"
    assert systemd.recv(100) == b"WATCHDOG=1"
    wait_until(lambda: len(_children(worker.pid)) == 3, 30, "the relay, the delivery and the export processes running")

    first = _children(worker.pid)
    for pid in first:  # every child dies at once (OOM killer, a crash in C code...)
        os.kill(pid, signal.SIGKILL)
    ids = queue_receipts(session, 5)

    wait_until(all_sent(session, len(ids)), 60, "receipts sent by the processes started again")
    _exactly_once(receiving_server, ids)
    assert worker.poll() is None and set(_children(worker.pid)).isdisjoint(first)
    systemd.close()
