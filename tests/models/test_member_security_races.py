"""Concurrent guesses on one account each count: the lock comes after the tenth, not later."""

import threading

from models.base import utcnow
from models.db import session_factory
from models.members.entities import Member
from models.members.security import SignInPolicy, check_password
from tests.factories import make_member


def test_simultaneous_wrong_passwords_are_all_counted(session, models_config):
    member = make_member(session)
    policy = SignInPolicy(delay_after_failures=100, lock_after_failures=10)
    Session = session_factory(models_config)
    barrier = threading.Barrier(10)

    def guess() -> None:
        with Session() as s:
            barrier.wait()
            check_password(s, member.number, "Not-the-password-1", policy=policy, ip="198.51.100.7", now=utcnow())
            s.commit()

    threads = [threading.Thread(target=guess) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    session.expire_all()
    stored = session.get(Member, member.id)
    assert stored.failed_login_count == 10
    assert stored.locked_at is not None
