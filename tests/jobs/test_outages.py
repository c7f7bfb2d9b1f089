"""Fault scenarios: Redis down while members submit, Redis emptied, rows locked by another relay."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from jobs import runtime
from jobs.relay import relay_outbox
from member_app import create_app
from member_app.extensions import db
from models.db import session_factory
from models.members.entities import Member
from models.outbox.entities import OutboxMessage, OutboxStatus
from models.outbox.operations import queue_sms
from tests.conftest import free_port
from tests.factories import make_member

from .conftest import Delivery, submit_request


def test_a_member_submits_while_redis_is_down_and_gets_one_receipt_once_redis_is_back(
        session, member_app_config, models_config, jobs_config, redis_conn, smtp):
    redis_down = replace(jobs_config, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    app = create_app(replace(member_app_config, jobs=redis_down))
    member = make_member(session)

    with app.test_request_context():
        reference = submit_request(db.session, db.session.get(Member, member.id)).reference
    runtime.configure(redis_down, models_config)
    failed = Delivery(redis_down, models_config, redis_conn).relay()

    assert failed.error and "Error" in failed.error and failed.enqueued == 0
    [row] = session.scalars(select(OutboxMessage)).all()
    assert (row.status, row.attempts, row.enqueued_at, row.related) == (OutboxStatus.PENDING, 0, None,
                                                                        reference)

    runtime.configure(jobs_config, models_config)
    back = Delivery(jobs_config, models_config, redis_conn)
    assert back.run().enqueued == 1
    back.run()

    [receipt] = smtp.to(member.email)
    assert reference in receipt["message"]["Subject"]
    session.expire_all()
    assert session.get(OutboxMessage, row.id).status is OutboxStatus.SENT


def test_two_relays_never_claim_the_same_rows(session, delivery, models_config):
    member = make_member(session)
    for _ in range(3):
        queue_sms(session, to="+33606060606", text="Code : 123456", member_id=member.id)
    session.commit()
    other = session_factory(models_config)()
    try:
        first = relay_outbox(other, delivery.jobs_config)  # holds its row locks until it commits
        second = relay_outbox(session, delivery.jobs_config)
        assert (first.enqueued, second.enqueued) == (3, 0)
        other.commit()
    finally:
        other.close()
    assert len(delivery.queued_job_ids()) == 3
