"""Settings of the domain layer, read from the environment with one default each."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

#: Development-only secrets; refused when MESE_ENV=production.
DEV_FIELD_KEY = "ZGV2LW9ubHkta2V5LWRvLW5vdC11c2UtaW4tcHJvZCE="
ROOT = Path(__file__).resolve().parent.parent


def env_flag(value: str) -> bool:
    """An environment value read as a yes/no switch (1, true, yes, on)."""
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class ModelsConfig:
    """Database, encryption and domain settings (see the README's configuration table)."""

    env: str = "development"
    database_url: str = f"sqlite:///{ROOT / 'var' / 'mese.db'}"
    field_key: str = DEV_FIELD_KEY
    files_dir: Path = ROOT / "var" / "files"
    password_max_age_days: int = 180

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ModelsConfig:
        """Build the settings from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        d = cls()
        return cls(
            env=env.get("MESE_ENV", d.env),
            database_url=normalise_database_url(env.get("DATABASE_URL", d.database_url)),
            field_key=env.get("FIELD_ENCRYPTION_KEY", d.field_key),
            files_dir=Path(env.get("FILES_DIR", str(d.files_dir))),
            password_max_age_days=int(env.get("PASSWORD_MAX_AGE_DAYS", d.password_max_age_days)),
        )

    @property
    def is_production(self) -> bool:
        """True when running with production safeguards."""
        return self.env == "production"

    def problems(self) -> list[str]:
        """Reasons this configuration must not start in production (empty when fine)."""
        issues = []
        if self.is_production:
            if self.field_key == DEV_FIELD_KEY:
                issues.append("FIELD_ENCRYPTION_KEY uses the development key")
            if self.database_url.startswith("sqlite"):
                issues.append("DATABASE_URL must point to PostgreSQL in production")
        return issues


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs written the Heroku way (postgres://)."""
    if url.startswith("postgres://"):
        return "postgresql+psycopg://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url
