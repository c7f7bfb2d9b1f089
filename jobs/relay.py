"""The outbox relay: hands due messages to RQ, asks RQ about the ones it handed over, settles interrupted sends.

One pass, in one transaction:
1. messages "sending" that no live worker is sending any more (jobs.tracking) are settled
   (jobs.deliver.settle_interrupted): recorded as sent from the channel's kept answer, sent again
   (e-mail, SMS) or left for staff (fax);
2. messages "enqueued" whose job RQ no longer has, or has failed, stopped or abandoned (its worker
   died before the send) are queued again at once;
3. pending messages whose time has come are queued (and, as a last resort, messages "enqueued" for
   longer than ``requeue_after_seconds``, whatever RQ says).
A pass that found a full batch anywhere says so (``busy``) and the worker runs the next one at once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry
from rq import Queue
from rq.exceptions import DuplicateJobError
from rq.job import Job, JobStatus
from rq.serializers import JSONSerializer
from rq.utils import str_to_date
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.config import ModelsConfig
from models.db import session_scope
from models.outbox.entities import OutboxMessage, OutboxStatus

from .config import JobsConfig
from .deliver import deliver_message, due_clause, settle_interrupted
from .tracking import LEASE_SECONDS, DeliveryTracker

log = logging.getLogger(__name__)
#: A job in one of these states will still run: no need to enqueue its message again.
LIVE_JOB_STATES = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}
#: An "enqueued" message is asked about once its job has had this long to reach RQ.
CHECK_AFTER_SECONDS = 2
#: How many more "enqueued" messages one pass asks RQ about than it hands over (one pipelined read each).
CHECK_FACTOR = 10


@dataclass
class RelayResult:
    """What one relay pass did."""

    enqueued: int = 0
    #: Messages whose job was lost, failed, stopped or abandoned, queued again.
    requeued: int = 0
    #: Sends cut short by a dead worker: sent again (e-mail, SMS) or dead for staff (fax).
    interrupted: int = 0
    #: Sends the channel accepted but the database could not record: recorded now from the kept receipt.
    recovered: int = 0
    #: A batch was full: there is more to do, run the next pass at once.
    busy: bool = False
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


def _enqueue(queue: Queue, message: OutboxMessage, jobs_config: JobsConfig, *, replace: bool = False) -> bool:
    """Enqueue the delivery of ``message``; False when a live job for this attempt already exists.

    ``replace``: the existing job of this attempt is known to be dead (its worker died): drop it first.
    """
    job_id = job_id_for(message)
    options = dict(job_id=job_id, unique=True, job_timeout=jobs_config.job_timeout_seconds, result_ttl=600,
                   failure_ttl=7 * 86400, description=f"deliver outbox message {message.id}")
    if replace:
        _delete_job(queue, job_id)
    try:
        queue.enqueue(deliver_message, message.id, **options)
        return True
    except DuplicateJobError:
        job = queue.fetch_job(job_id)
        if job is not None and job.get_status(refresh=False) in LIVE_JOB_STATES:
            return False
        # The job of this attempt finished or failed without settling the row (e.g. its commit failed).
        _delete_job(queue, job_id)
        queue.enqueue(deliver_message, message.id, **options)
        return True


def _delete_job(queue: Queue, job_id: str) -> None:
    job = queue.fetch_job(job_id)
    if job is not None:
        job.delete()


def relay_outbox(session: Session, jobs_config: JobsConfig, *, now: datetime | None = None,
                 queue: Queue | None = None) -> RelayResult:
    """One relay pass (see the module's docstring); the caller commits.

    Rows are locked with SKIP LOCKED, so several relays share the work and a row being delivered
    (locked by its worker) is never touched. When Redis fails, the pass stops and the remaining rows
    stay as they were: nothing is lost.
    """
    now = now or utcnow()
    queue = queue or delivery_queue(jobs_config)
    tracker = DeliveryTracker(queue.connection, jobs_config.queue_name)
    result = RelayResult()
    try:
        # Heartbeats are read only when Redis has held them long enough (not just after it lost its data).
        heartbeats = tracker.heartbeats_are_current(now.timestamp())
        _settle_interrupted_sends(session, jobs_config, tracker if heartbeats else None, now, result)
        _requeue_lost_jobs(session, jobs_config, queue, tracker if heartbeats else None, now, result)
        _hand_over_due(session, jobs_config, queue, now, result)
    except RedisError as exc:
        result.error = f"{type(exc).__name__}: {exc}"
        result.busy = False
        log.warning("outbox relay stopped, Redis unavailable: %s", result.error)
    return result


def _settle_interrupted_sends(session: Session, jobs_config: JobsConfig, tracker: DeliveryTracker | None,
                              now: datetime, result: RelayResult) -> None:
    if tracker is None:
        return
    rows = session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.status == OutboxStatus.SENDING,
               OutboxMessage.sending_at < now - timedelta(seconds=LEASE_SECONDS))
        .order_by(OutboxMessage.sending_at, OutboxMessage.id).limit(jobs_config.relay_batch_size)
        .with_for_update(skip_locked=True)
    ).all()
    if not rows:
        return
    in_flight = tracker.in_flight()
    stopped = [m for m in rows if m.id not in in_flight]
    receipts = tracker.receipts((m.id, m.attempts) for m in stopped)
    for message in stopped:
        receipt = receipts.get((message.id, message.attempts))
        settle_interrupted(session, message, jobs_config, now=now, receipt=receipt)
        if receipt is None:
            result.interrupted += 1
        else:
            result.recovered += 1
    result.busy |= len(rows) == jobs_config.relay_batch_size and bool(stopped)


def _requeue_lost_jobs(session: Session, jobs_config: JobsConfig, queue: Queue, tracker: DeliveryTracker | None,
                       now: datetime, result: RelayResult) -> None:
    limit = jobs_config.relay_batch_size * CHECK_FACTOR
    handed_over = session.execute(
        select(OutboxMessage.id, OutboxMessage.attempts)
        .where(OutboxMessage.status == OutboxStatus.ENQUEUED,
               OutboxMessage.enqueued_at < now - timedelta(seconds=CHECK_AFTER_SECONDS))
        .order_by(OutboxMessage.enqueued_at, OutboxMessage.id).limit(limit)
    ).all()
    if not handed_over:
        return
    with queue.connection.pipeline(transaction=False) as pipe:
        for message_id, attempts in handed_over:
            pipe.hmget(Job.key_for(f"outbox-{message_id}-{attempts}"), "status", "started_at")
        states = pipe.execute()
    known = tracker is not None and any(status == b"started" for status, _started_at in states)
    in_flight = tracker.in_flight() if known else set()
    lost = {m for (m, _a), (status, started_at) in zip(handed_over, states, strict=True)
            if _job_is_lost(status, started_at, in_flight=m in in_flight, heartbeats_known=known)}
    if lost:
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.id.in_(lost), OutboxMessage.status == OutboxStatus.ENQUEUED)
            .order_by(OutboxMessage.id).with_for_update(skip_locked=True)
        ).all()
        for message in rows:
            if _enqueue(queue, message, jobs_config, replace=True):
                message.enqueued_at = now
                result.requeued += 1
        if rows:
            log.info("outbox relay: %s lost, failed or abandoned jobs queued again", len(rows))
    result.busy |= len(handed_over) == limit and bool(lost)


def _job_is_lost(status: bytes | None, started_at: bytes | None, *, in_flight: bool, heartbeats_known: bool
                 ) -> bool:
    """Whether RQ will never run this job to its end: missing, finished without settling, failed, or abandoned."""
    if status is None:
        return True  # Redis lost it (restart without persistence) or it expired
    state = JobStatus(status.decode())
    if state is JobStatus.STARTED:
        if in_flight or not heartbeats_known or not started_at:
            return False
        # Started long enough ago to show in a heartbeat, yet no live worker sends it: its worker died.
        return (utcnow() - str_to_date(started_at)).total_seconds() > LEASE_SECONDS
    return state not in LIVE_JOB_STATES


def _hand_over_due(session: Session, jobs_config: JobsConfig, queue: Queue, now: datetime,
                   result: RelayResult) -> None:
    rows = session.scalars(
        select(OutboxMessage)
        .where(due_clause(now, jobs_config))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(jobs_config.relay_batch_size)
        .with_for_update(skip_locked=True)
    ).all()
    for message in rows:
        requeue = message.status is OutboxStatus.ENQUEUED
        created = _enqueue(queue, message, jobs_config)
        message.status = OutboxStatus.ENQUEUED
        message.enqueued_at = now
        if created:
            result.requeued += requeue
            result.enqueued += not requeue
    result.busy |= len(rows) == jobs_config.relay_batch_size


def relay_once(jobs_config: JobsConfig, models_config: ModelsConfig, *, now: datetime | None = None) -> RelayResult:
    """One relay pass in its own transaction (the worker's periodic call)."""
    with session_scope(models_config) as session:
        return relay_outbox(session, jobs_config, now=now)
