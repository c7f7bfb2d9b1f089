"""The outbox relay: hands due messages to RQ, once per attempt, and re-enqueues jobs Redis lost."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import JobStatus
from rq.serializers import JSONSerializer
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.config import ModelsConfig
from models.db import session_scope
from models.outbox.entities import OutboxMessage, OutboxStatus

from .config import JobsConfig
from .deliver import deliver_message, due_clause, settle_interrupted

log = logging.getLogger(__name__)
#: A job in one of these states will still run: no need to enqueue its message again.
LIVE_JOB_STATES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


@dataclass
class RelayResult:
    """What one relay pass did."""

    enqueued: int = 0
    requeued: int = 0
    #: Messages whose send was interrupted by a crash, now dead for staff to check.
    interrupted: int = 0
    error: str | None = None


@lru_cache(maxsize=8)
def relay_connection(redis_url: str) -> Redis:
    """Redis client of the relay: raw bytes (RQ), short timeouts and one retry, so a dead Redis fails fast."""
    return Redis.from_url(redis_url, socket_connect_timeout=2, socket_timeout=5, retry=Retry(NoBackoff(), 1))


def delivery_queue(jobs_config: JobsConfig, connection: Redis | None = None) -> Queue:
    """The RQ queue of deliveries; jobs are JSON (a message id), so Redis never holds personal data."""
    return Queue(jobs_config.queue_name, connection=connection or relay_connection(jobs_config.redis_url),
                 serializer=JSONSerializer)


def job_id_for(message: OutboxMessage) -> str:
    """One RQ job id per message and attempt: the same attempt is never queued twice."""
    return f"outbox-{message.id}-{message.attempts}"


def _enqueue(queue: Queue, message: OutboxMessage, jobs_config: JobsConfig) -> bool:
    """Enqueue the delivery of ``message``; False when a live job for this attempt already exists."""
    job_id = job_id_for(message)
    options = dict(job_id=job_id, unique=True, job_timeout=jobs_config.job_timeout_seconds, result_ttl=3600,
                   failure_ttl=7 * 86400, description=f"deliver outbox message {message.id}")
    try:
        queue.enqueue(deliver_message, message.id, **options)
        return True
    except DuplicateJobError:
        job = queue.fetch_job(job_id)
        if job is not None and job.get_status(refresh=False) in LIVE_JOB_STATES:
            return False
        # The job of this attempt finished or failed without settling the row (e.g. its commit failed).
        if job is not None:
            job.delete()
        queue.enqueue(deliver_message, message.id, **options)
        return True


def relay_outbox(session: Session, jobs_config: JobsConfig, *, now: datetime | None = None,
                 queue: Queue | None = None) -> RelayResult:
    """Claim due messages and enqueue ``deliver_message(id)`` for each; the caller commits.

    Claims pending messages whose time has come, and messages "enqueued" for longer than
    ``requeue_after_seconds`` (Redis restarted empty loses its jobs; delivery is idempotent, so
    enqueueing again is safe). Rows are locked with SKIP LOCKED, so several relays share the work.
    When Redis fails, the pass stops and the remaining rows stay as they were: nothing is lost.
    """
    now = now or utcnow()
    queue = queue or delivery_queue(jobs_config)
    result = RelayResult(interrupted=settle_interrupted(session, jobs_config, now=now))
    rows = session.scalars(
        select(OutboxMessage)
        .where(due_clause(now, jobs_config))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(jobs_config.relay_batch_size)
        .with_for_update(skip_locked=True)
    ).all()
    for message in rows:
        requeue = message.status is OutboxStatus.ENQUEUED
        try:
            created = _enqueue(queue, message, jobs_config)
        except RedisError as exc:
            result.error = f"{type(exc).__name__}: {exc}"
            log.warning("outbox relay stopped, Redis unavailable: %s", result.error)
            break
        message.status = OutboxStatus.ENQUEUED
        message.enqueued_at = now
        if created:
            result.requeued += requeue
            result.enqueued += not requeue
    return result


def relay_once(jobs_config: JobsConfig, models_config: ModelsConfig, *, now: datetime | None = None) -> RelayResult:
    """One relay pass in its own transaction (the worker's periodic call)."""
    with session_scope(models_config) as session:
        return relay_outbox(session, jobs_config, now=now)
