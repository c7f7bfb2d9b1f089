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
