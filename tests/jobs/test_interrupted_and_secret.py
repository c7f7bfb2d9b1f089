"""Sends cut short are settled without a person; codes and personal links do not stay readable in the outbox.

A worker that dies during a send leaves the message "sending"; once no live worker names it in its
heartbeat, the relay settles it: an e-mail goes again with the same Message-ID, a fax is never sent
twice but left dead for staff with what is known, and a send the channel accepted but the database
could not record is recorded as sent from the receipt kept in Redis.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from jobs import deliver as delivery_module
from jobs import runtime
from jobs.channels.mail import MailChannel
from jobs.deliver import INTERRUPTED_ERROR, INTERRUPTED_RESENT, MASKED_BODY, RECORDED_LATE
from jobs.tracking import LEASE_SECONDS
from models.audit.entities import AuditEvent
from models.base import utcnow
from models.outbox.entities import AttemptOutcome, Channel, OutboxAttempt, OutboxMessage, OutboxStatus
from models.outbox.operations import queue_sms
from tests.factories import make_member

from .conftest import approve_request, submit_request


def _messages(session, **filters):
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).filter_by(**filters).order_by(OutboxMessage.id)))


def _attempts(session, message_id):
    return [(a.number, a.outcome) for a in session.scalars(
        select(OutboxAttempt).where(OutboxAttempt.message_id == message_id).order_by(OutboxAttempt.number))]


class WorkerKilled(BaseException):
    """Stands for the process dying during the send, after the server got the message but before its answer."""


@pytest.fixture
def die_after_transmitting(monkeypatch):
    """The next e-mail or fax leaves through SMTP, then its worker 'dies' before the channel returns."""
    real_send = MailChannel.send_mail
    armed = [True]

    def send_then_die(self, **kwargs):
        receipt = real_send(self, **kwargs)
        if armed and armed.pop():
            raise WorkerKilled()
        return receipt

    monkeypatch.setattr(MailChannel, "send_mail", send_then_die)


def _run_until_killed(session, delivery):
    delivery.run()  # RQ's worker records the job as failed; the message stays "sending"
    assert OutboxStatus.SENDING in {m.status for m in _messages(session)}
    tracker = runtime.tracker(delivery.jobs_config)
    delivery.redis.delete(tracker.heartbeat_key(tracker.worker))  # a dead worker's heartbeat lapses


def _later():
    return utcnow() + timedelta(seconds=LEASE_SECONDS + 1)


def test_a_fax_whose_worker_died_during_the_send_is_never_faxed_again_but_left_to_staff(
        session, delivery, smtp, die_after_transmitting):
    request = submit_request(session, make_member(session), email="")
    approve_request(session, request)
    for message in _messages(session):
        if message.channel is not Channel.FAX:
            message.status = OutboxStatus.SENT  # only the fax is sent in this test
    session.commit()

    _run_until_killed(session, delivery)
    assert delivery.relay().interrupted == 0  # too recent to judge: its worker might still be sending
    result = delivery.run(now=_later())

    assert result.interrupted == 1
    assert len([m for m in smtp.messages if m["to"][0].endswith("@fax.example.test")]) == 1
    [fax] = _messages(session, channel=Channel.FAX)
    assert fax.status is OutboxStatus.DEAD and fax.last_error == INTERRUPTED_ERROR
    assert _attempts(session, fax.id) == [(1, AttemptOutcome.INTERRUPTED)]
    assert session.scalars(select(AuditEvent).where(AuditEvent.action == "outbox.dead",
                                                    AuditEvent.subject_id == fax.id)).first() is not None
    assert delivery.run(now=_later() + timedelta(days=1)).enqueued == 0


def test_an_email_whose_worker_died_during_the_send_goes_again_with_the_same_message_id(
        session, delivery, smtp, die_after_transmitting):
    member = make_member(session)
    submit_request(session, member)

    _run_until_killed(session, delivery)
    result = delivery.run(now=_later())
    delivery.run(now=_later())

    assert result.interrupted == 1
    copies = smtp.to(member.email)
    assert len(copies) == 2 and len({c["message"]["Message-ID"] for c in copies}) == 1
    [row] = _messages(session)
    assert row.status is OutboxStatus.SENT and row.attempts == 2
    assert _attempts(session, row.id) == [(1, AttemptOutcome.INTERRUPTED), (2, AttemptOutcome.SENT)]
    first = session.scalar(select(OutboxAttempt).where(OutboxAttempt.message_id == row.id,
                                                       OutboxAttempt.number == 1))
    assert first.detail == INTERRUPTED_RESENT and first.worker and first.ended_at is not None


def test_a_send_still_named_in_a_live_heartbeat_is_left_alone(session, delivery, smtp, die_after_transmitting):
    member = make_member(session)
    submit_request(session, member)
    _run_until_killed(session, delivery)
    [row] = _messages(session)
    tracker = runtime.tracker(delivery.jobs_config)
    with tracker.delivering(row.id):  # a worker that lives and still sends it
        tracker._beat()  # what the heartbeat thread does every few seconds
        assert delivery.relay(now=_later()).interrupted == 0
    assert _messages(session)[0].status is OutboxStatus.SENDING


def test_sends_are_not_judged_just_after_redis_lost_its_data(session, delivery, redis_conn, smtp,
                                                            die_after_transmitting):
    submit_request(session, make_member(session))
    _run_until_killed(session, delivery)
    redis_conn.flushdb()  # live workers have not written their heartbeats again yet

    assert delivery.relay(now=_later()).interrupted == 0
    assert _messages(session)[0].status is OutboxStatus.SENDING


def test_a_send_the_database_could_not_record_is_recorded_once_it_is_back_and_not_sent_again(
        session, delivery, smtp, monkeypatch):
    member = make_member(session)
    submit_request(session, member)
    real_write = delivery_module._write
    calls = []

    def outcome_lost(connection, params, *statements):
        calls.append(params)
        if len(calls) > 1:  # the claim went through; the database is gone when the outcome is written
            raise OperationalError("UPDATE", {}, ConnectionError("server closed the connection"))
        return real_write(connection, params, *statements)

    monkeypatch.setattr(delivery_module, "_write", outcome_lost)
    monkeypatch.setattr(delivery_module, "OUTCOME_RETRY_SECONDS", 0)
    monkeypatch.setattr(delivery_module.time, "sleep", lambda _s: None)
    delivery.run()
    monkeypatch.undo()
    assert _messages(session)[0].status is OutboxStatus.SENDING and len(smtp.messages) == 1

    result = delivery.run(now=_later())

    assert (result.recovered, result.interrupted) == (1, 0)
    [row] = _messages(session)
    assert row.status is OutboxStatus.SENT and row.receipt.startswith("smtp:<outbox-")
    assert _attempts(session, row.id) == [(1, AttemptOutcome.SENT)]
    assert session.scalar(select(OutboxAttempt.detail).where(OutboxAttempt.message_id == row.id)) == RECORDED_LATE
    assert len(smtp.to(member.email)) == 1


def test_the_outcome_is_written_as_soon_as_the_database_answers_again(session, delivery, smtp, monkeypatch):
    submit_request(session, make_member(session))
    real_write = delivery_module._write
    failures = [1, 1]

    def database_back_after_two_tries(connection, params, *statements):
        if "b_receipt" in params and failures:
            failures.pop()
            raise OperationalError("UPDATE", {}, ConnectionError("connection refused"))
        return real_write(connection, params, *statements)

    monkeypatch.setattr(delivery_module, "_write", database_back_after_two_tries)
    monkeypatch.setattr(delivery_module.time, "sleep", lambda _s: None)
    delivery.run()

    [row] = _messages(session)
    assert row.status is OutboxStatus.SENT and _attempts(session, row.id) == [(1, AttemptOutcome.SENT)]
    assert len(smtp.messages) == 1


def test_a_code_sent_by_sms_is_masked_once_delivered(session, folder_config, models_config):
    from jobs.deliver import deliver

    member = make_member(session)
    sms = queue_sms(session, to=member.mobile, text="MESE : votre code de sécurité est 123456.", member_id=member.id,
                    secret=True)
    plain = queue_sms(session, to=member.mobile, text="MESE : rappel de rendez-vous.", member_id=member.id)
    session.commit()
    runtime.configure(folder_config, models_config)
    for message in (sms, plain):
        deliver(session, message.id, folder_config)
        session.commit()
    stored = {m.id: m for m in _messages(session)}
    assert stored[sms.id].status is OutboxStatus.SENT and stored[sms.id].text_body == MASKED_BODY
    assert "123456" not in (stored[sms.id].html_body or "")
    assert stored[plain.id].text_body == "MESE : rappel de rendez-vous."
