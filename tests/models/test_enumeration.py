"""No enumeration through work done, and no flooding of a member's mailbox with activation e-mails."""

from __future__ import annotations

import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, select

from models.members import activation
from models.members.activation import ACTIVATIONS_PER_DAY, ActivationRequest, request_activation, request_password_reset
from models.outbox import operations as outbox_operations
from models.outbox.entities import OutboxMessage
from tests.factories import make_member

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def work(session, monkeypatch):
    """Records the SQL statements (verb and table) and the e-mail renderings of what runs inside ``measure``."""
    statements: list[str] = []
    renders: list[str] = []

    def on_execute(conn, cursor, sql, params, context, executemany):
        verb = sql.split(None, 1)[0].upper()
        table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+(\w+)", sql, re.I)
        statements.append(f"{verb} {table.group(1) if table else ''}")

    for module in (activation, outbox_operations):
        original = module.render_blocks

        def counting(name, *args, _original=original, **kwargs):
            renders.append(name)
            return _original(name, *args, **kwargs)

        monkeypatch.setattr(module, "render_blocks", counting)
    engine = session.get_bind()

    def measure(fn):
        statements.clear()
        renders.clear()
        event.listen(engine, "before_cursor_execute", on_execute)
        try:
            fn()
            session.flush()
        finally:
            event.remove(engine, "before_cursor_execute", on_execute)
        session.rollback()
        return Counter(statements), list(renders)

    return measure


def test_forgotten_password_does_the_same_work_for_known_and_unknown_identifiers(session, work):
    member = make_member(session)
    without_email = make_member(session, email=None)

    def ask(identifier):
        return lambda: request_password_reset(session, identifier, make_link=lambda t: f"https://x/{t}",
                                              valid_minutes=60, ip=None, now=NOW)

    known_sql, known_renders = work(ask(member.number))
    for identifier in ("9999999", without_email.number):
        sql, renders = work(ask(identifier))
        assert renders == known_renders == ["email/account_password_reset.html"]
        # Same reads and updates; the only difference is saving the e-mail and its link.
        assert known_sql - sql == Counter({"INSERT account_token": 1, "INSERT outbox_message": 1})
        assert sql - known_sql == Counter()


def test_activation_does_the_same_work_whether_or_not_someone_matched(session, work):
    make_member(session, password=None)
    asked = ActivationRequest(last_name="RIMON", first_name="Léa", birth_date=datetime(1984, 1, 10).date(),
                              nir="2848013809111")

    def ask(request):
        return lambda: request_activation(session, request, login_url="https://x/connexion", ip=None, now=NOW)

    matched_sql, matched_renders = work(ask(asked))
    unmatched_sql, unmatched_renders = work(ask(ActivationRequest(**{**asked.__dict__, "first_name": "Zoé"})))
    assert matched_renders == unmatched_renders == ["email/account_activation.html"]
    assert matched_sql - unmatched_sql == Counter({"INSERT outbox_message": 1, "SELECT member": 1})
    assert unmatched_sql - matched_sql == Counter()


def test_activation_e_mails_to_one_member_are_capped_per_day(session, time_machine):
    time_machine.move_to(NOW, tick=False)
    member = make_member(session, password=None)
    asked = ActivationRequest(last_name="RIMON", first_name="Léa", birth_date=datetime(1984, 1, 10).date(),
                              nir="2848013809111")
    for i in range(8):  # eight requests from eight addresses
        request_activation(session, asked, login_url="https://x/connexion", ip=f"198.51.100.{i}",
                           now=NOW + timedelta(minutes=i))
    session.flush()
    sent = session.scalars(select(OutboxMessage).where(OutboxMessage.template == "account_activation")).all()
    assert len(sent) == ACTIVATIONS_PER_DAY == 3
    time_machine.shift(timedelta(days=1, minutes=1))
    request_activation(session, asked, login_url="https://x/connexion", ip=None, now=NOW + timedelta(days=1, minutes=1))
    session.flush()
    assert len(session.scalars(select(OutboxMessage).where(OutboxMessage.member_id == member.id)).all()) == 4
