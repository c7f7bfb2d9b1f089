"""Mapped class of the exports built by a job (XLSX), with their progress and the life of their link."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base, StrEnumType, utcnow


class ExportStatus(enum.StrEnum):
    """Where an export job is: queued, running (with its progress), done (file ready) or failed."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class ExportJob(Base):
    """One export asked by a manager or an admin: what, with which filters, how far along, until when."""

    __tablename__ = "export_job"
    __table_args__ = (Index("ix_export_job_requested_by", "requested_by_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), comment="requests, outbox or audit")
    format: Mapped[str] = mapped_column(String(10), default="xlsx")
    #: The filters as the export form gave them (period, types, statuses), for the job and the audit trail.
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[ExportStatus] = mapped_column(StrEnumType(ExportStatus, 10), default=ExportStatus.QUEUED)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("staff_user.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    rows_total: Mapped[int | None] = mapped_column(comment="rows to write, counted when the job starts")
    rows_done: Mapped[int] = mapped_column(default=0)
    file_name: Mapped[str | None] = mapped_column(String(80), comment="name of the file in FILES_DIR/exports")
    download_name: Mapped[str] = mapped_column(String(120), default="")
    expires_at: Mapped[datetime] = mapped_column(comment="the download link answers until then, then the file goes")
    error: Mapped[str | None] = mapped_column(Text)

    @property
    def progress(self) -> int:
        """Percentage of rows written (100 once done)."""
        if self.status is ExportStatus.DONE:
            return 100
        if not self.rows_total:
            return 0
        return min(99, self.rows_done * 100 // self.rows_total)

    def expired(self, now: datetime) -> bool:
        """True once the download link no longer answers."""
        return now >= self.expires_at
