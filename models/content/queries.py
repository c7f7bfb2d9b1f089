"""Reading staff-managed content for the member area."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from itertools import groupby

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session, joinedload, selectinload

from ..db import DriverRead
from ..files.entities import StoredFile
from .cache import cached
from .entities import ContactReason, ContentDocument, DocumentCategory, DocumentKind, DocumentType, NewsItem


@dataclass(frozen=True)
class NewsLine:
    """A news item as the home page's banner shows it."""

    title: str
    body: str
    link_url: str | None


#: Built once (values as parameters; also below): a statement object keeps its SQLAlchemy cache key, computed
#: again with a new statement on every page.
_CURRENT_NEWS = (select(NewsItem.title, NewsItem.body, NewsItem.link_url)
                 .where(NewsItem.published, NewsItem.starts_on <= bindparam("today"),
                        or_(NewsItem.ends_on.is_(None), NewsItem.ends_on >= bindparam("today")))
                 .order_by(NewsItem.starts_on.desc(), NewsItem.id.desc())
                 .limit(bindparam("limit")))


def current_news(session: Session, today: date, limit: int = 5) -> list[NewsLine]:
    """Published news items whose period includes ``today``, newest first (a short-lived copy per day:
    models.content.cache)."""
    return list(cached(session, "current_news", lambda: tuple(
        NewsLine(*row) for row in session.execute(_CURRENT_NEWS, {"today": today, "limit": limit})), today, limit))


def document_categories(session: Session) -> list[DocumentCategory]:
    """Active document categories that offer at least one active type, in the staff's order, types loaded."""
    categories = session.scalars(
        select(DocumentCategory).where(DocumentCategory.active)
        .options(selectinload(DocumentCategory.types))
        .order_by(DocumentCategory.position, DocumentCategory.id)
    ).all()
    return [c for c in categories if active_types(c)]


@dataclass(frozen=True)
class CategoryChoice:
    """A category of the documents form with its active types, as (id, name) pairs in the staff's order."""

    id: int
    name: str
    types: tuple[tuple[int, str], ...]


#: Statements of the forms' choices, built once: a statement object keeps its SQLAlchemy cache key, computed
#: again with a new statement on every page.
_DOCUMENT_CHOICES = (select(DocumentCategory.id, DocumentCategory.name, DocumentType.id, DocumentType.name)
                     .join(DocumentType, DocumentType.category_id == DocumentCategory.id)
                     .where(DocumentCategory.active, DocumentType.active)
                     .order_by(DocumentCategory.position, DocumentCategory.id, DocumentType.position, DocumentType.id))
_CONTACT_REASON_CHOICES = (select(ContactReason.id, ContactReason.name).where(ContactReason.active)
                           .order_by(ContactReason.position, ContactReason.id))


def document_choices(session: Session) -> list[CategoryChoice]:
    """What :func:`document_categories` offers, as plain rows of the shown columns (one query, no ORM objects):
    active categories having an active type, each with its active types, in the staff's order (a short-lived
    copy: models.content.cache)."""
    return list(cached(session, "document_choices", lambda: tuple(
        CategoryChoice(id_, name, tuple((t_id, t_name) for _i, _n, t_id, t_name in types))
        for (id_, name), types in groupby(session.execute(_DOCUMENT_CHOICES), key=lambda row: (row[0], row[1])))))


def active_types(category: DocumentCategory) -> list[DocumentType]:
    """The active types of ``category``, in the staff's order."""
    return [t for t in category.types if t.active]


def contact_reason_choices(session: Session) -> list[tuple[int, str]]:
    """Active reasons of the contact form as (id, name), in the staff's order (plain rows; a short-lived copy:
    models.content.cache)."""
    return list(cached(session, "contact_reason_choices",
                       lambda: tuple((id_, name) for id_, name in session.execute(_CONTACT_REASON_CHOICES))))


def contact_reasons(session: Session) -> list[ContactReason]:
    """Active reasons of the contact form, in the staff's order."""
    return list(session.scalars(
        select(ContactReason).where(ContactReason.active).order_by(ContactReason.position, ContactReason.id)))


def _member_contract_kinds(member_id: int, today: date):
    """The kinds of the member's contracts in force on ``today`` (a subquery)."""
    from ..contracts.entities import Contract

    return (select(Contract.kind).where(Contract.member_id == member_id,
                                        or_(Contract.ended_on.is_(None), Contract.ended_on >= today))
            .scalar_subquery())


def _visible_documents(member_id: int, today: date):
    return (select(ContentDocument)
            .where(ContentDocument.published, ContentDocument.file_id.is_not(None),
                   or_(ContentDocument.contract_kind.is_(None),
                       ContentDocument.contract_kind.in_(_member_contract_kinds(member_id, today)))))


@dataclass(frozen=True)
class ListedDocument:
    """A document of a section as its list shows it: id, title, description, and the size of its file in bytes."""

    id: int
    title: str
    description: str
    size: int


#: Built once (values as parameters): a statement object keeps its SQLAlchemy cache key, computed again with a
#: new statement on every page.
_MEMBER_DOCUMENTS = DriverRead(
    select(ContentDocument.id, ContentDocument.title, ContentDocument.description, StoredFile.size)
    .join(StoredFile, StoredFile.id == ContentDocument.file_id)
    .where(ContentDocument.published, ContentDocument.kind == bindparam("kind"),
           or_(ContentDocument.contract_kind.is_(None), ContentDocument.contract_kind.in_(
               _member_contract_kinds(bindparam("member_id"), bindparam("today")))))
    .order_by(ContentDocument.position, ContentDocument.id))


def member_documents(session: Session, member_id: int, kind: DocumentKind, today: date) -> list[ListedDocument]:
    """Published documents of one section (contractual, information...) the member's contracts may see: those for
    every member, and those for the kind (collective, individual) of a contract of the member in force; in the
    staff's order, each with the size of its file (one query of the shown columns, on the driver)."""
    return [ListedDocument(*row) for row in _MEMBER_DOCUMENTS.rows(
        session, {"kind": kind, "member_id": member_id, "today": today})]


def member_documents_reads(kind: DocumentKind, today: date) -> list[tuple[DriverRead, dict]]:
    """What :func:`member_documents` reads (each read with its parameters but ``member_id``: models.db.DriverRead.first_with)."""
    return [(_MEMBER_DOCUMENTS, {"kind": kind, "today": today})]


def member_document(session: Session, member_id: int, document_id: int, today: date) -> ContentDocument | None:
    """A published document the member's contracts may see, with its file; None for any other (the page: 404)."""
    return session.scalar(_visible_documents(member_id, today).where(ContentDocument.id == document_id)
                          .options(joinedload(ContentDocument.file)))
