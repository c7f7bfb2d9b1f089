"""Benchmark of the outbox: relay passes over a large history, and deliveries per second per worker over SMTP.

Builds a scratch PostgreSQL database from the Alembic migrations, fills the outbox with SQL
(1,000,000 sent messages of history and 10,000 pending SMS), then measures one relay pass, two relays
racing (SKIP LOCKED), and the relay of the rest. Then, in rounds, one delivery worker (the
non-forking RQ worker of ``mese worker``) delivers a burst of receipts to a local SMTP server
(aiosmtpd, started here in a process of its own), next to RQ's own rate of no-op jobs with the
same worker, Redis and machine. Prints its figures; asserts nothing. Uses a Redis database of its
own and empties it.

    python -m bench.outbox_bench    # PG_ADMIN_DSN=postgresql://postgres@127.0.0.1:5432/postgres
                                    # BENCH_REDIS_URL=redis://127.0.0.1:6379/14
                                    # BENCH_DATABASE=mese_outbox_bench (dropped and created again)
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

from redis import Redis
from rq.serializers import JSONSerializer
from sqlalchemy import func, select, text

from bench.scratch import fresh_database
from jobs import runtime
from jobs.config import JobsConfig
from jobs.relay import delivery_queue, relay_once, relay_outbox
from jobs.worker import DeliveryWorker
from models.config import ModelsConfig
from models.db import session_factory
from models.outbox.entities import OutboxMessage, OutboxStatus

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
NAME = os.environ.get("BENCH_DATABASE", "mese_outbox_bench")
HISTORY = int(os.environ.get("BENCH_HISTORY", 1_000_000))
PENDING = int(os.environ.get("BENCH_PENDING", 10_000))
DELIVER = int(os.environ.get("BENCH_DELIVER", 1_000))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 3))
BAR = 80  # deliveries per second per worker (issue 10)

FILL = """
INSERT INTO outbox_message (channel, recipient, subject, text_body, attachments, template, status, attempts,
  secret, created_at, next_attempt_at, enqueued_at, sent_at, receipt)
SELECT 'email', 'm' || g || '@example.test', 'Accusé de réception', 'Bonjour', '[]', 'bench', 'sent', 1, false,
  now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', 'bench'
FROM generate_series(1, :history) g;
INSERT INTO outbox_message (channel, recipient, subject, text_body, attachments, template, status, attempts,
  secret, created_at, next_attempt_at)
SELECT 'sms', '+3360000' || lpad(g::text, 4, '0'), '', 'Votre code : 123456', '[]', 'bench-relay', 'pending', 0,
  false, now(), now() - interval '1 second'
FROM generate_series(1, :pending) g;
ANALYZE;
"""
#: A receipt the size of the real ones: French text, an HTML alternative, no attachment.
RECEIPTS = """
INSERT INTO outbox_message (channel, recipient, subject, text_body, html_body, attachments, template, status,
  attempts, secret, created_at, next_attempt_at)
SELECT 'email', 'adherent' || g || '@example.test',
  'Votre demande de prise en charge hospitalière PEC-2026-' || lpad(g::text, 6, '0') || ' a bien été reçue',
  repeat('Bonjour, nous avons bien reçu votre demande de prise en charge hospitalière. ', 8),
  '<html><body>' || repeat('<p>Bonjour, nous avons bien reçu votre demande de prise en charge.</p>', 25)
    || '</body></html>',
  '[]', 'bench-receipt', 'pending', 0, false, now(), now() - interval '1 second'
FROM generate_series(1, :count) g
"""


def noop() -> None:
    """The reference job: does nothing, so its rate is RQ's own cost per job."""


def _smtp_server(port: int, received, ready) -> None:
    """A local SMTP server that accepts everything and counts the messages (runs in its own process)."""
    from aiosmtpd.controller import Controller

    class Counter:
        async def handle_DATA(self, server, session, envelope):
            with received.get_lock():
                received.value += 1
            return "250 Message accepted for delivery"

    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    threading.Event().wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(queue, redis: Redis) -> DeliveryWorker:
    return DeliveryWorker([queue], connection=redis, serializer=JSONSerializer)


def noop_rate(jobs_config: JobsConfig, redis: Redis) -> float:
    """RQ's no-op jobs per second with the delivery worker's class, queue options and serializer."""
    queue = delivery_queue(JobsConfig(redis_url=REDIS_URL, queue_name="bench-noop"), redis)
    for n in range(DELIVER):
        queue.enqueue("bench.outbox_bench.noop", job_id=f"noop-{time.monotonic_ns()}-{n}", unique=True, result_ttl=600,
                      job_timeout=jobs_config.job_timeout_seconds)
    start = time.perf_counter()
    _worker(queue, redis).work(burst=True, logging_level="WARNING")
    return DELIVER / (time.perf_counter() - start)


def delivery_rate(jobs_config: JobsConfig, models_config: ModelsConfig, redis: Redis, received) -> tuple[float, int]:
    """Deliveries per second of one worker: ``DELIVER`` receipts relayed, then delivered over SMTP."""
    Session = session_factory(models_config)
    with Session() as s, s.begin():
        s.execute(text(RECEIPTS), {"count": DELIVER})
    before = received.value
    while relay_once(jobs_config, models_config).busy:
        pass
    queue = delivery_queue(jobs_config, redis)
    assert queue.count == DELIVER, queue.count
    start = time.perf_counter()
    _worker(queue, redis).work(burst=True, logging_level="WARNING")
    elapsed = time.perf_counter() - start
    with Session() as s, s.begin():
        sent = s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.template == "bench-receipt", OutboxMessage.status == OutboxStatus.SENT))
        s.execute(text("UPDATE outbox_message SET template = 'bench-receipt-done' "
                       "WHERE template = 'bench-receipt' AND status = 'sent'"))
    assert sent == DELIVER and received.value - before == DELIVER, (sent, received.value - before)
    return DELIVER / elapsed, sent


def relay_figures(jobs_config: JobsConfig, models_config: ModelsConfig, redis: Redis) -> None:
    """One relay pass over the big outbox, two relays at once, then the rest."""
    Session = session_factory(models_config)
    start = time.perf_counter()
    first = relay_once(jobs_config, models_config)
    print(f"one relay pass (batch {jobs_config.relay_batch_size}): {first.enqueued} enqueued in "
          f"{(time.perf_counter() - start) * 1000:.1f} ms")

    counts: list[int] = []

    def racing_relay() -> None:
        with Session() as s, s.begin():
            counts.append(relay_outbox(s, jobs_config).enqueued)

    start = time.perf_counter()
    threads = [threading.Thread(target=racing_relay) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"two relays at once: {counts} enqueued, {len(set(delivery_queue(jobs_config, redis).get_job_ids()))} "
          f"distinct jobs queued, {(time.perf_counter() - start) * 1000:.1f} ms")

    start = time.perf_counter()
    passes = 0
    while relay_once(jobs_config, models_config).busy:
        passes += 1
    elapsed = time.perf_counter() - start
    print(f"relayed the rest in {passes + 1} passes (the next pass follows at once while batches are full): "
          f"{(PENDING - 3 * jobs_config.relay_batch_size) / elapsed:.0f} messages/s")
    redis.flushdb()
    with Session() as s, s.begin():
        s.execute(text("UPDATE outbox_message SET status = 'sent' WHERE template = 'bench-relay'"))


def main() -> None:
    url = fresh_database(NAME)
    models_config = ModelsConfig(database_url=url, files_dir=Path(tempfile.mkdtemp(prefix="mese-bench-files-")))
    received = multiprocessing.Value("i", 0)
    ready = multiprocessing.Event()
    port = _free_port()
    smtp = multiprocessing.get_context("fork").Process(target=_smtp_server, args=(port, received, ready),
                                                       daemon=True)
    smtp.start()
    ready.wait(10)
    jobs_config = JobsConfig(redis_url=REDIS_URL, queue_name="bench", mail_server="127.0.0.1", mail_port=port,
                             outbox_dir=Path(tempfile.mkdtemp(prefix="mese-bench-outbox-")))
    runtime.configure(jobs_config, models_config)
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    Session = session_factory(models_config)
    start = time.perf_counter()
    with Session() as s, s.begin():
        for statement in FILL.split(";"):
            if statement.strip():
                s.execute(text(statement), {"history": HISTORY, "pending": PENDING})
    print(f"filled {HISTORY:,} sent and {PENDING:,} pending messages in {time.perf_counter() - start:.1f} s")
    relay_figures(jobs_config, models_config, redis)

    print(f"\n{ROUNDS} rounds, {DELIVER:,} jobs each, one non-forking worker (DeliveryWorker = RQ SimpleWorker), "
          f"SMTP server on 127.0.0.1:{port}")
    noop_rates, delivery_rates = [], []
    for round_number in range(1, ROUNDS + 1):
        noop_rates.append(noop_rate(jobs_config, redis))
        rate, _sent = delivery_rate(jobs_config, models_config, redis, received)
        delivery_rates.append(rate)
        print(f"  round {round_number}: RQ no-op jobs {noop_rates[-1]:6.0f}/s   receipts delivered over SMTP "
              f"{rate:6.1f}/s")
    noop, delivered = statistics.median(noop_rates), statistics.median(delivery_rates)
    print(f"\nmedian: {delivered:.1f} deliveries/s per worker (bar: {BAR}/s) against {noop:.0f} RQ no-op jobs/s "
          f"in the same run: a delivery costs {1000 / delivered:.1f} ms, RQ's own share {1000 / noop:.1f} ms "
          f"({delivered / noop:.0%} of the no-op rate)")
    print(f"SMTP server received {received.value:,} messages for {ROUNDS * DELIVER:,} receipts")
    redis.flushdb()
    smtp.kill()


if __name__ == "__main__":
    main()
