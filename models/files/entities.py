"""Mapped class of stored files."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base, utcnow


class StoredFile(Base):
    """A file kept by the storage: its SHA-256 names it on disk."""

    __tablename__ = "stored_file"
    # Answers "did this member already send these bytes lately?" from the index alone.
    __table_args__ = (Index("ix_stored_file_member_recent", "member_id", "sha256", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int]
    content_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(255), comment="display name only; never a path")
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("member.id"), comment="the member who sent the file; empty for files MESE made")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
