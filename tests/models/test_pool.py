"""Pooled connections: one the database closed while it sat idle in the pool is replaced before use."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

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


def _engine_ending_reads_with_commit():
    engine = create_engine(TEST_DATABASE_URL, **db.engine_options(TEST_DATABASE_URL))
    db.install_read_only_commit(engine)
    return engine


def test_a_transaction_that_only_read_keeps_the_connections_prepared_statements(migrated_database):
    """psycopg drops its prepared statements on every ROLLBACK: a request that only read ends with COMMIT."""
    engine = _engine_ending_reads_with_commit()
    with Session(engine) as session:
        for _ in range(8):  # psycopg prepares a statement from its 5th execution
            session.execute(text("SELECT count(*) FROM member WHERE id > :id"), {"id": 0})
    with Session(engine) as session:
        prepared = session.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar()
    assert prepared >= 1
    engine.dispose()


def test_a_transaction_that_wrote_and_was_not_committed_is_still_rolled_back(migrated_database):
    engine = _engine_ending_reads_with_commit()
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE IF NOT EXISTS rollback_probe (n int)"))
        connection.commit()
    try:
        with Session(engine) as session:
            session.execute(text("SELECT count(*) FROM rollback_probe")).scalar()
            session.execute(text("INSERT INTO rollback_probe VALUES (1)"))
            session.execute(text("SELECT count(*) FROM rollback_probe")).scalar()
        with pytest.raises(RuntimeError), Session(engine) as session:
            session.execute(text("WITH added AS (INSERT INTO rollback_probe VALUES (2) RETURNING n) "
                                 "SELECT n FROM added"))
            raise RuntimeError("the use case refused the rest")
        with Session(engine) as session:
            assert session.execute(text("SELECT count(*) FROM rollback_probe")).scalar() == 0
    finally:
        with engine.connect() as connection:
            connection.execute(text("DROP TABLE rollback_probe"))
            connection.commit()
        engine.dispose()
