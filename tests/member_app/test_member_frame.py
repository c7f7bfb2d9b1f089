"""What every page of the member area shares: reads in autocommit, writes in one transaction."""

from __future__ import annotations

import re
import time

from flask_login import current_user, login_required
from psycopg import pq
from sqlalchemy import select, text

from models.audit.entities import AuditEvent
from models.audit.operations import record
from models.members.entities import Member
from tests.factories import make_member
from tests.helpers import login_member


def _transaction_status():
    from member_app.extensions import db

    return db.session.connection().connection.driver_connection.info.transaction_status


def _add_probe_pages(app, seen: dict) -> None:
    """Pages that read, write, lock or fail, added to the app before its first request."""
    from member_app.extensions import db

    @app.get("/_probe/read")
    @login_required
    def probe_read():
        db.session.execute(select(Member.id).where(Member.id == current_user.id)).one()
        seen["after_read"] = _transaction_status()
        return "read"

    @app.get("/_probe/write-then-fail")
    @login_required
    def probe_write_then_fail():
        record(db.session, "probe.written", actor_type="member", actor_id=current_user.id)
        db.session.flush()
        seen["after_write"] = _transaction_status()
        db.session.execute(text("SELECT 1 / 0"))  # the request fails after its first write
        return "never"

    @app.get("/_probe/write")
    @login_required
    def probe_write():
        record(db.session, "probe.written", actor_type="member", actor_id=current_user.id)
        record(db.session, "probe.written_again", actor_type="member", actor_id=current_user.id)
        db.session.commit()
        return "written"

    @app.get("/_probe/lock")
    @login_required
    def probe_lock():
        db.session.execute(select(Member.id).where(Member.id == current_user.id).with_for_update()).one()
        seen["after_lock"] = _transaction_status()
        return "locked"


def _actions(session) -> list[str]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("probe.%"))
                                .order_by(AuditEvent.id)))


def _signed_in_probe(app, session) -> tuple:
    """A signed-in member's browser on ``app`` with the probe pages, and what the pages saw."""
    seen: dict = {}
    _add_probe_pages(app, seen)
    client = app.test_client()
    login_member(client, make_member(session))
    return client, seen


def test_a_signed_in_get_reads_in_autocommit(member_app, session):
    client, seen = _signed_in_probe(member_app, session)
    assert client.get("/_probe/read").status_code == 200
    assert seen["after_read"] == pq.TransactionStatus.IDLE  # no BEGIN was sent for the reads


def test_the_writes_of_a_get_stay_in_one_transaction(member_app, session):
    member_app.config["PROPAGATE_EXCEPTIONS"] = False
    client, seen = _signed_in_probe(member_app, session)
    assert client.get("/_probe/write-then-fail").status_code == 500
    assert _actions(session) == []  # the write before the failure was rolled back with it
    assert seen["after_write"] == pq.TransactionStatus.INTRANS
    assert client.get("/_probe/write").get_data(as_text=True) == "written"
    assert _actions(session) == ["probe.written", "probe.written_again"]


def test_a_locking_read_of_a_get_holds_its_lock_in_a_transaction(member_app, session):
    client, seen = _signed_in_probe(member_app, session)
    assert client.get("/_probe/lock").status_code == 200
    assert seen["after_lock"] == pq.TransactionStatus.INTRANS


def test_the_writes_of_a_post_stay_in_one_transaction(member_app, session):
    from member_app.extensions import db

    @member_app.post("/_probe/post")
    @login_required
    def probe_post():
        db.session.execute(select(Member.id).where(Member.id == current_user.id)).one()
        record(db.session, "probe.posted", actor_type="member", actor_id=current_user.id)
        db.session.flush()
        db.session.execute(text("SELECT 1 / 0"))
        return "never"

    member_app.config.update(WTF_CSRF_ENABLED=False, PROPAGATE_EXCEPTIONS=False)
    client = member_app.test_client()
    login_member(client, make_member(session))
    assert client.post("/_probe/post").status_code == 500
    assert _actions(session) == []


def test_a_get_under_a_limit_of_the_whole_app_is_still_counted(member_app, session):
    from flask_limiter import ApplicationLimit

    from member_app.extensions import limiter

    client = member_app.test_client()
    login_member(client, make_member(session))
    assert client.get("/documents-contractuels").status_code == 200  # not counted: the app has no such limit
    limiter.limit_manager.set_application_limits([ApplicationLimit("2 per minute").bind(limiter)])
    try:
        statuses = [client.get("/documents-contractuels").status_code for _ in range(3)]
    finally:
        limiter.limit_manager.set_application_limits([])
    assert statuses == [200, 200, 429]


def test_a_forms_page_is_not_counted_by_the_limit_of_its_posts_which_still_counts(member_app, session):
    member_app.config.update(WTF_CSRF_ENABLED=False)
    client = member_app.test_client()
    login_member(client, make_member(session))
    assert {client.get("/contacter-la-mutuelle/").status_code for _ in range(25)} == {200}
    posts = [client.post("/contacter-la-mutuelle/", data={}).status_code for _ in range(21)]  # 20 per hour
    assert 429 not in posts[:20] and posts[20] == 429
    assert client.get("/contacter-la-mutuelle/").status_code == 200


def test_a_get_limited_by_its_view_is_still_counted(member_app, session):
    client = member_app.test_client()
    statuses = {client.get("/altcha/challenge").status_code for _ in range(35)}  # 30 per minute
    assert 429 in statuses


def test_the_signed_in_member_is_the_sessions_object_with_every_column(member_app, session):
    from member_app.extensions import db

    seen: dict = {}

    @member_app.get("/_probe/member")
    @login_required
    def probe_member():
        member = current_user._get_current_object()
        seen["same"] = db.session.get(Member, member.id) is member
        seen["values"] = (member.full_name, member.email, member.nir, member.password_hash)  # secrets read on use
        member.city = "Grenoble"
        db.session.commit()
        return "ok"

    member = make_member(session, nir="2850738185012")
    client = member_app.test_client()
    login_member(client, member)
    assert client.get("/_probe/member").status_code == 200
    assert seen["same"]
    assert seen["values"] == ("Léa RIMON", member.email, "2850738185012", member.password_hash)
    session.expire_all()
    assert session.get(Member, member.id).city == "Grenoble"


def test_a_driver_read_gives_what_sqlalchemy_gives_and_raises_as_it_does(session):
    import pytest
    from sqlalchemy import bindparam, exc, literal_column

    from models.base import utcnow
    from models.db import DriverRead
    from models.sessions.entities import WebSession
    from models.sessions.operations import SessionPolicy, open_session

    member = make_member(session)
    open_session(session, member_id=member.id, policy=SessionPolicy(), ip=None, user_agent="", now=utcnow())
    session.commit()
    query = select(WebSession.id, WebSession.last_seen_at, WebSession.ended_at, Member.civility).join_from(
        WebSession, Member, Member.id == WebSession.member_id).where(Member.id == bindparam("member"))
    connection = session.connection()
    read = DriverRead(query).first(connection, {"member": member.id})
    expected = tuple(connection.execute(query, {"member": member.id}).first())
    assert read == expected
    assert [type(value) for value in read] == [type(value) for value in expected]  # an enum is not its str
    assert DriverRead(query).first(connection, {"member": -1}) is None
    every = DriverRead(query.order_by(WebSession.id)).all(connection, {"member": member.id})
    assert every == [tuple(row) for row in connection.execute(query.order_by(WebSession.id), {"member": member.id})]
    assert DriverRead(query).all(connection, {"member": -1}) == []
    with pytest.raises(exc.DBAPIError):
        DriverRead(select(literal_column("1 / 0"))).first(connection, {})


def test_a_new_secret_key_is_used_at_once_by_the_session_cookie(member_app, session):
    client = member_app.test_client()
    login_member(client, make_member(session))
    assert client.get("/documents-contractuels").status_code == 200
    member_app.secret_key = "another secret key, the previous one leaked"
    response = client.get("/documents-contractuels")
    assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_the_sign_in_check_reads_the_embedded_sqlite_database_as_sqlalchemy_does(tmp_path, models_config):
    """The embedded mode (``make run``) keeps its data in SQLite, whose driver gives dates as text: the sign-in
    check's driver read converts them with SQLite's own types, as SQLAlchemy would."""
    from dataclasses import replace

    from models.base import utcnow
    from models.db import session_factory
    from models.members.security import signed_in_member
    from models.schema import upgrade
    from models.sessions.operations import SessionPolicy, open_session

    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    upgrade(url)
    with session_factory(replace(models_config, database_url=url))() as embedded:
        member = make_member(embedded)
        key = open_session(embedded, member_id=member.id, policy=SessionPolicy(), ip=None, user_agent="",
                           now=utcnow())
        embedded.commit()
        found = signed_in_member(embedded, key, session_policy=SessionPolicy(), now=utcnow())
        assert found is not None
        signed_in, web_session = found
        assert signed_in.id == member.id and signed_in.birth_date == member.birth_date
        assert web_session.last_seen_at.tzinfo is not None
        # A page's reads do not ride with the check on SQLite (member_app.ahead): the page runs them itself.
        from models.contracts.queries import member_contracts, member_contracts_reads

        assert signed_in_member(embedded, key, session_policy=SessionPolicy(), now=utcnow(),
                                ahead=member_contracts_reads()) is not None
        assert [c.number for c in member_contracts(embedded, member.id)] == ["C40SOCLE"]


def _sign_out_token(client, path: str = "/") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_a_sessions_csrf_token_is_signed_once_a_minute_and_stays_its_own(member_app, session, monkeypatch):
    import web

    first, second = member_app.test_client(), member_app.test_client()
    login_member(first, make_member(session))
    login_member(second, make_member(session, password=None))
    token = _sign_out_token(first)
    assert _sign_out_token(first, "/mes-informations") == token  # the same minute: not signed again
    _sign_out_token(second)
    others = _sign_out_token(second, "/mes-informations")  # each session's own, whichever page signed it
    assert others != token
    later = time.time() + web.CSRF_SIGNED_FOR_SECONDS
    monkeypatch.setattr(web.time, "time", lambda: later)
    assert _sign_out_token(first) != token  # the next minute: signed anew
    assert first.post("/deconnexion", data={"csrf_token": others}).status_code == 400  # never another session's
    assert first.post("/deconnexion", data={"csrf_token": token}).status_code == 302  # the earlier one still holds
    assert second.post("/deconnexion", data={"csrf_token": others}).status_code == 302
