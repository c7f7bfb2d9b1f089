"""What deliveries leave in Redis: each worker's heartbeat naming the message it sends, and the channel's answer.

Every process that delivers publishes, every ``HEARTBEAT_SECONDS`` from a thread of its own, a key
that lives ``LEASE_SECONDS`` and names the message it is sending. When a worker dies (SIGKILL, host
crash) its key lapses, and the relay knows that a message still "sending" was interrupted. The
channel's answer (the receipt) is written here as soon as the channel gives it, before the database
records it: if the database cannot be written then, the relay records the message as sent once the
database is back. Per message this costs one Redis write; the heartbeat and the clean-up of receipts
already recorded go in one pipelined write every few seconds. Writes are best effort: a Redis
outage must not stop a delivery that the database can still record.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

log = logging.getLogger(__name__)
#: A worker not heard from for this long is gone; a send younger than this is never judged.
LEASE_SECONDS = 10
HEARTBEAT_SECONDS = 2
#: How long the channel's answer is kept, in case the database stays down that long.
RECEIPT_TTL_SECONDS = 7 * 86400


def tracking_connection(redis_url: str) -> Redis:
    """A Redis client that fails fast: a delivery never waits on Redis for more than a couple of seconds."""
    return Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=2, retry=Retry(NoBackoff(), 0))


def worker_name() -> str:
    """``host:pid`` of this process, as written on attempts and heartbeats."""
    return f"{socket.gethostname()}:{os.getpid()}"


class DeliveryTracker:
    """Heartbeats and receipts of the deliveries of one queue, in one Redis database."""

    def __init__(self, connection: Redis, namespace: str, worker: str = ""):
        self.connection = connection
        self.namespace = namespace
        self.worker = worker
        self.registry_key = f"{namespace}:outbox:workers"
        self._current: int | None = None
        self._recorded: list[str] = []
        self._lock = threading.Lock()
        self._heart: threading.Thread | None = None
        self._silent = False

    def heartbeat_key(self, worker: str) -> str:
        return f"{self.namespace}:outbox:worker:{worker}"

    def receipt_key(self, message_id: int, attempt: int) -> str:
        return f"{self.namespace}:outbox:receipt:{message_id}:{attempt}"

    # -- the worker's side ------------------------------------------------------------------
    @contextmanager
    def delivering(self, message_id: int) -> Iterator[None]:
        """Name ``message_id`` in this worker's heartbeat while the block runs."""
        with self._lock:
            self._current = message_id
        if self._heart is None or not self._heart.is_alive():
            self._beat()  # the first heartbeat of this process is written at once
            self._heart = threading.Thread(target=self._beat_forever, name="outbox-heartbeat", daemon=True)
            self._heart.start()
        try:
            yield
        finally:
            with self._lock:
                self._current = None

    def keep_receipt(self, message_id: int, attempt: int, receipt: str) -> None:
        """Keep the channel's answer where a database outage cannot lose it (best effort)."""
        try:
            self.connection.set(self.receipt_key(message_id, attempt), receipt, ex=RECEIPT_TTL_SECONDS)
        except RedisError as exc:
            log.warning("could not keep the receipt of outbox message %s in Redis: %s", message_id, exc)

    def forget_receipt(self, message_id: int, attempt: int) -> None:
        """The database has recorded the outcome: drop the copy with the next heartbeat."""
        with self._lock:
            self._recorded.append(self.receipt_key(message_id, attempt))

    def _beat_forever(self) -> None:
        pause = threading.Event()
        while True:
            pause.wait(HEARTBEAT_SECONDS)
            self._beat()

    def _beat(self) -> None:
        with self._lock:
            current, recorded, self._recorded = self._current, self._recorded, []
        try:
            with self.connection.pipeline(transaction=False) as pipe:
                # SET, not EXPIRE: after Redis lost its data the heartbeat is back within seconds.
                pipe.set(self.heartbeat_key(self.worker), "" if current is None else str(current), ex=LEASE_SECONDS)
                pipe.sadd(self.registry_key, self.worker)
                if recorded:
                    pipe.delete(*recorded)
                pipe.execute()
        except RedisError as exc:
            if not self._silent:  # once per outage, not every few seconds
                log.warning("outbox heartbeat not written to Redis: %s", exc)
                self._silent = True
            with self._lock:
                self._recorded[:0] = recorded
        else:
            if self._silent:
                log.info("outbox heartbeat written to Redis again")
                self._silent = False

    # -- the relay's side -------------------------------------------------------------------
    def in_flight(self) -> set[int]:
        """The messages that live workers are sending now (raises RedisError); forgets workers gone."""
        workers = [w.decode() for w in self.connection.smembers(self.registry_key)]
        if not workers:
            return set()
        values = self.connection.mget([self.heartbeat_key(w) for w in workers])
        gone = [w for w, value in zip(workers, values, strict=True) if value is None]
        if gone:
            self.connection.srem(self.registry_key, *gone)
        return {int(value) for value in values if value}

    def receipts(self, attempts: Iterable[tuple[int, int]]) -> dict[tuple[int, int], str]:
        """The kept receipts of ``(message_id, attempt)`` pairs that have one (raises RedisError)."""
        pairs = list(attempts)
        if not pairs:
            return {}
        values = self.connection.mget([self.receipt_key(i, n) for i, n in pairs])
        return {pair: value.decode() for pair, value in zip(pairs, values, strict=True) if value is not None}

    @property
    def relay_pass_key(self) -> str:
        return f"{self.namespace}:outbox:relay-last-pass"

    def heartbeats_are_current(self, now: float) -> bool:
        """False just after Redis lost its data (restart, flush), while live workers write their heartbeats again.

        A marker key remembers since when this Redis has held our data; a missing marker means a loss.
        The same round trip notes the time of this relay pass, for ``mese worker --check``.
        """
        key = f"{self.namespace}:outbox:tracking-since"
        with self.connection.pipeline(transaction=False) as pipe:
            pipe.set(key, str(now), nx=True)
            pipe.get(key)
            pipe.set(self.relay_pass_key, str(now), ex=3600)
            _created, since, _noted = pipe.execute()
        return now - float(since) > LEASE_SECONDS

    def last_relay_pass(self) -> float | None:
        """When a relay last passed (seconds since the epoch), or None (raises RedisError)."""
        value = self.connection.get(self.relay_pass_key)
        return float(value) if value else None
