"""Delivery of one outbox message: idempotent, counted, retried with backoff, dead after the last attempt.

Every attempt is a row of its own (``OutboxAttempt``): when it began, which worker process made it,
how it ended. The "sending" state is committed before the channel is called, while the worker's
heartbeat in Redis names the message (jobs.tracking); when the outcome cannot be written, the
channel's answer is kept in Redis. So a worker that dies during a send, or a database that drops
between the send and the commit, leaves enough behind for the relay to settle the message without
a person: sent when the answer was kept, sent again when it is an e-mail or SMS (same Message-ID),
left for staff when it is a fax.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import datetime, timedelta

from sqlalchemy import Connection, Row, and_, bindparam, case, insert, literal, or_, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session

from models.audit.operations import record
from models.base import utcnow
from models.config import ModelsConfig
from models.contracts.cover import cover_document_for_spec
from models.db import session_scope
from models.files.entities import StoredFile
from models.files.storage import read_bytes, store_bytes
from models.outbox.entities import AttemptOutcome, Channel, OutboxAttempt, OutboxMessage, OutboxStatus
from models.requests.entities import HospitalCoverageRequest

from . import runtime
from .channels import Attachment, DeliveryError, PermanentDeliveryError, sender_for
from .config import JobsConfig
from .tracking import DeliveryTracker, worker_name

log = logging.getLogger(__name__)
FINISHED = (OutboxStatus.SENT, OutboxStatus.DEAD)
_inline_lock = threading.Lock()
#: What a database that is down or unreachable raises (a bug raises something else, and is not retried).
DATABASE_AWAY = (OperationalError, InterfaceError, PoolTimeout)
#: How long a delivery keeps trying to record its outcome while the database is away (then the relay does).
OUTCOME_RETRY_SECONDS = 60

INTERRUPTED_ERROR = ("Envoi interrompu (arrêt du processus pendant l'envoi) : le message est peut-être parti. "
                     "Vérifiez auprès du destinataire avant de le renvoyer depuis la console des envois.")
INTERRUPTED_RESENT = ("Envoi interrompu (arrêt du processus pendant l'envoi) : le message est peut-être parti ; "
                      "il est renvoyé avec le même identifiant (Message-ID), que le serveur destinataire peut "
                      "utiliser pour écarter un doublon.")
INTERRUPTED_DEAD = ("Envoi interrompu (arrêt du processus pendant l'envoi) : le message est peut-être parti, "
                    "et plus aucune tentative ne reste.")
RECORDED_LATE = ("Envoyé : le canal l'a accepté, mais la base de données était indisponible ; "
                 "l'envoi a été enregistré après son retour.")
MASKED_BODY = "(contenu masqué après l'envoi : il contenait un code ou un lien personnel)"

# The writes of the hot path, built once, in Core on the tables (no ORM unit of work per message). On
# PostgreSQL each is one statement in autocommit: a single round trip, where a transaction costs four.
_messages, _attempts = OutboxMessage.__table__, OutboxAttempt.__table__
_CLAIM = (
    update(_messages)
    .where(_messages.c.id == bindparam("b_message_id"), or_(
        _messages.c.status == OutboxStatus.ENQUEUED,
        and_(_messages.c.status == OutboxStatus.PENDING, _messages.c.next_attempt_at <= bindparam("b_now"))))
    .values(status=OutboxStatus.SENDING, sending_at=bindparam("b_now"), attempts=_messages.c.attempts + 1)
    .returning(*(_messages.c[name] for name in (
        "id", "channel", "recipient", "subject", "text_body", "html_body", "attachments", "template", "member_id",
        "related", "secret", "attempts")))
)
_START_ATTEMPT = insert(_attempts).values(
    message_id=bindparam("b_message_id"), number=bindparam("b_number"), started_at=bindparam("b_now"),
    worker=bindparam("b_worker"), outcome=AttemptOutcome.IN_PROGRESS)
_claimed = _CLAIM.cte("claimed")
_CLAIM_WITH_ATTEMPT = select(_claimed).add_cte(insert(_attempts).from_select(
    ["message_id", "number", "started_at", "worker", "outcome"],
    select(_claimed.c.id, _claimed.c.attempts, bindparam("b_now", type_=_attempts.c.started_at.type),
           bindparam("b_worker"), literal(AttemptOutcome.IN_PROGRESS.value))).cte("started"))
# Also when the relay has meanwhile settled the message as interrupted (no heartbeat named it) and no newer
# attempt has begun: it did leave, so it must not be sent again.
_SENT = (
    update(_messages)
    .where(_messages.c.id == bindparam("b_message_id"), _messages.c.attempts == bindparam("b_number"),
           _messages.c.status.in_([OutboxStatus.SENDING, OutboxStatus.PENDING, OutboxStatus.ENQUEUED,
                                   OutboxStatus.DEAD]))
    .values(status=OutboxStatus.SENT, sent_at=bindparam("b_now"), receipt=bindparam("b_receipt"), last_error=None,
            text_body=case((_messages.c.secret, MASKED_BODY), else_=_messages.c.text_body),
            html_body=case((_messages.c.secret, None), else_=_messages.c.html_body))
)
_ATTEMPT_SENT = (
    update(_attempts)
    .where(_attempts.c.message_id == bindparam("b_message_id"), _attempts.c.number == bindparam("b_number"))
    .values(outcome=AttemptOutcome.SENT, ended_at=bindparam("b_now"), receipt=bindparam("b_receipt"), detail=None)
)
_SENT_WITH_ATTEMPT = _ATTEMPT_SENT.add_cte(_SENT.returning(_messages.c.id).cte("sent"))


def _write(connection: Connection, params: dict, one_statement, first, then) -> Row | None:
    """Run ``first`` then ``then`` atomically (as ``one_statement`` on PostgreSQL); ``first``'s row, if any.

    ``then`` runs only when ``first`` matched a row. On PostgreSQL ``connection`` is in autocommit.
    """
    if connection.dialect.name == "postgresql":
        result = connection.execute(one_statement, params)
        return result.first() if result.returns_rows else None
    with connection.begin():
        result = connection.execute(first, params)
        row = result.first() if result.returns_rows else None
        if row is not None:  # the claim: its attempt takes the number the claim just gave
            connection.execute(then, {**params, "b_number": row.attempts})
        elif not result.returns_rows:
            connection.execute(then, params)
        return row


_hot_connections: dict[tuple[int, int, int], Connection] = {}


def _run_hot(bind, work: Callable[[Connection], Row | None]) -> Row | None:
    """Run ``work`` on this thread's connection for delivery writes, in autocommit on PostgreSQL.

    The connection stays open from one message to the next: no pool check-out nor ping per message.
    One that fails is dropped, and the next call opens a fresh one (pinged by the pool).
    """
    if bind.dialect.name != "postgresql":
        with bind.connect() as connection:
            return work(connection)
    key = (id(bind), os.getpid(), threading.get_ident())
    connection = _hot_connections.get(key)
    if connection is None or connection.closed or connection.invalidated:
        connection = _hot_connections[key] = bind.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        return work(connection)
    except DATABASE_AWAY:
        _hot_connections.pop(key, None)
        connection.invalidate()
        raise


def deliver_message(message_id: int) -> str:
    """RQ job: deliver outbox message ``message_id``, named in this worker's heartbeat; returns the resulting status.

    Safe to run twice or late: a message already sent, dead, being sent or not yet due is left alone.
    """
    jobs_config, models_config = runtime.current()
    tracker = runtime.tracker(jobs_config)
    with tracker.delivering(message_id) if tracker else nullcontext():
        with session_scope(models_config) as session:
            status = deliver(session, message_id, jobs_config, tracker=tracker)
    return status.value if status else "missing"


def deliver(session: Session, message_id: int, jobs_config: JobsConfig, *, now: datetime | None = None,
            tracker: DeliveryTracker | None = None) -> OutboxStatus | None:
    """Make one delivery attempt of ``message_id`` if it still needs one; commits.

    The message is claimed by one conditional UPDATE (a second delivery of the same message waits for
    the first to commit, then claims nothing), committed as "sending" with its attempt, then sent.
    When the outcome cannot be written, the channel's answer is kept in Redis before trying again.
    """
    now = now or utcnow()
    bind = session.get_bind()
    claim = {"b_message_id": message_id, "b_now": now, "b_worker": tracker.worker if tracker else worker_name()}
    try:
        row = _run_hot(bind, lambda c: _write(c, claim, _CLAIM_WITH_ATTEMPT, _CLAIM, _START_ATTEMPT))
    except DATABASE_AWAY:  # a kept connection that the database closed meanwhile: once more, on a fresh one
        row = _run_hot(bind, lambda c: _write(c, claim, _CLAIM_WITH_ATTEMPT, _CLAIM, _START_ATTEMPT))
    if row is None:
        status = session.scalar(select(OutboxMessage.status).where(OutboxMessage.id == message_id))
        if status is None:
            log.warning("outbox message %s does not exist", message_id)
        session.rollback()
        return status
    message = OutboxMessage(**row._asdict())  # a detached copy for the channel; the row is written by UPDATEs
    number = message.attempts
    try:
        attachments = load_attachments(session, message)
        receipt = sender_for(message.channel, jobs_config).send(message, attachments)
    except Exception as exc:  # any failure, even a bug, is recorded and retried, never lost silently
        log.warning("outbox message %s attempt %s failed: %s", message_id, number, exc)
        return _commit_outcome(session, message_id, number, lambda s: _record_failed_attempt(
            s, message_id, number, exc, jobs_config))
    sent = {"b_message_id": message_id, "b_number": number, "b_now": utcnow(), "b_receipt": receipt[:255]}
    kept = []

    def keep_receipt() -> None:
        if tracker is not None:
            tracker.keep_receipt(message_id, number, receipt)
            kept.append(True)

    status = _commit_outcome(session, message_id, number, lambda _s: _run_hot(
        bind, lambda c: _write(c, sent, _SENT_WITH_ATTEMPT, _SENT, _ATTEMPT_SENT)) or OutboxStatus.SENT,
        on_database_away=keep_receipt)
    if kept:
        tracker.forget_receipt(message_id, number)
    log.info("outbox message %s sent (%s)", message_id, receipt)
    return status


def _record_failed_attempt(session: Session, message_id: int, number: int, exc: Exception,
                           jobs_config: JobsConfig) -> OutboxStatus | None:
    message = session.get(OutboxMessage, message_id, with_for_update=True, populate_existing=True)
    if message is None or message.status is not OutboxStatus.SENDING or message.attempts != number:
        return message.status if message else None  # settled meanwhile by the relay
    record_failure(session, message, exc, jobs_config, now=utcnow(), attempt=attempt_of(session, message_id, number))
    return message.status


def _commit_outcome(session: Session, message_id: int, number: int, write: Callable[[Session], OutboxStatus | None],
                    *, on_database_away: Callable[[], None] | None = None) -> OutboxStatus | None:
    """Write the outcome of an attempt and commit; while the database is away, try again for a while.

    ``on_database_away`` runs at the first failure (to keep the channel's answer in Redis). Gives up
    after ``OUTCOME_RETRY_SECONDS`` (raising): the relay then settles the message from the lapsed
    heartbeat and the kept receipt.
    """
    try:
        status = write(session)
        session.commit()
        return status
    except DATABASE_AWAY as exc:
        log.warning("outbox message %s: outcome of attempt %s not recorded (%s); trying again",
                    message_id, number, str(exc).splitlines()[0])
        session.rollback()
    if on_database_away is not None:
        on_database_away()
    bind = session.get_bind()
    deadline = time.monotonic() + OUTCOME_RETRY_SECONDS
    pause = 0.5
    while True:
        time.sleep(pause)
        try:
            with Session(bind=bind, expire_on_commit=False) as retry:
                status = write(retry)
                retry.commit()
                log.info("outbox message %s: outcome of attempt %s recorded", message_id, number)
                return status
        except DATABASE_AWAY as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("outbox message %s: database still unavailable (%s)", message_id,
                        str(exc).splitlines()[0])
            pause = min(pause * 2, 5)


def mark_sent(message: OutboxMessage, current: OutboxAttempt | None, receipt: str, *, now: datetime,
              detail: str | None = None) -> None:
    """The channel accepted the message: sent, with its receipt, masked if secret."""
    message.status = OutboxStatus.SENT
    message.sent_at = now
    message.receipt = receipt[:255]
    message.last_error = None
    mask_secret(message)
    if current is not None:
        current.outcome = AttemptOutcome.SENT
        current.ended_at = now
        current.receipt = receipt[:255]
        current.detail = detail


def settle_interrupted(session: Session, message: OutboxMessage, jobs_config: JobsConfig, *, now: datetime,
                       receipt: str | None = None) -> None:
    """Settle a message whose worker stopped during the send (no live heartbeat names it); the caller commits.

    With the channel's kept answer, it is sent. Otherwise an e-mail or SMS is sent again (the same
    Message-ID lets a receiving server drop a copy), while a fax, which must never go twice, is dead
    with what is known of its fate, for staff to decide.
    """
    current = attempt_of(session, message.id, message.attempts)
    if receipt is not None:
        mark_sent(message, current, receipt, now=now, detail=RECORDED_LATE)
        log.info("outbox message %s recorded as sent from its kept receipt", message.id)
        return
    if current is not None:
        current.outcome = AttemptOutcome.INTERRUPTED
        current.ended_at = now
    if message.channel is Channel.FAX:
        message.last_error = INTERRUPTED_ERROR
        mark_dead(session, message, now=now)
    elif message.attempts > len(jobs_config.retry_delays_seconds):
        message.last_error = INTERRUPTED_DEAD
        mark_dead(session, message, now=now)
    else:
        message.last_error = INTERRUPTED_RESENT
        message.status = OutboxStatus.PENDING
        message.next_attempt_at = now
        message.enqueued_at = None
    if current is not None:
        current.detail = message.last_error
    log.warning("outbox message %s: send interrupted, now %s", message.id, message.status.value)


def settle_stale_sending(session: Session, jobs_config: JobsConfig, *, now: datetime) -> int:
    """Embedded mode (no heartbeats): settle the messages "sending" for longer than ``requeue_after_seconds``."""
    stale = now - timedelta(seconds=jobs_config.requeue_after_seconds)
    rows = session.scalars(select(OutboxMessage).where(
        OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.sending_at < stale
    ).with_for_update(skip_locked=True)).all()
    for message in rows:
        settle_interrupted(session, message, jobs_config, now=now)
    return len(rows)


def attempt_of(session: Session, message_id: int, number: int) -> OutboxAttempt | None:
    """Attempt number ``number`` of a message, if it was recorded."""
    return session.scalar(select(OutboxAttempt).where(OutboxAttempt.message_id == message_id,
                                                      OutboxAttempt.number == number))


def mark_dead(session: Session, message: OutboxMessage, *, now: datetime) -> None:
    """No more attempts: the message is dead, masked if secret, and an audit event tells staff."""
    message.status = OutboxStatus.DEAD
    message.enqueued_at = None
    mask_secret(message)
    record(session, "outbox.dead", actor_type="system", subject=message, member_id=message.member_id, now=now,
           channel=message.channel.value, template=message.template, related=message.related,
           attempts=message.attempts)


def mask_secret(message: OutboxMessage) -> None:
    """Drop the body of a secret message (a code, a personal link) once it needs no further sending."""
    if message.secret:
        message.text_body = MASKED_BODY
        message.html_body = None


def retry_delay(attempts: int, jobs_config: JobsConfig, retry_after: int | None = None) -> timedelta | None:
    """Time to wait after failed attempt number ``attempts`` (from 1), or None when no attempt is left."""
    delays = jobs_config.retry_delays_seconds
    if attempts > len(delays):
        return None
    seconds = delays[attempts - 1] * random.uniform(1.0, 1.1)  # jitter: retries of a burst spread out
    return timedelta(seconds=max(seconds, retry_after or 0))


def record_failure(session: Session, message: OutboxMessage, exc: Exception, jobs_config: JobsConfig, *,
                   now: datetime, attempt: OutboxAttempt | None = None) -> None:
    """Record a failed attempt: back to pending at the next backoff step, or dead (and audited for staff)."""
    message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    if attempt is not None:
        attempt.outcome = AttemptOutcome.FAILED
        attempt.ended_at = now
        attempt.detail = message.last_error
    delay = None
    if not isinstance(exc, PermanentDeliveryError):
        retry_after = exc.retry_after if isinstance(exc, DeliveryError) else None
        delay = retry_delay(message.attempts, jobs_config, retry_after)
    if delay is None:
        mark_dead(session, message, now=now)
    else:
        message.status = OutboxStatus.PENDING
        message.next_attempt_at = now + delay
    message.enqueued_at = None


def load_attachments(session: Session, message: OutboxMessage) -> list[Attachment]:
    """The documents of ``message``: stored files read back, rendered documents rendered (once) and stored."""
    result = []
    for spec in message.attachments or []:
        if "file_id" in spec:
            stored = session.get(StoredFile, spec["file_id"])
            if stored is None:
                raise PermanentDeliveryError(f"attachment file {spec['file_id']} does not exist")
            result.append(Attachment(spec.get("filename") or stored.filename, stored.content_type, read_bytes(stored)))
        elif spec.get("render") == "coverage_letter":
            result.append(coverage_letter_attachment(session, spec))
        elif spec.get("render") == "cover_document":
            result.append(cover_document_attachment(session, spec))
        else:
            raise PermanentDeliveryError(f"unknown attachment {spec!r}")
    return result


def coverage_letter_attachment(session: Session, spec: dict) -> Attachment:
    """The coverage letter PDF of a request, rendered on first use and kept as the request's stored file.

    The fax and the e-mail of one request, and every retry, then send the very same letter.
    """
    from .pdf import (
        render_coverage_letter,  # xhtml2pdf takes most of a second to import
    )

    request = session.get(HospitalCoverageRequest, spec["request_id"], with_for_update=True)
    if request is None:
        raise PermanentDeliveryError(f"hospital coverage request {spec['request_id']} does not exist")
    filename = spec.get("filename") or f"prise-en-charge-{request.reference}.pdf"
    stored = session.get(StoredFile, request.letter_file_id) if request.letter_file_id else None
    if stored is None:
        data = render_coverage_letter(session, request.id)
        stored = store_bytes(session, data, filename=filename, content_type="application/pdf")
        session.flush()
        request.letter_file_id = stored.id
        return Attachment(filename, "application/pdf", data)
    return Attachment(filename, "application/pdf", read_bytes(stored))


def cover_document_attachment(session: Session, spec: dict) -> Attachment:
    """The card or certificate a member sent by e-mail, rendered as it stood on the day it was sent."""
    from .pdf import render_cover_document  # xhtml2pdf takes most of a second to import

    try:
        context, filename = cover_document_for_spec(session, spec)
    except LookupError as exc:
        raise PermanentDeliveryError(str(exc)) from exc
    return Attachment(filename, "application/pdf", render_cover_document(context))


def due_clause(now: datetime, jobs_config: JobsConfig):
    """Messages to hand over now: pending and due, or "enqueued" so long ago that their job may be lost."""
    stale = now - timedelta(seconds=jobs_config.requeue_after_seconds)
    return or_(
        (OutboxMessage.status == OutboxStatus.PENDING) & (OutboxMessage.next_attempt_at <= now),
        (OutboxMessage.status == OutboxStatus.ENQUEUED)
        & or_(OutboxMessage.enqueued_at.is_(None), OutboxMessage.enqueued_at < stale),
    )


def deliver_due_inline(jobs_config: JobsConfig, models_config: ModelsConfig, *, now: datetime | None = None) -> int:
    """Embedded mode: deliver every due message in this process, without Redis; returns how many were tried.

    Each message is first claimed by a conditional UPDATE in its own transaction, so two processes
    sharing the database (web and ``mese worker``) never deliver the same message twice.
    """
    now = now or utcnow()
    tried = 0
    with _inline_lock:
        with session_scope(models_config) as session:
            settle_stale_sending(session, jobs_config, now=now)
            ids = list(session.scalars(
                select(OutboxMessage.id).where(due_clause(now, jobs_config))
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id).limit(jobs_config.relay_batch_size)
            ))
        for message_id in ids:
            with session_scope(models_config) as session:
                claimed = session.execute(
                    update(OutboxMessage).where(OutboxMessage.id == message_id, due_clause(now, jobs_config))
                    .values(status=OutboxStatus.ENQUEUED, enqueued_at=now)
                    .execution_options(synchronize_session=False)
                ).rowcount
            if not claimed:
                continue
            try:
                with session_scope(models_config) as session:
                    deliver(session, message_id, jobs_config, now=now)
                tried += 1
            except Exception:
                # The row stays "enqueued" and is claimed again once requeue_after_seconds have passed.
                log.exception("inline delivery of outbox message %s failed", message_id)
    return tried
