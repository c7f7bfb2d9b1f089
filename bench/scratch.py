"""A scratch PostgreSQL database for benchmarks, built from the Alembic migrations."""

from __future__ import annotations

import os

import psycopg

from models.schema import upgrade

ADMIN = os.environ.get("PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def fresh_database(name: str) -> str:
    """Drop and recreate database ``name``, migrate it to head, and return its SQLAlchemy URL."""
    with psycopg.connect(ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{name}"
    upgrade(url)
    return url
