"""Pooled connections: one the database closed while it sat idle in the pool is replaced before use."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from models import db
from tests.conftest import TEST_DATABASE_URL


def _engine_with_a_closed_connection():
    engine = create_engine(TEST_DATABASE_URL, **db.engine_options(TEST_DATABASE_URL))
    db.install_idle_ping(engine)
    with engine.connect() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    with create_engine(TEST_DATABASE_URL).connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    return engine


def test_a_connection_closed_while_idle_is_tested_and_replaced(migrated_database, monkeypatch):
    engine = _engine_with_a_closed_connection()
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()


def test_a_connection_in_use_a_moment_ago_is_not_tested(migrated_database, monkeypatch):
    """What the test saves (two round trips per request) and what it costs: a connection the database closed
    within the last seconds fails one request (then the pool starts afresh)."""
    engine = _engine_with_a_closed_connection()
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 3600.0)
    with pytest.raises(OperationalError), engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1
    engine.dispose()
