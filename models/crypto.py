"""Encryption at rest of NIR and IBAN (AES-GCM) and blind indexes to look them up."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import String, TypeDecorator

from .config import DEV_FIELD_KEY

_FORMAT = "v1"
_state: dict[str, bytes] = {}


class DecryptionError(Exception):
    """A stored ciphertext could not be read with the configured key."""


def configure(field_key: str) -> None:
    """Install the base64 32-byte key used for every encrypted column of this process."""
    raw = base64.b64decode(field_key)
    if len(raw) != 32:
        raise ValueError("FIELD_ENCRYPTION_KEY must be 32 bytes, base64-encoded")
    _state["enc"] = hmac.new(raw, b"mese:encryption", hashlib.sha256).digest()
    _state["idx"] = hmac.new(raw, b"mese:blind-index", hashlib.sha256).digest()


def _key(name: str) -> bytes:
    if name not in _state:
        configure(DEV_FIELD_KEY)
    return _state[name]


def encrypt(plaintext: str) -> str:
    """Encrypt ``plaintext``; a fresh 96-bit nonce makes equal values differ."""
    nonce = os.urandom(12)
    ct = AESGCM(_key("enc")).encrypt(nonce, plaintext.encode(), _FORMAT.encode())
    return f"{_FORMAT}:{base64.urlsafe_b64encode(nonce + ct).decode()}"


def decrypt(token: str) -> str:
    """Decrypt a value made by :func:`encrypt`."""
    try:
        version, payload = token.split(":", 1)
        blob = base64.urlsafe_b64decode(payload)
        return AESGCM(_key("enc")).decrypt(blob[:12], blob[12:], version.encode()).decode()
    except Exception as exc:  # any tampering or wrong key ends here, without the data
        raise DecryptionError("encrypted field unreadable") from exc


def blind_index(canonical_value: str) -> str:
    """Keyed hash of a canonical value, to find a row without storing the value in clear."""
    return hmac.new(_key("idx"), canonical_value.encode(), hashlib.sha256).hexdigest()


class EncryptedString(TypeDecorator[str]):
    """A string column encrypted with AES-GCM; the database only sees ciphertext."""

    impl = String(255)
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect) -> str | None:
        return None if value is None else encrypt(value)

    def process_result_value(self, value: str | None, dialect) -> str | None:
        return None if value is None else decrypt(value)
