"""Settings of the member area, read from the environment with one default each."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from jobs.config import JobsConfig
from models.config import ModelsConfig, env_flag
from models.files.uploads import UploadLimits
from models.members.security import SignInPolicy
from models.sessions.operations import SessionPolicy
from web import rate_limit_settings

DEV_SECRET = "dev-member-secret-change-me"


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
    # The sign-in settings below are not read from the environment yet (the README documents every
    # variable); tests and deployments that need other values build the config with them.
    #: Address of the member area in links sent by e-mail (e.g. https://adherents.mese.fr); empty: the
    #: address of the request, only when its host is one of ``allowed_hosts`` (a forged Host header never
    #: reaches an e-mail).
    public_url: str = ""
    #: Host names the member area answers as, used for e-mailed links when ``public_url`` is empty.
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1")
    #: PBKDF2 iterations per proof-of-work try (about half a second of a phone's time at 5000).
    captcha_cost: int = 5000
    captcha_minutes: int = 10
    sms_code_minutes: int = 5
    sms_code_attempts: int = 5
    sms_resend_seconds: int = 60
    sms_codes_per_hour: int = 5
    #: Consecutive failures before a growing delay (1, 2, 4... minutes), and before the account locks.
    signin_delay_after: int = 5
    signin_lock_after: int = 10
    signin_base_delay_seconds: int = 60
    #: Time allowed between the password step and the second factor.
    signin_pending_minutes: int = 10
    reset_link_minutes: int = 60
    #: A session ends this long after sign-in, however active (idle timeout: session_idle_minutes).
    session_absolute_hours: int = 12
    #: Per-address rate limits (flask-limiter syntax) of the sign-in forms.
    limit_signin: str = "10 per minute;60 per hour"
    limit_signin_identifier: str = "20 per hour"
    limit_codes: str = "15 per 15 minutes"
    limit_code_sends: str = "5 per 15 minutes"
    limit_account_forms: str = "10 per hour"
    limit_captcha: str = "30 per minute"

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
            cookie_secure=env_flag(env.get("COOKIE_SECURE", str(d.cookie_secure))),
            session_idle_minutes=int(env.get("SESSION_IDLE_MINUTES", d.session_idle_minutes)),
            remember_login_days=int(env.get("REMEMBER_LOGIN_DAYS", d.remember_login_days)),
            ratelimit_storage_url=env.get("RATELIMIT_STORAGE_URL", jobs.redis_url or d.ratelimit_storage_url),
            trusted_proxies=int(env.get("TRUSTED_PROXIES", d.trusted_proxies)),
            captcha_enabled=env_flag(env.get("CAPTCHA_ENABLED", str(d.captcha_enabled))),
            captcha_secret=env.get("CAPTCHA_SECRET", d.captcha_secret),
            public_url=env.get("PUBLIC_URL", d.public_url).rstrip("/"),
            allowed_hosts=tuple(h.strip().lower() for h in env.get("ALLOWED_HOSTS", ",".join(d.allowed_hosts))
                                .split(",") if h.strip()),
            captcha_cost=int(env.get("CAPTCHA_COST", d.captcha_cost)),
            sms_code_minutes=int(env.get("SMS_CODE_MINUTES", d.sms_code_minutes)),
            signin_delay_after=int(env.get("SIGNIN_DELAY_AFTER", d.signin_delay_after)),
            signin_lock_after=int(env.get("SIGNIN_LOCK_AFTER", d.signin_lock_after)),
            reset_link_minutes=int(env.get("RESET_LINK_MINUTES", d.reset_link_minutes)),
            session_absolute_hours=int(env.get("SESSION_ABSOLUTE_HOURS", d.session_absolute_hours)),
        )

    def sign_in_policy(self) -> SignInPolicy:
        """The numbers of the sign-in rules, for the use cases of models.members.security."""
        return SignInPolicy(
            delay_after_failures=self.signin_delay_after, lock_after_failures=self.signin_lock_after,
            base_delay_seconds=self.signin_base_delay_seconds, code_minutes=self.sms_code_minutes,
            code_attempts=self.sms_code_attempts, code_resend_seconds=self.sms_resend_seconds,
            codes_per_hour=self.sms_codes_per_hour, captcha_minutes=self.captcha_minutes,
            captcha_cost=self.captcha_cost, password_max_age_days=self.models.password_max_age_days,
        )

    def session_policy(self) -> SessionPolicy:
        """Idle time and absolute lifetime of member sessions (kept on the server)."""
        return SessionPolicy(idle_minutes=self.session_idle_minutes, absolute_hours=self.session_absolute_hours)

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
            # The files of one request (20 MB in all, models.files.uploads) and the form around them.
            "MAX_CONTENT_LENGTH": UploadLimits().max_total_bytes + 2 * 1024 * 1024,
            "WTF_CSRF_TIME_LIMIT": 4 * 3600,
            "TESTING": self.testing,
            "SQLALCHEMY_ENGINES": {"default": self.models.database_url},
            **rate_limit_settings(self.ratelimit_storage_url, "mese-member"),
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
            if not self.public_url.startswith("https://"):
                issues.append("PUBLIC_URL must be the https:// address of the member area in production")
            if not self.captcha_enabled:
                issues.append("CAPTCHA_ENABLED must be true in production")
        return issues
