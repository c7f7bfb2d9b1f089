"""The worker process behind ``mese worker``: an RQ worker with its scheduler, plus the periodic outbox relay.

The relay runs in a small child process of its own, started before the RQ worker and stopped with
it: it needs neither Redis jobs nor RQ's scheduler to keep going (a Redis restarted empty loses
both), it talks to PostgreSQL and Redis with short timeouts, and a failed pass is logged and
retried on the next tick. RQ's CronScheduler was not used: it enqueues with RQ's default
(pickle) serializer, while our queue is JSON only. Extra workers may be plain ``rq worker`` processes
started with ``-S rq.serializers.JSONSerializer`` (they read the settings from the environment).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading

from redis import Redis
from rq import Worker
from rq.serializers import JSONSerializer
from sqlalchemy.orm import configure_mappers

import models  # noqa: F401  (every entity mapped before the first job)
from models.config import ModelsConfig

from . import runtime
from .channels.mail import mail_app
from .config import JobsConfig
from .deliver import deliver_due_inline
from .relay import delivery_queue, relay_once

log = logging.getLogger(__name__)


def _preload(jobs_config: JobsConfig, models_config: ModelsConfig) -> None:
    """Do once in the parent what every forked job would otherwise redo."""
    runtime.configure(jobs_config, models_config)
    # Flask-Mail and psycopg have no timeout of their own everywhere; a silent peer must not hold a job.
    socket.setdefaulttimeout(max(jobs_config.mail_timeout_seconds, 30))
    configure_mappers()
    from . import pdf  # noqa: F401  (xhtml2pdf and its fonts: most of a second per import)

    if jobs_config.mail_server:
        mail_app(jobs_config)


def relay_loop(jobs_config: JobsConfig, models_config: ModelsConfig, parent_pid: int) -> None:
    """Relay the outbox every ``relay_interval_seconds`` until stopped or orphaned."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.is_set() and os.getppid() == parent_pid:
        try:
            result = relay_once(jobs_config, models_config)
            if result.enqueued or result.requeued:
                log.info("outbox relay: %s enqueued, %s re-enqueued", result.enqueued, result.requeued)
        except Exception:
            log.exception("outbox relay pass failed; retrying in %ss", jobs_config.relay_interval_seconds)
        stop.wait(jobs_config.relay_interval_seconds)


def _run_embedded(jobs_config: JobsConfig, models_config: ModelsConfig, burst: bool) -> None:
    """Without Redis: deliver due messages in this process, every relay interval."""
    runtime.configure(jobs_config, models_config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log.info("no REDIS_URL: delivering the outbox in-process every %ss", jobs_config.relay_interval_seconds)
    try:
        while True:
            deliver_due_inline(jobs_config, models_config)
            if burst or stop.wait(jobs_config.relay_interval_seconds):
                return
    except KeyboardInterrupt:
        return


def run_worker(burst: bool = False, *, jobs_config: JobsConfig | None = None,
               models_config: ModelsConfig | None = None) -> None:
    """Run the worker: RQ worker with scheduler on the delivery queue, and the outbox relay beside it.

    ``burst``: relay once, run the queued jobs, then return. Refuses to start in production without
    REDIS_URL; elsewhere, without REDIS_URL, it delivers the outbox in-process instead.
    """
    jobs_config = jobs_config or JobsConfig.from_env()
    models_config = models_config or ModelsConfig.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    problems = models_config.problems() + jobs_config.problems(models_config.is_production)
    if problems:
        sys.exit("mese worker refuses to start with MESE_ENV=production:\n"
                 + "\n".join(f"  - {p}" for p in problems))
    if jobs_config.embedded:
        _run_embedded(jobs_config, models_config, burst)
        return
    _preload(jobs_config, models_config)
    connection = Redis.from_url(jobs_config.redis_url)
    worker = Worker([delivery_queue(jobs_config, connection)], connection=connection, serializer=JSONSerializer)
    first = relay_once(jobs_config, models_config)
    if first.error:
        log.warning("outbox relay could not reach Redis: %s", first.error)
    if burst:
        worker.work(burst=True, with_scheduler=True)
        return
    relay = multiprocessing.get_context("fork").Process(
        target=relay_loop, args=(jobs_config, models_config, os.getpid()), name="mese-outbox-relay", daemon=True)
    relay.start()
    try:
        worker.work(with_scheduler=True)
    finally:
        relay.terminate()
        relay.join(10)
