"""Settings of the jobs layer: queue, channels, retries (see the README's configuration table)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from models.config import ROOT, env_flag


@dataclass(frozen=True)
class JobsConfig:
    """Where jobs run and how messages leave."""

    #: Empty: embedded mode, messages are delivered in-process right after commit.
    redis_url: str = ""
    queue_name: str = "mese"
    #: Folder where the folder channel writes e-mails, SMS and faxes as readable files.
    outbox_dir: Path = ROOT / "var" / "outbox"
    mail_server: str = ""
    mail_port: int = 25
    mail_use_tls: bool = False
    mail_use_ssl: bool = False
    mail_username: str = ""
    mail_password: str = ""
    mail_sender: str = "MESE <ne-pas-repondre@mese.fr>"
    mail_timeout_seconds: int = 20
    #: E-mail-to-fax gateway: a fax to 0476605636 is mailed to 0476605636@<domain>.
    fax_gateway_domain: str = ""
    sms_gateway_url: str = ""
    sms_gateway_key: str = ""
    sms_sender: str = "MESE"
    #: Seconds between two relay passes; a pass whose batch was full is followed by another at once.
    relay_interval_seconds: int = 5
    #: Most messages one relay pass hands to the queue (and most it checks with RQ).
    relay_batch_size: int = 100
    #: Last resort: a message enqueued longer ago than this is enqueued again, whatever RQ says.
    requeue_after_seconds: int = 900
    #: Delivery processes (non-forking RQ workers) started by one ``mese worker``.
    worker_processes: int = 1
    #: Hard limit of one delivery job in the worker.
    job_timeout_seconds: int = 180
    #: Delays between delivery attempts; after the last one the message is dead.
    retry_delays_seconds: tuple[int, ...] = field(default=(30, 120, 600, 1800, 7200, 21600))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> JobsConfig:
        """Build the settings from ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        d = cls()
        delays = env.get("OUTBOX_RETRY_DELAYS")
        return cls(
            redis_url=env.get("REDIS_URL", d.redis_url),
            queue_name=env.get("RQ_QUEUE", d.queue_name),
            outbox_dir=Path(env.get("OUTBOX_DIR", str(d.outbox_dir))),
            mail_server=env.get("MAIL_SERVER", d.mail_server),
            mail_port=int(env.get("MAIL_PORT", d.mail_port)),
            mail_use_tls=env_flag(env.get("MAIL_USE_TLS", str(d.mail_use_tls))),
            mail_use_ssl=env_flag(env.get("MAIL_USE_SSL", str(d.mail_use_ssl))),
            mail_username=env.get("MAIL_USERNAME", d.mail_username),
            mail_password=env.get("MAIL_PASSWORD", d.mail_password),
            mail_sender=env.get("MAIL_DEFAULT_SENDER", d.mail_sender),
            mail_timeout_seconds=int(env.get("MAIL_TIMEOUT", d.mail_timeout_seconds)),
            fax_gateway_domain=env.get("FAX_GATEWAY_DOMAIN", d.fax_gateway_domain),
            sms_gateway_url=env.get("SMS_GATEWAY_URL", d.sms_gateway_url),
            sms_gateway_key=env.get("SMS_GATEWAY_KEY", d.sms_gateway_key),
            sms_sender=env.get("SMS_SENDER", d.sms_sender),
            relay_interval_seconds=int(env.get("OUTBOX_RELAY_INTERVAL", d.relay_interval_seconds)),
            relay_batch_size=int(env.get("OUTBOX_RELAY_BATCH", d.relay_batch_size)),
            requeue_after_seconds=int(env.get("OUTBOX_REQUEUE_AFTER", d.requeue_after_seconds)),
            worker_processes=max(1, int(env.get("WORKER_PROCESSES", d.worker_processes))),
            job_timeout_seconds=int(env.get("RQ_JOB_TIMEOUT", d.job_timeout_seconds)),
            retry_delays_seconds=tuple(int(x) for x in delays.split(",")) if delays else d.retry_delays_seconds,
        )

    @property
    def embedded(self) -> bool:
        """True when there is no Redis: messages are delivered in-process after commit."""
        return not self.redis_url

    def problems(self, production: bool) -> list[str]:
        """Reasons this configuration must not start in production (empty when fine)."""
        issues = []
        if production:
            if not self.redis_url:
                issues.append("REDIS_URL is required in production")
            if not self.mail_server:
                issues.append("MAIL_SERVER is required in production")
            # Without them, faxes and SMS would be written to a local folder and counted as sent.
            if not self.fax_gateway_domain:
                issues.append("FAX_GATEWAY_DOMAIN is required in production")
            if not self.sms_gateway_url:
                issues.append("SMS_GATEWAY_URL is required in production")
        return issues
