"""Regenerate the single initial migration from models/ against a scratch PostgreSQL database.

Only for the time before the first production release; afterwards, add migrations instead.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psycopg
from alembic import command

from models.schema import MIGRATIONS_DIR, alembic_config

ADMIN_URL = os.environ.get("PG_ADMIN_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
SCRATCH = f"mese_migration_scratch_{os.getpid()}"


def main() -> int:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}"')
        conn.execute(f'CREATE DATABASE "{SCRATCH}"')
    for old in (MIGRATIONS_DIR / "versions").glob("*.py"):
        old.unlink()
    url = ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{SCRATCH}"
    command.revision(alembic_config(url), message="initial schema", autogenerate=True)
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}"')
    print("written:", *sorted(p.name for p in Path(MIGRATIONS_DIR / "versions").glob("*.py")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
