"""Reading staff-managed content for the member area."""

from __future__ import annotations

from datetime import date

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from .entities import ContactReason, DocumentCategory, DocumentType, NewsItem


def current_news(session: Session, today: date, limit: int = 5) -> list[NewsItem]:
    """Published news items whose period includes ``today``, newest first."""
    return list(session.scalars(
        select(NewsItem)
        .where(NewsItem.published, NewsItem.starts_on <= today,
               or_(NewsItem.ends_on.is_(None), NewsItem.ends_on >= today))
        .order_by(NewsItem.starts_on.desc(), NewsItem.id.desc())
        .limit(limit)
    ))


def document_categories(session: Session) -> list[DocumentCategory]:
    """Active document categories that offer at least one active type, in the staff's order, types loaded."""
    categories = session.scalars(
        select(DocumentCategory).where(DocumentCategory.active)
        .options(selectinload(DocumentCategory.types))
        .order_by(DocumentCategory.position, DocumentCategory.id)
    ).all()
    return [c for c in categories if active_types(c)]


def active_types(category: DocumentCategory) -> list[DocumentType]:
    """The active types of ``category``, in the staff's order."""
    return [t for t in category.types if t.active]


def contact_reasons(session: Session) -> list[ContactReason]:
    """Active reasons of the contact form, in the staff's order."""
    return list(session.scalars(
        select(ContactReason).where(ContactReason.active).order_by(ContactReason.position, ContactReason.id)))
