"""With Redis stopped, members still sign in and submit: rate limits fall back to memory, the outbox waits."""

import time
from dataclasses import replace

from tests.conftest import free_port
from tests.factories import PASSWORD, make_member


def test_sign_in_works_and_stays_fast_while_the_rate_limit_store_is_down(member_app_config, migrated_database,
                                                                        session):
    from member_app import create_app

    member = make_member(session)
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    app = create_app(replace(member_app_config, ratelimit_storage_url=dead_redis, captcha_enabled=False))
    client = app.test_client()
    started = time.monotonic()
    for _ in range(3):
        page = client.get("/connexion")
        assert page.status_code == 200
    response = client.post("/connexion", data={"identifiant": member.number, "password": PASSWORD,
                                               "csrf_token": _csrf(page)})
    assert response.status_code == 302 and "/connexion/code" in response.headers["Location"]
    assert time.monotonic() - started < 5


def _csrf(page) -> str:
    import re

    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)


def test_a_coverage_request_sent_while_redis_is_down_gets_its_receipt_once_redis_is_back(
        member_app_config, jobs_config, models_config, migrated_database, session, smtp):
    from rq import SimpleWorker
    from sqlalchemy import select

    from jobs import runtime
    from jobs.relay import delivery_queue, relay_once
    from member_app import create_app
    from models.outbox.entities import OutboxMessage, OutboxStatus
    from tests.helpers import login_member
    from tests.member_app.test_hospital_coverage import send

    member = make_member(session)
    dead_redis = f"redis://127.0.0.1:{free_port()}/0"
    down = replace(jobs_config, redis_url=dead_redis)
    app = create_app(replace(member_app_config, jobs=down, ratelimit_storage_url=dead_redis))
    client = app.test_client()
    login_member(client, member)

    response = send(client, member)
    assert response.status_code == 303 and "/prise-en-charge-hospitaliere/PEC-" in response.headers["Location"]
    runtime.configure(down, models_config)
    assert relay_once(down, models_config).error  # the worker cannot reach Redis: nothing is lost
    session.expire_all()
    receipt = session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == member.email)).one()
    assert receipt.status is OutboxStatus.PENDING and receipt.attempts == 0

    runtime.configure(jobs_config, models_config)  # Redis is back
    for _ in range(2):  # a second pass must not send it again
        relay_once(jobs_config, models_config)
        queue = delivery_queue(jobs_config)
        SimpleWorker([queue], connection=queue.connection, serializer=queue.serializer).work(burst=True)
    assert len(smtp.to(member.email)) == 1
