"""SMS channel: one JSON POST per message to the HTTP SMS gateway (stdlib only)."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

from models.outbox.entities import OutboxMessage

from ..config import JobsConfig
from .base import Attachment, DeliveryError, PermanentDeliveryError, tls_context

CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30


def _retry_after(value: str | None) -> int | None:
    try:
        return max(0, int(value)) if value else None
    except ValueError:
        return None  # an HTTP date: the backoff of the outbox applies


class SmsGatewayChannel:
    """POSTs ``{to, text, sender}`` to SMS_GATEWAY_URL with ``Authorization: Bearer SMS_GATEWAY_KEY``."""

    def __init__(self, config: JobsConfig):
        self.url = urlsplit(config.sms_gateway_url)
        self.key = config.sms_gateway_key
        self.sender = config.sms_sender

    def _connection(self) -> http.client.HTTPConnection:
        if self.url.scheme == "https":
            return http.client.HTTPSConnection(self.url.hostname, self.url.port, timeout=CONNECT_TIMEOUT,
                                               context=tls_context())
        if self.url.scheme == "http":
            return http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=CONNECT_TIMEOUT)
        raise PermanentDeliveryError(f"unsupported SMS gateway scheme {self.url.scheme!r}")

    def send(self, message: OutboxMessage, attachments: list[Attachment]) -> str:
        """Send an SMS; the receipt is the gateway's message id when it gives one."""
        body = json.dumps({"to": message.recipient, "text": message.text_body, "sender": self.sender}).encode()
        path = (self.url.path or "/") + (f"?{self.url.query}" if self.url.query else "")
        conn = self._connection()
        try:
            conn.connect()
            conn.sock.settimeout(READ_TIMEOUT)
            conn.request("POST", path, body=body, headers={
                "Content-Type": "application/json", "Accept": "application/json",
                "Authorization": f"Bearer {self.key}",
                # The same key on every attempt: a gateway that honours it sends a resent SMS only once.
                "Idempotency-Key": f"outbox-{message.id}",
            })
            response = conn.getresponse()
            answer = response.read(65536)
        except OSError as exc:
            raise DeliveryError(f"SMS gateway unreachable: {type(exc).__name__}: {exc}") from exc
        finally:
            conn.close()
        status = response.status
        if status in (408, 425, 429) or status >= 500:
            retry_after = _retry_after(response.getheader("Retry-After"))
            raise DeliveryError(f"SMS gateway HTTP {status}", retry_after=retry_after)
        if status >= 400:
            raise PermanentDeliveryError(f"SMS gateway HTTP {status}: {answer[:200].decode(errors='replace')}")
        if status >= 300:
            raise DeliveryError(f"SMS gateway HTTP {status}")
        try:
            gateway_id = json.loads(answer or b"{}").get("id")
        except (ValueError, AttributeError):
            gateway_id = None
        return f"sms:{gateway_id}" if gateway_id else f"sms:HTTP {status}"
