"""Benchmark of the outbox: relay passes over a large history, and delivery throughput through RQ.

Builds a scratch PostgreSQL database from the Alembic migrations, fills the outbox with SQL
(1,000,000 sent messages of history and 10,000 pending), then measures one relay pass, two relays
racing (SKIP LOCKED), and a burst SimpleWorker delivering to the folder channel. Prints its
figures; asserts nothing. Uses a Redis database of its own and empties it.

    python -m bench.outbox_bench    # PG_ADMIN_DSN=postgresql://postgres@127.0.0.1:5432/postgres
                                    # BENCH_REDIS_URL=redis://127.0.0.1:6379/14
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import func, select, text

from jobs import runtime
from jobs.config import JobsConfig
from jobs.relay import delivery_queue, relay_once, relay_outbox
from bench.scratch import fresh_database
from models.config import ModelsConfig
from models.db import session_factory
from models.outbox.entities import OutboxMessage, OutboxStatus

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
NAME = "mese_outbox_bench"
HISTORY = int(os.environ.get("BENCH_HISTORY", 1_000_000))
PENDING = int(os.environ.get("BENCH_PENDING", 10_000))
DELIVER = int(os.environ.get("BENCH_DELIVER", 2_000))

FILL = """
INSERT INTO outbox_message (channel, recipient, subject, text_body, attachments, template, status, attempts,
  created_at, next_attempt_at, enqueued_at, sent_at, receipt)
SELECT 'email', 'm' || g || '@example.test', 'Accusé de réception', 'Bonjour', '[]', 'bench', 'sent', 1,
  now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', 'bench'
FROM generate_series(1, :history) g;
INSERT INTO outbox_message (channel, recipient, subject, text_body, attachments, template, status, attempts,
  created_at, next_attempt_at)
SELECT 'sms', '+3360000' || lpad(g::text, 4, '0'), '', 'Votre code : 123456', '[]', 'bench', 'pending', 0,
  now(), now() - interval '1 second'
FROM generate_series(1, :pending) g;
ANALYZE;
"""


def main() -> None:
    url = fresh_database(NAME)
    models_config = ModelsConfig(database_url=url, files_dir=Path(tempfile.mkdtemp(prefix="mese-bench-files-")))
    jobs_config = JobsConfig(redis_url=REDIS_URL, queue_name="bench", outbox_dir=Path(tempfile.mkdtemp(
        prefix="mese-bench-outbox-")))
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
    while relay_once(jobs_config, models_config).enqueued:
        passes += 1
    elapsed = time.perf_counter() - start
    print(f"relayed the rest in {passes} passes: {(PENDING - 3 * jobs_config.relay_batch_size) / elapsed:.0f} "
          f"messages/s")

    queue = delivery_queue(jobs_config, redis)
    start = time.perf_counter()
    SimpleWorker([queue], connection=redis, serializer=JSONSerializer).work(
        burst=True, max_jobs=DELIVER, logging_level="WARNING")
    elapsed = time.perf_counter() - start
    with Session() as s:
        sent = s.scalar(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.status == OutboxStatus.SENT, OutboxMessage.template == "bench",
            OutboxMessage.channel == "sms"))
    print(f"SimpleWorker, folder channel: {sent} SMS delivered in {elapsed:.1f} s ({sent / elapsed:.0f}/s)")
    redis.flushdb()


if __name__ == "__main__":
    main()
