"""Settings of the back office, read from the environment with one default each."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from jobs.config import JobsConfig
from models.config import ModelsConfig, env_flag
from models.sessions.operations import SessionPolicy
from models.staff.operations import StaffSignInPolicy
from web import rate_limit_settings

DEV_SECRET = "dev-backoffice-secret-change-me"


@dataclass(frozen=True)
class BackofficeConfig:
    """Everything the back office needs; its cookie is limited to /backoffice."""

    models: ModelsConfig = field(default_factory=ModelsConfig)
    jobs: JobsConfig = field(default_factory=JobsConfig)
    secret_key: str = DEV_SECRET
    cookie_secure: bool = True
    session_idle_minutes: int = 30
    #: A staff session ends this long after sign-in, however active.
    session_absolute_hours: int = 10
    #: Consecutive failed passwords or codes before growing delays (1, 2, 4... minutes), then a timed lock.
    signin_delay_after: int = 5
    signin_lock_after: int = 10
    lock_minutes: int = 30
    staff_password_max_age_days: int = 90
    #: Whether staff must enter a TOTP code (always on in production).
    require_totp: bool = True
    mount_path: str = "/backoffice"
    #: Scheme and host of links e-mailed to staff (invitations), e.g. https://gestion.mese.fr; empty: the request's
    #: own address when its host is one of ``allowed_hosts``.
    public_url: str = ""
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
    #: Hours an invitation link answers.
    invitation_hours: int = 72
    export_max_rows: int = 10000
    #: Hours an XLSX export's download link answers, counted from the request; then the file is removed.
    export_link_hours: int = 24
    #: Seconds an XLSX export job may run in the worker before RQ stops it.
    export_job_timeout: int = 3600
    #: Number of reverse proxies in front of the app whose X-Forwarded-For/-Proto are trusted.
    trusted_proxies: int = 0
    #: Minutes a staff member has to type the TOTP code after a correct password.
    totp_step_minutes: int = 5
    #: Storage of rate limits (flask-limiter URI); memory:// in embedded mode.
    ratelimit_storage_url: str = "memory://"
    #: Per-address limit of the sign-in forms (password and code steps).
    limit_signin: str = "10 per minute;50 per hour"
    testing: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BackofficeConfig:
        """Build the settings from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        d = cls()
        jobs = JobsConfig.from_env(env)
        return cls(
            models=ModelsConfig.from_env(env),
            jobs=jobs,
            secret_key=env.get("BACKOFFICE_SECRET_KEY", d.secret_key),
            cookie_secure=env_flag(env.get("COOKIE_SECURE", str(d.cookie_secure))),
            session_idle_minutes=int(env.get("BACKOFFICE_IDLE_MINUTES", d.session_idle_minutes)),
            session_absolute_hours=int(env.get("BACKOFFICE_ABSOLUTE_HOURS", d.session_absolute_hours)),
            signin_delay_after=int(env.get("STAFF_SIGNIN_DELAY_AFTER", d.signin_delay_after)),
            signin_lock_after=int(env.get("STAFF_SIGNIN_LOCK_AFTER", d.signin_lock_after)),
            lock_minutes=int(env.get("STAFF_LOCK_MINUTES", d.lock_minutes)),
            staff_password_max_age_days=int(env.get("STAFF_PASSWORD_MAX_AGE_DAYS", d.staff_password_max_age_days)),
            require_totp=env_flag(env.get("STAFF_REQUIRE_TOTP", str(d.require_totp))),
            export_max_rows=int(env.get("EXPORT_MAX_ROWS", d.export_max_rows)),
            export_link_hours=int(env.get("EXPORT_LINK_HOURS", d.export_link_hours)),
            export_job_timeout=int(env.get("EXPORT_JOB_TIMEOUT", d.export_job_timeout)),
            trusted_proxies=int(env.get("TRUSTED_PROXIES", d.trusted_proxies)),
            totp_step_minutes=int(env.get("STAFF_TOTP_STEP_MINUTES", d.totp_step_minutes)),
            ratelimit_storage_url=env.get("RATELIMIT_STORAGE_URL", jobs.redis_url or d.ratelimit_storage_url),
            public_url=env.get("BACKOFFICE_PUBLIC_URL", env.get("PUBLIC_URL", d.public_url)).rstrip("/"),
            allowed_hosts=tuple(h.strip().lower() for h in env.get("ALLOWED_HOSTS", ",".join(d.allowed_hosts))
                                .split(",") if h.strip()),
            invitation_hours=int(env.get("STAFF_INVITATION_HOURS", d.invitation_hours)),
        )

    def session_policy(self) -> SessionPolicy:
        """Idle time and absolute lifetime of staff sessions (kept on the server)."""
        return SessionPolicy(idle_minutes=self.session_idle_minutes, absolute_hours=self.session_absolute_hours)

    def sign_in_policy(self) -> StaffSignInPolicy:
        """Growing delays and timed lock of the staff sign-in."""
        return StaffSignInPolicy(delay_after_failures=self.signin_delay_after,
                                 lock_after_failures=self.signin_lock_after, lock_minutes=self.lock_minutes)

    def flask_settings(self) -> dict:
        """The Flask configuration keys derived from these settings."""
        return {
            "SECRET_KEY": self.secret_key,
            "SESSION_COOKIE_NAME": "mese_backoffice",
            "SESSION_COOKIE_SECURE": self.cookie_secure,
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Strict",
            "SESSION_COOKIE_PATH": self.mount_path,
            "PERMANENT_SESSION_LIFETIME": timedelta(minutes=self.session_idle_minutes),
            "SESSION_REFRESH_EACH_REQUEST": True,
            "REMEMBER_COOKIE_DURATION": timedelta(seconds=0),
            "MAX_CONTENT_LENGTH": 12 * 1024 * 1024,
            "TESTING": self.testing,
            "SQLALCHEMY_ENGINES": {"default": self.models.database_url},
            "BABEL_DEFAULT_LOCALE": "fr",
            "BABEL_DEFAULT_TIMEZONE": "Europe/Paris",
            **rate_limit_settings(self.ratelimit_storage_url, "mese-backoffice"),
        }

    def problems(self) -> list[str]:
        """Reasons this configuration must not start in production (empty when fine)."""
        issues = self.models.problems() + self.jobs.problems(self.models.is_production)
        if self.models.is_production:
            if self.secret_key == DEV_SECRET:
                issues.append("BACKOFFICE_SECRET_KEY uses the development secret")
            if not self.require_totp:
                issues.append("STAFF_REQUIRE_TOTP must be true in production")
        return issues
