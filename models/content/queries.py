"""Reading staff-managed content for the member area."""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from .entities import NewsItem


def current_news(session: Session, today: date, limit: int = 5) -> list[NewsItem]:
    """Published news items whose period includes ``today``, newest first."""
    return list(session.scalars(
        select(NewsItem)
        .where(NewsItem.published, NewsItem.starts_on <= today,
               or_(NewsItem.ends_on.is_(None), NewsItem.ends_on >= today))
        .order_by(NewsItem.starts_on.desc(), NewsItem.id.desc())
        .limit(limit)
    ))
