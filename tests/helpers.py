"""Test helpers that sign people in without walking the whole sign-in journey."""

from __future__ import annotations

from sqlalchemy.orm import object_session

from models.base import utcnow
from models.members.entities import Member
from models.sessions.operations import open_session
from models.staff.entities import StaffUser


def login_member(client, member: Member) -> str:
    """Put ``member`` in the client's session as fully signed in (password, second factor, terms done).

    Opens a server-side session as a real sign-in does; returns its key.
    """
    policy = client.application.extensions["mese_config"].session_policy()
    db_session = object_session(member)
    key = open_session(db_session, member_id=member.id, policy=policy, ip="127.0.0.1", user_agent="", now=utcnow())
    db_session.commit()
    with client.session_transaction() as sess:
        sess["_user_id"] = key
        sess["_fresh"] = True
        sess["auth_complete"] = True
    return key


def login_staff(client, staff: StaffUser) -> str:
    """Put ``staff`` in the back-office client's session as fully signed in (password and TOTP done).

    Opens a server-side session as a real sign-in does; returns its key.
    """
    policy = client.application.extensions["mese_backoffice_config"].session_policy()
    db_session = object_session(staff)
    key = open_session(db_session, staff_id=staff.id, policy=policy, ip="127.0.0.1", user_agent="", now=utcnow())
    db_session.commit()
    with client.session_transaction() as sess:
        sess["_user_id"] = key
        sess["_fresh"] = True
        sess["auth_complete"] = True
    return key


def statements_of(client, path: str) -> tuple[list[str], object]:
    """The SQL statements the client's app (member area or back office) sends to answer ``client.get(path)``, and
    the response."""
    from sqlalchemy import event

    with client.application.app_context():
        engine = client.application.extensions["sqlalchemy"].engine
    seen: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        response = client.get(path)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen, response
