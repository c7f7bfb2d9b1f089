"""A send cut short is never repeated blindly; codes and personal links do not stay readable in the outbox."""

from datetime import timedelta

from sqlalchemy import select

from jobs import deliver as delivery_module
from jobs.deliver import INTERRUPTED_ERROR, MASKED_BODY
from models.audit.entities import AuditEvent
from models.base import utcnow
from models.outbox.entities import OutboxMessage, OutboxStatus
from models.outbox.operations import queue_sms
from tests.factories import make_member

from .conftest import approve_request, submit_request


def _messages(session, **filters):
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).filter_by(**filters).order_by(OutboxMessage.id)))


class WorkerKilled(BaseException):
    """Stands for the process dying right after the channel accepted the message."""


def test_a_fax_whose_worker_died_after_sending_is_not_faxed_again_but_shown_to_staff(
        session, delivery, smtp, monkeypatch):
    request = submit_request(session, make_member(session), email="")
    approve_request(session, request)
    real_attempt = delivery_module.attempt

    def attempt_then_die(session_, message, jobs_config, *, now):
        real_attempt(session_, message, jobs_config, now=now)
        raise WorkerKilled()

    with monkeypatch.context() as patch:
        patch.setattr(delivery_module, "attempt", attempt_then_die)
        delivery.relay()
        try:
            delivery.work()
        except WorkerKilled:
            pass
    faxes_sent = len([m for m in smtp.messages if m["to"][0].endswith("@fax.example.test")])
    assert faxes_sent == 1

    later = utcnow() + timedelta(seconds=delivery.jobs_config.requeue_after_seconds + 1)
    result = delivery.run(now=later)
    assert result.interrupted >= 1
    assert len([m for m in smtp.messages if m["to"][0].endswith("@fax.example.test")]) == 1
    fax = [m for m in _messages(session) if m.channel.value == "fax"][0]
    assert fax.status is OutboxStatus.DEAD and fax.last_error == INTERRUPTED_ERROR
    assert session.scalars(select(AuditEvent).where(AuditEvent.action == "outbox.dead",
                                                    AuditEvent.subject_id == fax.id)).first() is not None


def test_a_code_sent_by_sms_is_masked_once_delivered(session, folder_config, models_config):
    from jobs import runtime
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
