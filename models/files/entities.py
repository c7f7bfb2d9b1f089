"""Mapped class of stored files."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base, utcnow


class StoredFile(Base):
    """A file kept by the storage: its SHA-256 names it on disk."""

    __tablename__ = "stored_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    content_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(255), comment="display name only; never a path")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
