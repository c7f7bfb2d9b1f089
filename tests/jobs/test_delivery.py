"""Outbox delivery through Redis, RQ and a real SMTP server: content, idempotency, retries, dead letters."""

from __future__ import annotations

import io
import os
import zlib
from dataclasses import replace
from datetime import timedelta

from pypdf import PdfReader
from sqlalchemy import select

from rq.utils import utcformat

from jobs import runtime
from jobs.deliver import deliver_message
from jobs.relay import CHECK_AFTER_SECONDS, delivery_queue
from jobs.tracking import LEASE_SECONDS
from models.audit.entities import AuditEvent
from models.base import utcnow
from models.outbox.entities import AttemptOutcome, Channel, OutboxAttempt, OutboxMessage, OutboxStatus
from tests.factories import make_member

from .conftest import ADMISSION_EMAIL, approve_request, submit_request


def _messages(session, **filters) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).filter_by(**filters).order_by(OutboxMessage.id)))


def _parts(msg) -> dict[str, list]:
    parts: dict[str, list] = {}
    for part in msg.walk():
        parts.setdefault(part.get_content_type(), []).append(part)
    return parts


def _queue_simple_email(session) -> OutboxMessage:
    """A member's request, committed with its one queued message: the acknowledgement e-mail."""
    submit_request(session, make_member(session))
    return session.scalars(select(OutboxMessage)).one()


def test_relay_and_worker_deliver_the_letter_email_with_html_text_and_pdf(session, delivery, smtp):
    member = make_member(session)
    request = submit_request(session, member)
    approve_request(session, request)

    result = delivery.run()

    assert result.enqueued == 4  # acknowledgement, fax, letter to the hospital, notice to the member
    [received] = smtp.to(ADMISSION_EMAIL)
    msg = received["message"]
    assert received["from"] == "ne-pas-repondre@mese.fr"
    assert request.reference in msg["Subject"]
    [letter_row] = _messages(session, recipient=ADMISSION_EMAIL)
    assert msg["X-Outbox-Id"] == str(letter_row.id)
    parts = _parts(msg)
    text = parts["text/plain"][0].get_content()
    html = parts["text/html"][0].get_content()
    assert "Zoé RIMON" in text and "Le service adhérents MESE" in text and "04 76 60 56 36" in text
    assert "<html" in html and request.reference in html
    [pdf_part] = parts["application/pdf"]
    assert pdf_part.get_filename() == f"prise-en-charge-{request.reference}.pdf"
    pdf_text = PdfReader(io.BytesIO(pdf_part.get_content())).pages[0].extract_text()
    assert "Prise en charge hospitalière" in pdf_text and request.reference in pdf_text
    assert letter_row.status is OutboxStatus.SENT and letter_row.attempts == 1
    assert letter_row.sent_at is not None and letter_row.receipt.startswith("smtp:<outbox-")
    assert [m["message"]["Subject"] for m in smtp.to(member.email)] == [
        f"Votre demande de prise en charge hospitalière {request.reference} a bien été reçue",
        f"Votre prise en charge hospitalière {request.reference} est acceptée",
    ]


def test_fax_goes_to_the_gateway_address_with_the_same_letter_as_the_email(session, delivery, smtp):
    member = make_member(session)
    request = submit_request(session, member)
    approve_request(session, request)

    delivery.run()

    [fax] = smtp.to("0476605636@fax.example.test")
    msg = fax["message"]
    cover = _parts(msg)["text/plain"][0].get_content()
    assert "TÉLÉCOPIE" in cover and request.reference in cover and member.number in cover
    assert "text/html" not in _parts(msg)
    fax_pdf = _parts(msg)["application/pdf"][0].get_content()
    email_pdf = _parts(smtp.to(ADMISSION_EMAIL)[0]["message"])["application/pdf"][0].get_content()
    assert fax_pdf == email_pdf
    session.expire_all()
    assert request.letter_file_id is not None
    [fax_row] = _messages(session, channel=Channel.FAX)
    assert fax_row.status is OutboxStatus.SENT and fax_row.receipt.startswith("fax:0476605636@fax.example.test")


def test_delivering_a_message_twice_sends_it_once(session, delivery, smtp):
    message = _queue_simple_email(session)

    assert deliver_message(message.id) == "sent"
    assert deliver_message(message.id) == "sent"

    assert len(smtp.messages) == 1
    [row] = _messages(session)
    assert row.attempts == 1


def test_the_relay_enqueues_each_attempt_once_and_redis_holds_only_ids(session, delivery, redis_conn):
    message = _queue_simple_email(session)

    first, second = delivery.relay(), delivery.relay()

    assert (first.enqueued, second.enqueued) == (1, 0)
    assert delivery.queued_job_ids() == [f"outbox-{message.id}-0"]
    stored = b"".join(
        v for key in redis_conn.keys("rq:job:*") if redis_conn.type(key) == b"hash"
        for v in redis_conn.hgetall(key).values()
    )
    data = zlib.decompress(redis_conn.hget(f"rq:job:outbox-{message.id}-0", "data"))
    assert data == f'["jobs.deliver.deliver_message", null, [{message.id}], {{}}]'.encode()
    for secret in (b"lea.rimon", b"RIMON", b"Zo\xc3\xa9"):
        assert secret not in stored and secret not in data


def test_messages_whose_jobs_redis_lost_are_queued_again_at_once_and_delivered_once(
        session, delivery, redis_conn, smtp):
    message = _queue_simple_email(session)
    delivery.relay()
    soon = utcnow() + timedelta(seconds=CHECK_AFTER_SECONDS + 1)

    # Its job is still queued: a later pass must not queue a second one.
    assert delivery.relay(now=soon).requeued == 0
    assert delivery.queued_job_ids() == [f"outbox-{message.id}-0"]
    redis_conn.flushdb()  # Redis restarted without persistence: the job is gone
    assert delivery.run(now=soon).requeued == 1
    delivery.run(now=soon + timedelta(days=1))

    assert len(smtp.messages) == 1
    assert _messages(session)[0].status is OutboxStatus.SENT


def test_a_job_started_by_a_worker_that_died_before_the_send_is_queued_again(session, delivery, redis_conn, smtp):
    message = _queue_simple_email(session)
    delivery.relay()
    queue = delivery_queue(delivery.jobs_config, redis_conn)
    job = queue.fetch_job(f"outbox-{message.id}-0")
    queue.remove(job)  # a worker took it...
    redis_conn.hset(job.key, mapping={"status": "started", "started_at": utcformat(
        utcnow() - timedelta(seconds=LEASE_SECONDS + 1))})  # ...and died before it claimed the message
    later = utcnow() + timedelta(seconds=LEASE_SECONDS + 1)  # heartbeats have been kept for long enough
    tracker = runtime.tracker(delivery.jobs_config)

    with tracker.delivering(message.id):  # while a live worker names it, it is left alone
        tracker._beat()
        assert delivery.relay(now=later).requeued == 0
    tracker._beat()
    assert delivery.run(now=later).requeued == 1

    assert len(smtp.messages) == 1
    assert _messages(session)[0].status is OutboxStatus.SENT


def test_each_attempt_is_recorded_with_its_worker_and_outcome(session, delivery, smtp):
    message = _queue_simple_email(session)
    smtp.fail_next.append("451 4.3.0 Try again later")
    delivery.run()
    delivery.run(now=utcnow() + timedelta(seconds=10))

    attempts = session.scalars(select(OutboxAttempt).where(OutboxAttempt.message_id == message.id)
                               .order_by(OutboxAttempt.number)).all()
    assert [(a.number, a.outcome) for a in attempts] == [(1, AttemptOutcome.FAILED), (2, AttemptOutcome.SENT)]
    assert "451" in attempts[0].detail and attempts[1].detail is None
    assert attempts[1].receipt == _messages(session)[0].receipt
    assert all(a.worker.endswith(f":{os.getpid()}") and a.ended_at >= a.started_at for a in attempts)


def test_smtp_451_is_retried_after_the_backoff_and_delivers_exactly_one_message(session, delivery, smtp):
    delivery.jobs_config = replace(delivery.jobs_config, retry_delays_seconds=(60, 120))
    runtime.configure(delivery.jobs_config, delivery.models_config)
    message = _queue_simple_email(session)
    smtp.fail_next.append("451 4.3.0 Try again later")

    before = utcnow()
    delivery.run()

    [row] = _messages(session)
    assert (row.status, row.attempts, smtp.messages) == (OutboxStatus.PENDING, 1, [])
    assert "451" in row.last_error
    assert before + timedelta(seconds=60) <= row.next_attempt_at <= utcnow() + timedelta(seconds=66)
    assert delivery.run().enqueued == 0  # not due yet
    assert delivery.run(now=row.next_attempt_at).enqueued == 1
    [row] = _messages(session)
    assert (row.status, row.attempts, row.last_error) == (OutboxStatus.SENT, 2, None)
    assert [m["message"]["X-Outbox-Id"] for m in smtp.messages] == [str(message.id)]


def test_a_permanent_smtp_refusal_kills_the_message_at_once(session, delivery, smtp):
    _queue_simple_email(session)
    smtp.fail_next.append("550 5.1.1 Mailbox does not exist")

    delivery.run()

    [row] = _messages(session)
    assert (row.status, row.attempts) == (OutboxStatus.DEAD, 1)
    assert "550" in row.last_error and "Mailbox does not exist" in row.last_error
    [alert] = session.scalars(select(AuditEvent).filter_by(action="outbox.dead")).all()
    assert (alert.subject_type, alert.subject_id, alert.details["attempts"]) == ("OutboxMessage", row.id, 1)
    assert delivery.run(now=utcnow() + timedelta(days=1)).enqueued == 0
    assert smtp.messages == []


def test_a_message_is_dead_once_every_retry_failed(session, delivery, smtp):
    _queue_simple_email(session)
    delays = delivery.jobs_config.retry_delays_seconds
    smtp.fail_next.extend(["451 4.3.0 Try again later"] * (len(delays) + 1))

    due = None
    for delay in delays:
        before = utcnow()
        delivery.run(now=due)
        [row] = _messages(session)
        assert row.status is OutboxStatus.PENDING
        assert before + timedelta(seconds=delay) <= row.next_attempt_at <= utcnow() + timedelta(seconds=delay * 1.1)
        due = row.next_attempt_at
    delivery.run(now=due)

    [row] = _messages(session)
    assert (row.status, row.attempts) == (OutboxStatus.DEAD, len(delays) + 1)
    assert "451" in row.last_error
    assert smtp.messages == [] and smtp.fail_next == []


def test_a_job_that_failed_at_once_while_the_database_was_down_is_queued_again_at_once(
        session, delivery, smtp, monkeypatch):
    message = _queue_simple_email(session)
    delivery.relay()
    with monkeypatch.context() as patch:
        patch.setattr("jobs.deliver.session_scope", _database_down)
        delivery.work()
    [failed_job] = delivery_queue(delivery.jobs_config, delivery.redis).failed_job_registry.get_job_ids()
    assert failed_job == f"outbox-{message.id}-0" and _messages(session)[0].status is OutboxStatus.ENQUEUED

    assert delivery.run(now=utcnow() + timedelta(seconds=CHECK_AFTER_SECONDS + 1)).requeued == 1

    assert len(smtp.messages) == 1
    assert _messages(session)[0].status is OutboxStatus.SENT


def _database_down(*args, **kwargs):
    raise ConnectionError("database unavailable")
