"""Staff guessing limits in the domain: concurrent wrong passwords all count, the lock is timed."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from models.base import utcnow
from models.db import session_factory
from models.errors import ValidationFailed
from models.staff.entities import StaffRole, StaffUser
from models.staff.operations import StaffSignInPolicy, StaffThrottle, authenticate_staff, create_staff, staff_throttle
from tests.factories import make_staff


def test_five_simultaneous_wrong_passwords_are_counted_five_times(session, models_config):
    agent = make_staff(session)
    policy = StaffSignInPolicy(delay_after_failures=100, lock_after_failures=100)
    Session = session_factory(models_config)
    barrier = threading.Barrier(5, timeout=30)
    errors = []

    def guess() -> None:
        try:
            with Session() as s:
                barrier.wait()
                authenticate_staff(s, agent.email, "Wrong-Password-1", policy=policy, now=utcnow(), ip="198.51.100.7")
                s.commit()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=guess) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads) and errors == []
    session.expire_all()
    assert session.get(StaffUser, agent.id).failed_login_count == 5


def test_the_lock_is_timed_and_the_delays_grow(session):
    agent = make_staff(session)
    policy = StaffSignInPolicy()
    now = utcnow()
    agent.failed_login_count, agent.last_failed_login_at = 5, now
    assert staff_throttle(agent, policy, now + timedelta(seconds=59)) is StaffThrottle.DELAYED
    assert staff_throttle(agent, policy, now + timedelta(seconds=60)) is StaffThrottle.OPEN
    agent.failed_login_count = 7
    assert staff_throttle(agent, policy, now + timedelta(minutes=3)) is StaffThrottle.DELAYED
    agent.failed_login_count, agent.locked_until = 10, now + timedelta(minutes=30)
    assert staff_throttle(agent, policy, now + timedelta(minutes=29)) is StaffThrottle.LOCKED
    assert staff_throttle(agent, policy, now + timedelta(minutes=30)) is StaffThrottle.OPEN


@pytest.mark.parametrize(("password", "problem"), [
    ("a", "au moins 12 caractères"),
    ("toutenminuscule-2026", "une minuscule et une majuscule"),
    ("Claire-Martin-2026-claire.martin", "adresse e-mail"),
    ("Azerty123456!", "trop courant"),
])
def test_staff_password_rules_apply_when_an_account_is_created(session, password, problem):
    with pytest.raises(ValidationFailed) as refused:
        create_staff(session, email="claire.martin@mese.fr", full_name="Claire Martin", role=StaffRole.ADMIN,
                     password=password)
    assert any(problem in m for m in refused.value.errors["password"])


def test_the_signed_in_staff_lookup_needs_a_live_session_and_an_active_account(session):
    """signed_in_staff reads the session and the account in one query: every condition of either stays."""
    from models.sessions.entities import WebSession
    from models.sessions.operations import SessionPolicy, open_session
    from models.staff.operations import signed_in_staff

    agent, policy, now = make_staff(session), SessionPolicy(), utcnow()
    key = open_session(session, staff_id=agent.id, policy=policy, ip=None, user_agent=None, now=now)
    session.commit()
    user, live = signed_in_staff(session, key, session_policy=policy, now=now)
    web_session = session.get(WebSession, live.id)
    assert user.id == agent.id and web_session.staff_id == agent.id and user.web_session_key == key
    assert signed_in_staff(session, key + "x", session_policy=policy, now=now) is None
    assert signed_in_staff(session, None, session_policy=policy, now=now) is None
    assert signed_in_staff(session, "k" * 101, session_policy=policy, now=now) is None
    idle = now + timedelta(minutes=policy.idle_minutes + 2)
    assert signed_in_staff(session, key, session_policy=policy, now=idle) is None
    assert signed_in_staff(session, key, session_policy=policy,
                           now=web_session.expires_at + timedelta(seconds=1)) is None
    agent.active = False
    session.commit()
    assert signed_in_staff(session, key, session_policy=policy, now=now) is None
    agent.active = True
    web_session.ended_at = now
    session.commit()
    assert signed_in_staff(session, key, session_policy=policy, now=now) is None
    assert session.get(WebSession, web_session.id).ended_at is not None


def test_the_signed_in_staff_member_is_read_as_if_loaded_the_rest_when_used(session):
    """signed_in_staff reads a few columns: the staff member it gives has no change to write, and reads the rest of
    their row (the password hash) when asked for it."""
    from sqlalchemy import text

    from models.sessions.operations import SessionPolicy, open_session
    from models.staff.operations import signed_in_staff

    agent, policy, now = make_staff(session), SessionPolicy(), utcnow()
    key = open_session(session, staff_id=agent.id, policy=policy, ip=None, user_agent=None, now=now)
    session.commit()
    session.execute(text("UPDATE staff_user SET full_name = 'Nom à jour' WHERE id = :id"), {"id": agent.id})
    session.commit()
    session.expunge_all()
    user, live = signed_in_staff(session, key, session_policy=policy, now=now)
    assert user.full_name == "Nom à jour" and user.role is StaffRole.AGENT and live.last_seen_at == now
    assert user in session and not session.dirty and not session.new
    assert user.password_hash and user.password_hash == agent.password_hash
    again, _live = signed_in_staff(session, key, session_policy=policy, now=now)
    assert again is user
