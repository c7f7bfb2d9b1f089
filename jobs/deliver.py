"""Delivery of one outbox message: idempotent, counted, retried with backoff, dead after the last attempt."""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from models.audit.operations import record
from models.base import utcnow
from models.config import ModelsConfig
from models.db import session_scope
from models.files.entities import StoredFile
from models.files.storage import read_bytes, store_bytes
from models.outbox.entities import OutboxMessage, OutboxStatus
from models.requests.entities import HospitalCoverageRequest

from . import runtime
from .channels import Attachment, DeliveryError, PermanentDeliveryError, sender_for
from .config import JobsConfig

log = logging.getLogger(__name__)
FINISHED = (OutboxStatus.SENT, OutboxStatus.DEAD)
_inline_lock = threading.Lock()


def deliver_message(message_id: int) -> str:
    """RQ job: deliver outbox message ``message_id`` in its own transaction; returns the resulting status.

    Safe to run twice or late: a message already sent, dead or not yet due is left alone.
    """
    jobs_config, models_config = runtime.current()
    with session_scope(models_config) as session:
        status = deliver(session, message_id, jobs_config)
    return status.value if status else "missing"


def deliver(session: Session, message_id: int, jobs_config: JobsConfig, *, now: datetime | None = None
            ) -> OutboxStatus | None:
    """Lock the message's row and make one delivery attempt if it still needs one.

    The "sending" state is committed here before the send; the caller commits the outcome.

    The row lock makes concurrent deliveries of the same message wait for each other, so the second
    one sees "sent" and sends nothing.
    """
    now = now or utcnow()
    message = session.get(OutboxMessage, message_id, with_for_update=True, populate_existing=True)
    if message is None:
        log.warning("outbox message %s does not exist", message_id)
        return None
    if message.status in FINISHED or message.status is OutboxStatus.SENDING:
        return message.status
    if message.status is OutboxStatus.PENDING and message.next_attempt_at > now:
        return message.status
    # Committed before the channel is called: if this process dies during the send, the row says so
    # and is settled by staff (settle_interrupted) instead of being sent a second time.
    message.status = OutboxStatus.SENDING
    message.sending_at = now
    message.attempts += 1
    session.commit()
    message = session.get(OutboxMessage, message_id, with_for_update=True, populate_existing=True)
    attempt(session, message, jobs_config, now=now)
    return message.status


INTERRUPTED_ERROR = ("Envoi interrompu (arrêt du processus pendant l'envoi) : le message est peut-être parti. "
                     "Vérifiez auprès du destinataire avant de le renvoyer depuis la console des envois.")
MASKED_BODY = "(contenu masqué après l'envoi : il contenait un code ou un lien personnel)"


def settle_interrupted(session: Session, jobs_config: JobsConfig, *, now: datetime) -> int:
    """Mark dead the messages whose send was interrupted long ago, for staff to check; returns how many."""
    stale = now - timedelta(seconds=jobs_config.requeue_after_seconds)
    rows = session.scalars(select(OutboxMessage).where(
        OutboxMessage.status == OutboxStatus.SENDING, OutboxMessage.sending_at < stale
    ).with_for_update(skip_locked=True)).all()
    for message in rows:
        message.last_error = INTERRUPTED_ERROR
        mark_dead(session, message, now=now)
    return len(rows)


def mark_dead(session: Session, message: OutboxMessage, *, now: datetime) -> None:
    """No more attempts: the message is dead, masked if secret, and an audit event tells staff."""
    message.status = OutboxStatus.DEAD
    mask_secret(message)
    record(session, "outbox.dead", actor_type="system", subject=message, member_id=message.member_id, now=now,
           channel=message.channel.value, template=message.template, related=message.related,
           attempts=message.attempts)


def mask_secret(message: OutboxMessage) -> None:
    """Drop the body of a secret message (a code, a personal link) once it needs no further sending."""
    if message.secret:
        message.text_body = MASKED_BODY
        message.html_body = None


def attempt(session: Session, message: OutboxMessage, jobs_config: JobsConfig, *, now: datetime) -> None:
    """Send ``message`` once through its channel and record the outcome on the row."""
    try:
        attachments = load_attachments(session, message)
        receipt = sender_for(message.channel, jobs_config).send(message, attachments)
    except Exception as exc:  # any failure, even a bug, is recorded and retried, never lost silently
        record_failure(session, message, exc, jobs_config, now=now)
        log.warning("outbox message %s attempt %s failed: %s", message.id, message.attempts, message.last_error)
    else:
        message.status = OutboxStatus.SENT
        message.sent_at = now
        message.receipt = receipt[:255]
        message.last_error = None
        mask_secret(message)
        log.info("outbox message %s sent (%s)", message.id, message.receipt)


def retry_delay(attempts: int, jobs_config: JobsConfig, retry_after: int | None = None) -> timedelta | None:
    """Time to wait after failed attempt number ``attempts`` (from 1), or None when no attempt is left."""
    delays = jobs_config.retry_delays_seconds
    if attempts > len(delays):
        return None
    seconds = delays[attempts - 1] * random.uniform(1.0, 1.1)  # jitter: retries of a burst spread out
    return timedelta(seconds=max(seconds, retry_after or 0))


def record_failure(session: Session, message: OutboxMessage, exc: Exception, jobs_config: JobsConfig, *,
                   now: datetime) -> None:
    """Record a failed attempt: back to pending at the next backoff step, or dead (and audited for staff)."""
    message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
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
            settle_interrupted(session, jobs_config, now=now)
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
