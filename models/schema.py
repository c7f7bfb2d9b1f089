"""The database schema as Alembic migrations: upgrade, check, revision (no app needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(database_url: str | None = None) -> Config:
    """Alembic configuration of this project, for ``database_url`` (default: from the environment)."""
    cfg = Config(str(MIGRATIONS_DIR / "alembic.ini"))
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if database_url:
        cfg.attributes["database_url"] = database_url
    return cfg


def upgrade(database_url: str | None = None, revision: str = "head") -> None:
    """Bring the database to ``revision`` (default: the latest)."""
    command.upgrade(alembic_config(database_url), revision)


def check(database_url: str | None = None) -> None:
    """Raise if the models differ from what the migrations create."""
    command.check(alembic_config(database_url))


def heads() -> list[str]:
    """The head revisions of the migration history (one expected)."""
    return list(ScriptDirectory.from_config(alembic_config()).get_heads())
