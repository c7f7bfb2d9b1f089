"""The worker process behind ``mese worker``: a small supervisor, its delivery processes and the outbox relay.

- Each delivery process runs RQ's non-forking ``SimpleWorker``: no fork per job (a fork costs more
  than a delivery), one SMTP connection kept open. It is protected by the supervisor instead: a
  delivery process that dies is started again, and the message it was sending is settled by the
  relay once no live heartbeat names it (jobs.tracking).
- The relay process relays the outbox (jobs.relay), at once again while its batches are full,
  else every ``relay_interval_seconds``.
- Every child survives the loss of Redis or PostgreSQL at any moment: it logs, waits (1 s, then
  longer, up to 5 s), reconnects and goes on. RQ's own loop quits on some Redis errors (a lost
  connection during a job, a timeout); the delivery process then builds a new RQ worker.
- The supervisor is what systemd (or any supervisor) starts: it starts the children again when one
  dies, with a growing pause if one keeps dying at once, stops them cleanly on SIGTERM, and tells
  systemd it is alive (``WATCHDOG=1``) only while the relay keeps turning. The README shows the unit.

RQ's scheduler is not started: the outbox keeps its own retry times. Extra workers may be plain
``rq worker -w rq.worker.SimpleWorker -S rq.serializers.JSONSerializer`` processes (settings from the
environment), though only ``mese worker`` restarts itself and relays.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy.orm import configure_mappers

import models  # noqa: F401  (every entity mapped before the first job)
from models.config import ModelsConfig

from . import runtime
from .channels.mail import mail_app
from .config import JobsConfig
from .deliver import deliver_due_inline
from .exports import export_queue
from .relay import delivery_queue, relay_once

log = logging.getLogger(__name__)
#: RQ's heartbeat period is about a third of this; it also bounds how long a blocked Redis read waits.
WORKER_TTL = 30
#: Longest pause between two tries to reach Redis or PostgreSQL again.
MAX_PAUSE = 5.0
#: A child that dies sooner than this after its start is started again only after a growing pause...
QUICK_DEATH = 10.0
#: ...of at most this long (a process that cannot start must not be started ten times a second).
MAX_RESTART_PAUSE = 30.0


def _preload(jobs_config: JobsConfig, models_config: ModelsConfig) -> None:
    """Do once, before the children start, what every one of them would otherwise redo."""
    runtime.configure(jobs_config, models_config)
    # Flask-Mail and psycopg have no timeout of their own everywhere; a silent peer must not hold a job.
    socket.setdefaulttimeout(max(jobs_config.mail_timeout_seconds, 30))
    configure_mappers()
    from . import pdf  # noqa: F401  (xhtml2pdf and its fonts: most of a second per import)

    if jobs_config.mail_server:
        mail_app(jobs_config)


class Backoff:
    """Pauses that double from 1 s up to ``MAX_PAUSE`` while something keeps failing."""

    def __init__(self) -> None:
        self.pause = 1.0

    def failed(self, stop: threading.Event) -> None:
        stop.wait(self.pause)
        self.pause = min(self.pause * 2, MAX_PAUSE)

    def succeeded(self) -> None:
        self.pause = 1.0


class DeliveryWorker(SimpleWorker):
    """RQ's non-forking worker, whose stop request (SIGTERM, SIGINT) also ends the reconnecting loop around it."""

    stop_event: threading.Event | None = None
    #: RQ retries a lost Redis by itself while it waits for a job; not for longer pauses than ours.
    max_connection_wait_time = MAX_PAUSE

    def request_stop(self, signum, frame):
        if self.stop_event is not None:
            self.stop_event.set()
        super().request_stop(signum, frame)


def worker_connection(redis_url: str) -> Redis:
    """The delivery worker's Redis client: it fails fast on connect, and RQ sets the read timeout from WORKER_TTL."""
    return Redis.from_url(redis_url, socket_connect_timeout=5, retry=Retry(NoBackoff(), 0))


def _delivery_queues(jobs_config: JobsConfig, connection: Redis) -> list:
    return [delivery_queue(jobs_config, connection)]


def _export_queues(jobs_config: JobsConfig, connection: Redis) -> list:
    return [export_queue(jobs_config, connection)]


def delivery_loop(jobs_config: JobsConfig, models_config: ModelsConfig, *, burst: bool = False,
                  stop: threading.Event | None = None, queues=_delivery_queues) -> None:
    """Work the delivery queue with a non-forking RQ worker; when Redis goes away, wait for it and go on."""
    stop = stop or threading.Event()
    runtime.configure(jobs_config, models_config)
    backoff = Backoff()
    while not stop.is_set():
        _on_stop_signal(stop)
        worker = None
        try:
            connection = worker_connection(jobs_config.redis_url)
            connection.ping()
            worker = DeliveryWorker(queues(jobs_config, connection), connection=connection,
                                    serializer=JSONSerializer, worker_ttl=WORKER_TTL)
            worker.stop_event = stop
            backoff.succeeded()
            worker.work(burst=burst, logging_level="WARNING", with_scheduler=False)
            if not stop.is_set() and not burst:
                log.warning("delivery worker: RQ's loop ended (Redis lost?); starting a new one")
        except RedisError as exc:
            log.warning("delivery worker: Redis unavailable (%s); trying again in %.0f s", exc, backoff.pause)
        except Exception:
            log.exception("delivery worker stopped unexpectedly; starting again in %.0f s", backoff.pause)
        finally:
            if worker is not None:
                _stop_listening(worker)
        if burst:
            return
        if not stop.is_set():
            backoff.failed(stop)
    log.info("delivery process stopped")


def export_loop(jobs_config: JobsConfig, models_config: ModelsConfig, *, burst: bool = False,
                stop: threading.Event | None = None) -> None:
    """Work the export queue (XLSX builds, minutes long) in a process of its own: no delivery waits behind one."""
    delivery_loop(jobs_config, models_config, burst=burst, stop=stop, queues=_export_queues)


def _stop_listening(worker: DeliveryWorker) -> None:
    """Stop the RQ worker's command thread: its own teardown skips it when Redis is gone, and it would linger."""
    if worker.pubsub_thread is not None:
        worker.pubsub_thread.stop()
    if worker.pubsub is not None:
        try:
            worker.pubsub.close()
        except (RedisError, OSError):
            pass


def relay_loop(jobs_config: JobsConfig, models_config: ModelsConfig, *, heartbeat=None,
               stop: threading.Event | None = None) -> None:
    """Relay the outbox: at once again while a pass found a full batch, else every ``relay_interval_seconds``.

    A pass that fails (the database away) is tried again after the interval: a failed connection
    costs nothing, and the relay is back within one interval of the database.
    """
    stop = stop or threading.Event()
    _on_stop_signal(stop)
    runtime.configure(jobs_config, models_config)
    while not stop.is_set():
        busy = False
        try:
            result = relay_once(jobs_config, models_config)
            if result.enqueued or result.requeued or result.interrupted or result.recovered:
                log.info("outbox relay: %s enqueued, %s queued again, %s interrupted sends settled, "
                         "%s sends recorded late", result.enqueued, result.requeued, result.interrupted,
                         result.recovered)
            busy = result.busy
        except Exception as exc:  # the database is away, most likely: the next pass will tell
            log.warning("outbox relay pass failed (%s); trying again in %s s", str(exc).splitlines()[0],
                        jobs_config.relay_interval_seconds)
        if heartbeat is not None:
            heartbeat.value = time.time()
        if not busy:
            stop.wait(jobs_config.relay_interval_seconds)
    log.info("outbox relay stopped")


def _on_stop_signal(stop: threading.Event) -> None:
    """SIGTERM and SIGINT end the loop of this process after the current step."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())


def _child_main(target, jobs_config: JobsConfig, models_config: ModelsConfig, kwargs: dict) -> None:
    """Entry point of a child: die with the supervisor, then run ``target`` until stopped."""
    _die_with_parent()
    target(jobs_config, models_config, **kwargs)


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this process when its supervisor dies (host crash aside)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class Child:
    """One supervised process: what it runs, its process, when it started, how long to wait after a quick death."""

    name: str
    target: object
    kwargs: dict = field(default_factory=dict)
    process: multiprocessing.process.BaseProcess | None = None
    started: float = 0.0
    pause: float = 0.0
    restart_at: float = 0.0


class Supervisor:
    """Starts the relay and the delivery processes, starts again any that dies, stops them on SIGTERM."""

    def __init__(self, jobs_config: JobsConfig, models_config: ModelsConfig):
        self.jobs_config = jobs_config
        self.models_config = models_config
        self.context = multiprocessing.get_context("fork")
        self.relay_heartbeat = self.context.Value("d", time.time())
        self.children = [Child("relay", relay_loop, {"heartbeat": self.relay_heartbeat})] + [
            Child(f"delivery-{n + 1}", delivery_loop) for n in range(jobs_config.worker_processes)] + [
            Child("exports", export_loop)]
        self.stop = threading.Event()

    def run(self) -> None:
        """Supervise until SIGTERM or SIGINT, then stop the children (each finishes its current job)."""
        signal.signal(signal.SIGTERM, lambda *_: self.stop.set())
        signal.signal(signal.SIGINT, lambda *_: self.stop.set())
        for child in self.children:
            self._start(child)
        notify("READY=1")
        log.info("mese worker: %s delivery process(es) and the outbox relay started",
                 self.jobs_config.worker_processes)
        while not self.stop.wait(1.0):
            now = time.monotonic()
            for child in self.children:
                if child.process is not None and not child.process.is_alive():
                    child.process.join()
                    quick = now - child.started < QUICK_DEATH
                    child.pause = min(max(child.pause * 2, 1.0), MAX_RESTART_PAUSE) if quick else 0.0
                    child.restart_at = now + child.pause
                    log.warning("mese worker: %s process ended (exit code %s); starting it again in %.0f s",
                                child.name, child.process.exitcode, child.pause)
                    child.process = None
                if child.process is None and now >= child.restart_at:
                    self._start(child)
            if self.healthy():
                notify("WATCHDOG=1")
        self._stop_children()

    def healthy(self) -> bool:
        """Every child runs and the relay turned recently (a pass, or a failed try to reach a server)."""
        relay_age = time.time() - self.relay_heartbeat.value
        limit = 3 * self.jobs_config.relay_interval_seconds + 60
        return all(c.process is not None and c.process.is_alive() for c in self.children) and relay_age < limit

    def _start(self, child: Child) -> None:
        child.process = self.context.Process(
            target=_child_main, args=(child.target, self.jobs_config, self.models_config, child.kwargs),
            name=f"mese-worker-{child.name}", daemon=False)
        child.process.start()
        child.started = time.monotonic()

    def _stop_children(self) -> None:
        notify("STOPPING=1")
        log.info("mese worker: stopping; each delivery process finishes its current message first")
        for child in self.children:
            if child.process is not None and child.process.is_alive():
                os.kill(child.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.jobs_config.job_timeout_seconds + 10
        for child in self.children:
            if child.process is not None:
                child.process.join(max(0.0, deadline - time.monotonic()))
                if child.process.is_alive():
                    log.warning("mese worker: %s process still running; killed", child.name)
                    child.process.kill()
                    child.process.join()
        log.info("mese worker: stopped")


def notify(state: str) -> None:
    """Tell systemd (``Type=notify`` units) about this process's state; nothing happens elsewhere."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("could not notify systemd: %s", exc)


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


def check_health(jobs_config: JobsConfig | None = None, models_config: ModelsConfig | None = None
                 ) -> tuple[bool, dict[str, str]]:
    """What ``mese worker --check`` reports: the database and Redis answer, and a relay passed lately.

    For a supervisor's or a monitor's probe; nothing personal is read. ``(healthy, checks)``.
    """
    import time as clock

    from sqlalchemy import text

    from models.db import get_engine

    from .tracking import DeliveryTracker, tracking_connection

    jobs_config = jobs_config or JobsConfig.from_env()
    models_config = models_config or ModelsConfig.from_env()
    checks: dict[str, str] = {}
    try:
        with get_engine(models_config).connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # the reason is shown to the operator, who runs the command
        checks["database"] = f"unavailable ({type(exc).__name__})"
    if jobs_config.embedded:
        checks["redis"] = "not configured (embedded mode)"
        return checks["database"] == "ok", checks
    try:
        tracker = DeliveryTracker(tracking_connection(jobs_config.redis_url), jobs_config.queue_name)
        last = tracker.last_relay_pass()
        checks["redis"] = "ok"
        age = None if last is None else clock.time() - last
        limit = 3 * jobs_config.relay_interval_seconds + 60
        checks["relay"] = "no pass yet" if age is None else f"last pass {age:.0f} s ago" + (
            "" if age < limit else f" (more than {limit} s)")
        relay_ok = age is not None and age < limit
    except RedisError as exc:
        checks["redis"] = f"unavailable ({type(exc).__name__})"
        relay_ok = False
    return checks["database"] == "ok" and checks["redis"] == "ok" and relay_ok, checks


def run_worker(burst: bool = False, *, jobs_config: JobsConfig | None = None,
               models_config: ModelsConfig | None = None) -> None:
    """Run the worker: supervised delivery processes and the outbox relay, until SIGTERM.

    ``burst``: relay until nothing is left to hand over, deliver what is queued, then return (in this
    process). Refuses to start in production without REDIS_URL; elsewhere, without REDIS_URL, it
    delivers the outbox in-process instead.
    """
    jobs_config = jobs_config or JobsConfig.from_env()
    models_config = models_config or ModelsConfig.from_env()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s")
    problems = models_config.problems() + jobs_config.problems(models_config.is_production)
    if problems:
        sys.exit("mese worker refuses to start with MESE_ENV=production:\n"
                 + "\n".join(f"  - {p}" for p in problems))
    if jobs_config.embedded:
        _run_embedded(jobs_config, models_config, burst)
        return
    _preload(jobs_config, models_config)
    if burst:
        while True:
            result = relay_once(jobs_config, models_config)
            if result.error:
                log.warning("outbox relay could not reach Redis: %s", result.error)
            if not result.busy:
                break
        delivery_loop(jobs_config, models_config, burst=True)
        export_loop(jobs_config, models_config, burst=True)
        return
    Supervisor(jobs_config, models_config).run()
