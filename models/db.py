"""Engines and sessions for jobs, the CLI and tests (the web apps use Flask-SQLAlchemy-Lite)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from . import crypto
from .config import ModelsConfig

_engines: dict[str, Engine] = {}


def engine_options(url: str) -> dict[str, Any]:
    """Engine keyword arguments suited to the database behind ``url``."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    # A database that accepts connections but never answers must not hold a request or a job forever.
    return {"pool_pre_ping": True, "pool_timeout": 5, "connect_args": {"connect_timeout": 5}}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def prepare(config: ModelsConfig) -> None:
    """Set process-wide state the models need: the field key and the file folder."""
    crypto.configure(config.field_key)
    if config.database_url.startswith("sqlite:///"):
        os.makedirs(os.path.dirname(config.database_url[len("sqlite:///"):]) or ".", exist_ok=True)


def install_sqlite_pragmas(engine: Engine) -> None:
    """Turn on foreign keys and WAL for SQLite engines (no effect elsewhere)."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)


def get_engine(config: ModelsConfig) -> Engine:
    """One engine per URL and process; forked children get fresh connections."""
    engine = _engines.get(config.database_url)
    if engine is None:
        prepare(config)
        engine = create_engine(config.database_url, **engine_options(config.database_url))
        install_sqlite_pragmas(engine)
        os.register_at_fork(after_in_child=lambda e=engine: e.dispose(close=False))
        _engines[config.database_url] = engine
    return engine


def session_factory(config: ModelsConfig) -> sessionmaker[Session]:
    """A sessionmaker bound to the configured database."""
    return sessionmaker(get_engine(config), expire_on_commit=False)


@contextmanager
def session_scope(config: ModelsConfig | None = None) -> Iterator[Session]:
    """Commit on success, roll back on error, always close: the unit of work of jobs and CLI."""
    session = session_factory(config or ModelsConfig.from_env())()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
