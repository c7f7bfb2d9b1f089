"""Errors raised by use cases; each names the form field it belongs to, if any."""

from __future__ import annotations

from .i18n import Message


class DomainError(Exception):
    """A business rule refused the action; ``field`` says where to show ``message``."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class ValidationFailed(DomainError):
    """Several fields are wrong at once: ``errors`` maps field name to its messages."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__("; ".join(m for ms in errors.values() for m in ms))
        self.errors = errors


class NotFound(DomainError):
    """The object does not exist, or is not visible to this actor (same answer for both)."""

    def __init__(self, message: str = Message("Introuvable.")):
        super().__init__(message)


class InvalidTransition(DomainError):
    """A request cannot move from its current status to the one asked for."""
