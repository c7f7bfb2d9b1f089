"""SMTP channel through Flask-Mail, inside a minimal Flask app built once per process and settings.

A worker keeps one SMTP connection open and sends message after message on it (one session per
message and a TLS context per message cost most of the time of a delivery); the TLS context is
made once, and only when TLS is on.
"""

from __future__ import annotations

import os
import select
import smtplib
import threading
import time
import uuid
from email.charset import BASE64, Charset
from email.encoders import encode_base64
from email.header import Header
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache

from flask import Flask
from flask_mail import Connection, Mail, Message

from models.outbox.entities import OutboxMessage

from ..config import JobsConfig
from .base import Attachment, DeliveryError, PermanentDeliveryError, message_id_for, tls_context


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


def _charset(header_encoding, body_encoding) -> Charset:
    charset = Charset("utf-8")
    charset.header_encoding, charset.body_encoding = header_encoding, body_encoding
    return charset


# Flask-Mail registers utf-8 as "shortest" headers (measured character by character in Python, most
# of the cost of a message) and unwrapped 8bit bodies (a line over 998 bytes is refused by SMTP
# servers, RFC 5321 4.5.3.1.6). Headers here are base64 words; bodies stay 8bit while their lines
# fit, else base64 (both encoders are C code).
_HEADER_CHARSET = _charset(BASE64, None)
_SHORT_LINES = _charset(BASE64, None)
_LONG_LINES = _charset(BASE64, BASE64)
_MAX_LINE = 998
#: The classic header handling (no header parsing on output), with SMTP's line ends.
_SMTP_LINES = compat32.clone(linesep="\r\n")


class _Message(Message):
    """Flask-Mail's message, assembled the same way with cheaper encodings (see the charsets above)."""

    def _mimetext(self, text: str | None, subtype: str = "plain") -> MIMEText:
        text = text or ""
        long_lines = any(len(line.encode()) > _MAX_LINE for line in text.splitlines())
        return MIMEText(text, _subtype=subtype, _charset=_LONG_LINES if long_lines else _SHORT_LINES)

    def as_bytes(self) -> bytes:
        return self._message().as_bytes(policy=_SMTP_LINES)

    def _message(self) -> MIMEBase:
        attachments = self.attachments or []
        if not attachments and not self.alts:
            msg: MIMEBase = self._mimetext(self.body)
        else:
            msg = MIMEMultipart(boundary=_boundary())
            if self.alts:
                body: MIMEBase = MIMEMultipart("alternative", boundary=_boundary())
                body.attach(self._mimetext(self.body, "plain"))
                for subtype, content in self.alts.items():
                    body.attach(self._mimetext(content, subtype))
            else:
                body = self._mimetext(self.body)
            msg.attach(body)
        if self.subject:
            msg["Subject"] = self.subject if self.subject.isascii() else Header(self.subject, _HEADER_CHARSET)
        msg["From"] = _address(self.sender)
        msg["To"] = ", ".join(dict.fromkeys(_address(r) for r in self.recipients))
        msg["Date"] = formatdate(self.date, localtime=True)
        msg["Message-ID"] = self.msgId
        for name, value in (self.extra_headers or {}).items():
            msg[name] = value
        for attachment in attachments:
            part = MIMEBase(*attachment.content_type.split("/", 1))
            part.set_payload(attachment.data)
            encode_base64(part)
            filename = attachment.filename or "document"
            if filename.isascii():
                part.add_header("Content-Disposition", attachment.disposition, filename=filename)
            else:
                part.add_header("Content-Disposition", attachment.disposition, filename=("UTF-8", "", filename))
            msg.attach(part)
        return msg


def _boundary() -> str:
    # Given, not searched for: the generator would otherwise compile a regular expression per message.
    return f"=_mese_{uuid.uuid4().hex}"


def _address(address: str) -> str:
    name, email_address = parseaddr(address)
    local, _, domain = email_address.rpartition("@")
    if not domain.isascii():
        domain = domain.encode("idna").decode("ascii")
    if not local.isascii():
        raise UnicodeError(f"non-ASCII local part in {email_address!r}")
    return formataddr((name, f"{local}@{domain}" if local else domain), charset=_HEADER_CHARSET)


class _TimedConnection(Connection):
    """Flask-Mail's connection with a timeout and verified TLS (Flask-Mail has neither, issue #114)."""

    def __init__(self, mail, timeout: float):
        super().__init__(mail)
        self.timeout = timeout

    def configure_host(self) -> smtplib.SMTP:
        if self.mail.use_ssl:
            host: smtplib.SMTP = smtplib.SMTP_SSL(self.mail.server, self.mail.port, timeout=self.timeout,
                                                  context=tls_context())
        else:
            host = smtplib.SMTP(self.mail.server, self.mail.port, timeout=self.timeout)
        if self.mail.use_tls:
            host.starttls(context=tls_context())
        if self.mail.username and self.mail.password:
            host.login(self.mail.username, self.mail.password)
        return host

    def close(self) -> None:
        """Say goodbye if the server still listens, else just drop the socket."""
        if self.host is not None:
            try:
                self.host.quit()
            except (smtplib.SMTPException, OSError):
                self.host.close()
            self.host = None


class SmtpSession:
    """One SMTP connection kept open across messages, reopened when the server hung up (checked without a round
    trip before each message, and with NOOP after a pause)."""

    #: After this many idle seconds, the server may have hung up: check with NOOP before sending.
    CHECK_AFTER_IDLE = 5.0

    def __init__(self, app: Flask, timeout: float):
        self.app = app
        self.timeout = timeout
        self.connection: _TimedConnection | None = None
        self.last_used = 0.0
        self.lock = threading.Lock()

    def send(self, msg: Message) -> None:
        """Send ``msg`` on the open connection (opened or reopened as needed); a failure closes it."""
        with self.lock, self.app.app_context():
            try:
                connection = self._usable_connection()
                connection.send(msg)
                self.last_used = time.monotonic()
            except BaseException:
                self.reset()
                raise

    def _usable_connection(self) -> _TimedConnection:
        if self.connection is not None and _hung_up(self.connection.host.sock):
            self.reset()  # the server closed it (or said goodbye) while we were not sending: nothing was lost
        if self.connection is not None and time.monotonic() - self.last_used > self.CHECK_AFTER_IDLE:
            try:
                if self.connection.host.noop()[0] != 250:
                    self.reset()
            except (smtplib.SMTPException, OSError):
                self.reset()
        if self.connection is None:
            connection = _TimedConnection(self.app.extensions["mail"], self.timeout)
            connection.host = connection.configure_host()
            self.connection = connection
        return self.connection

    def reset(self) -> None:
        """Close the connection; the next message opens a new one."""
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _hung_up(sock) -> bool:
    """Whether an idle SMTP connection has something to read: end of stream or a closing reply (no round trip)."""
    if sock is None:
        return True
    try:
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True


_sessions: dict[JobsConfig, SmtpSession] = {}
_sessions_lock = threading.Lock()


def smtp_session(config: JobsConfig) -> SmtpSession:
    """The SMTP session of this process for ``config`` (a forked child opens its own)."""
    with _sessions_lock:
        found = _sessions.get(config)
        if found is None:
            found = _sessions[config] = SmtpSession(mail_app(config), config.mail_timeout_seconds)
        return found


def _forget_sessions_after_fork() -> None:
    # A child must not write on its parent's socket: drop the objects without saying QUIT.
    _sessions.clear()


os.register_at_fork(after_in_child=_forget_sessions_after_fork)


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
        msg = _Message(subject=subject, recipients=[to], body=text, html=html or None,
                      sender=self.config.mail_sender, extra_headers={"X-Outbox-Id": str(outbox_id)})
        msg.msgId = message_id_for(outbox_id, self.config.mail_sender)
        for attachment in attachments:
            msg.attach(attachment.filename, attachment.content_type, attachment.data)
        try:
            smtp_session(self.config).send(msg)
        except (smtplib.SMTPException, OSError) as exc:
            raise _classify(exc) from exc
        except UnicodeError as exc:  # an address that cannot be written in SMTP: retrying will not help
            raise PermanentDeliveryError(f"address or header not encodable: {exc}") from exc
        return f"smtp:{msg.msgId}"
