"""SMTP channel through Flask-Mail, inside a minimal Flask app built once per process and settings."""

from __future__ import annotations

import smtplib
import ssl
from functools import lru_cache

from flask import Flask
from flask_mail import Connection, Mail, Message

from models.outbox.entities import OutboxMessage

from ..config import JobsConfig
from .base import Attachment, DeliveryError, PermanentDeliveryError, message_id_for


@lru_cache(maxsize=8)
def mail_app(config: JobsConfig) -> Flask:
    """A Flask app holding only the mail settings and Flask-Mail (no blueprints, no web app import)."""
    app = Flask("jobs.mail")
    app.config.update(
        MAIL_SERVER=config.mail_server,
        MAIL_PORT=config.mail_port,
        MAIL_USE_TLS=config.mail_use_tls,
        MAIL_USE_SSL=config.mail_use_ssl,
        MAIL_USERNAME=config.mail_username or None,
        MAIL_PASSWORD=config.mail_password or None,
        MAIL_DEFAULT_SENDER=config.mail_sender,
        # Flask-Mail reads this once in init_app; a job really sends, whatever TESTING says.
        MAIL_SUPPRESS_SEND=False,
    )
    Mail(app)
    return app


class _TimedConnection(Connection):
    """Flask-Mail's connection with a timeout and verified TLS (Flask-Mail has neither, issue #114)."""

    def __init__(self, mail, timeout: float):
        super().__init__(mail)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        if self.mail.use_ssl:
            host: smtplib.SMTP = smtplib.SMTP_SSL(self.mail.server, self.mail.port, timeout=self.timeout,
                                                  context=context)
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=self.timeout)
        if self.mail.use_tls:
            host.starttls(context=context)
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host

    def __exit__(self, exc_type, exc_value, tb) -> None:
        if self.host is not None:
            try:
                self.host.quit()
            except (smtplib.SMTPException, OSError):
                self.host.close()


def _classify(exc: Exception) -> DeliveryError:
    """Map an SMTP failure to a retryable or a permanent delivery error."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _reply in exc.recipients.values()]
        text = "; ".join(f"{code} {reply.decode(errors='replace')}" for code, reply in exc.recipients.values())
        error_class = PermanentDeliveryError if codes and all(500 <= c < 600 for c in codes) else DeliveryError
        return error_class(f"recipient refused: {text}")
    if isinstance(exc, smtplib.SMTPDataError):
        reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        # 5xx after DATA is the server refusing this message for good; 4xx is "try again later".
        error_class = PermanentDeliveryError if 500 <= exc.smtp_code < 600 else DeliveryError
        return error_class(f"SMTP {exc.smtp_code} {reply}")
    # Connection, authentication and sender problems are the server's or ours, not the message's: retry.
    return DeliveryError(f"{type(exc).__name__}: {exc}")


class MailChannel:
    """Sends e-mails (French text and HTML bodies, attachments) to the configured SMTP server."""

    def __init__(self, config: JobsConfig):
        self.config = config

    def send(self, message: OutboxMessage, attachments: list[Attachment]) -> str:
        """Send an e-mail outbox message; the receipt is its Message-ID."""
        return self.send_mail(to=message.recipient, subject=message.subject, text=message.text_body,
                              html=message.html_body, attachments=attachments, outbox_id=message.id)

    def send_mail(self, *, to: str, subject: str, text: str, html: str | None, attachments: list[Attachment],
                  outbox_id: int) -> str:
        """Send one e-mail through SMTP, marked with ``X-Outbox-Id``; raises DeliveryError on failure."""
        app = mail_app(self.config)
        msg = Message(subject=subject, recipients=[to], body=text, html=html or None,
                      sender=self.config.mail_sender, extra_headers={"X-Outbox-Id": str(outbox_id)})
        msg.msgId = message_id_for(outbox_id, self.config.mail_sender)
        for attachment in attachments:
            msg.attach(attachment.filename, attachment.content_type, attachment.data)
        with app.app_context():
            try:
                with _TimedConnection(app.extensions["mail"], self.config.mail_timeout_seconds) as conn:
                    conn.send(msg)
            except (smtplib.SMTPException, OSError) as exc:
                raise _classify(exc) from exc
            except UnicodeError as exc:  # an address that cannot be written in SMTP: retrying will not help
                raise PermanentDeliveryError(f"address or header not encodable: {exc}") from exc
        return f"smtp:{msg.msgId}"
