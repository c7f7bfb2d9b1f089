"""Read-only questions about stored files."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .entities import StoredFile


def digests_sent_since(session: Session, member_id: int, digests: Iterable[str], since: datetime) -> set[str]:
    """The SHA-256 among ``digests`` of files ``member_id`` sent at or after ``since``."""
    wanted = set(digests)
    if not wanted:
        return set()
    return set(session.scalars(
        select(StoredFile.sha256).distinct()
        .where(StoredFile.member_id == member_id, StoredFile.sha256.in_(wanted), StoredFile.created_at >= since)
    ))
