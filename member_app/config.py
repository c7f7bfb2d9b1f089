"""Settings of the member area, read from the environment with one default each."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from jobs.config import JobsConfig
from models.config import ModelsConfig

DEV_SECRET = "dev-member-secret-change-me"


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class MemberAppConfig:
    """Everything the member area needs; tests build one directly instead of patching os.environ."""

    models: ModelsConfig = field(default_factory=ModelsConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    secret_key: str = DEV_SECRET
    cookie_secure: bool = True
    session_idle_minutes: int = 15
    remember_login_days: int = 90
    #: Storage of rate limits (flask-limiter URI); memory:// in embedded mode.
    ratelimit_storage_url: str = "memory://"
    trusted_proxies: int = 0
    captcha_enabled: bool = True
    captcha_secret: str = "dev-captcha-secret-change-me"
    testing: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> MemberAppConfig:
        """Build the settings from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        d = cls()
        jobs = JobsConfig.from_env(env)
        return cls(
            models=ModelsConfig.from_env(env),
            jobs=jobs,
            secret_key=env.get("MEMBER_SECRET_KEY", d.secret_key),
            cookie_secure=_bool(env.get("COOKIE_SECURE", str(d.cookie_secure))),
            session_idle_minutes=int(env.get("SESSION_IDLE_MINUTES", d.session_idle_minutes)),
            remember_login_days=int(env.get("REMEMBER_LOGIN_DAYS", d.remember_login_days)),
            ratelimit_storage_url=env.get("RATELIMIT_STORAGE_URL", jobs.redis_url or d.ratelimit_storage_url),
            trusted_proxies=int(env.get("TRUSTED_PROXIES", d.trusted_proxies)),
            captcha_enabled=_bool(env.get("CAPTCHA_ENABLED", str(d.captcha_enabled))),
            captcha_secret=env.get("CAPTCHA_SECRET", d.captcha_secret),
        )

    def flask_settings(self) -> dict:
        """The Flask configuration keys derived from these settings."""
        return {
            "SECRET_KEY": self.secret_key,
            "SESSION_COOKIE_NAME": "__Host-mese" if self.cookie_secure else "mese",
            "SESSION_COOKIE_SECURE": self.cookie_secure,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_PATH": "/",
            "PERMANENT_SESSION_LIFETIME": timedelta(minutes=self.session_idle_minutes),
            "SESSION_REFRESH_EACH_REQUEST": True,
            "REMEMBER_COOKIE_SECURE": self.cookie_secure,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SAMESITE": "Lax",
            "MAX_CONTENT_LENGTH": 12 * 1024 * 1024,
            "WTF_CSRF_TIME_LIMIT": 4 * 3600,
            "TESTING": self.testing,
            "SQLALCHEMY_ENGINES": {"default": self.models.database_url},
            "RATELIMIT_STORAGE_URI": self.ratelimit_storage_url,
            "RATELIMIT_KEY_PREFIX": "mese-member",
            "RATELIMIT_STRATEGY": "moving-window",
            "RATELIMIT_HEADERS_ENABLED": True,
            "BABEL_DEFAULT_LOCALE": "fr",
            "BABEL_DEFAULT_TIMEZONE": "Europe/Paris",
        }

    def problems(self) -> list[str]:
        """Reasons this configuration must not start in production (empty when fine)."""
        issues = self.models.problems() + self.jobs.problems(self.models.is_production)
        if self.models.is_production:
            if self.secret_key == DEV_SECRET:
                issues.append("MEMBER_SECRET_KEY uses the development secret")
            if self.captcha_secret.startswith("dev-"):
                issues.append("CAPTCHA_SECRET uses the development secret")
            if not self.cookie_secure:
                issues.append("COOKIE_SECURE must be true in production")
        return issues
