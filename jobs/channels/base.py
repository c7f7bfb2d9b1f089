"""What every channel shares: the attachment type, the send interface and the two kinds of failure."""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol

from models.outbox.entities import OutboxMessage

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9._ \-àâäçéèêëîïôöùûüÿœæÀÂÄÇÉÈÊËÎÏÔÖÙÛÜŸŒÆ]+")


@dataclass(frozen=True)
class Attachment:
    """A document joined to a message."""

    filename: str
    content_type: str
    data: bytes


class DeliveryError(Exception):
    """A send failed but may work later; ``retry_after`` is the gateway's own wish, in seconds."""

    def __init__(self, message: str, *, retry_after: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(DeliveryError):
    """A send failed for good (address refused, request invalid): retrying cannot help."""


class Sender(Protocol):
    """One way out: returns what the far end answered (the receipt), or raises DeliveryError."""

    def send(self, message: OutboxMessage, attachments: list[Attachment]) -> str:
        """Send ``message`` with ``attachments``."""


def safe_filename(name: str, default: str = "document") -> str:
    """A display name reduced to a harmless file name (no folders, no control characters)."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_FILENAME.sub("_", name).strip(" .")
    return name[:120] or default


def message_id_for(outbox_id: int, sender: str) -> str:
    """The Message-ID of an outbox e-mail: the same on every attempt, so receivers can drop a duplicate."""
    domain = sender.rsplit("@", 1)[-1].strip("> ") or "mese.invalid"
    return f"<outbox-{outbox_id}@{domain}>"


@lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """The verified TLS context of the channels, made once per process (loading system certificates takes ~30 ms)."""
    return ssl.create_default_context()
