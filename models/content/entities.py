"""Mapped classes of staff-managed content."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..base import Base, StrEnumType, TimestampMixin
from ..contracts.entities import ContractKind
from ..files.entities import StoredFile


class NewsItem(TimestampMixin, Base):
    """An item of the news banner of the home page."""

    __tablename__ = "news_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text, default="")
    link_url: Mapped[str | None] = mapped_column(String(500))
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    published: Mapped[bool] = mapped_column(default=True)

    def __str__(self) -> str:
        return self.title


class DocumentKind(enum.StrEnum):
    """Sections of the member area where a document is listed."""

    CONTRACTUAL = "contractual"
    INFORMATION = "information"
    FUTURE_RETIREE = "future_retiree"


class ContentDocument(TimestampMixin, Base):
    """A downloadable document: contractual (scales, forms) or information (Health Bulletins)."""

    __tablename__ = "content_document"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[DocumentKind] = mapped_column(StrEnumType(DocumentKind, 20))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    contract_kind: Mapped[ContractKind | None] = mapped_column(
        StrEnumType(ContractKind, 12), comment="only for members of this kind of contract; empty for all"
    )
    file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"))
    position: Mapped[int] = mapped_column(default=0)
    published: Mapped[bool] = mapped_column(default=True)

    file: Mapped[StoredFile | None] = relationship()

    def __str__(self) -> str:
        return self.title


class TermsVersion(Base):
    """A version of the terms of use; members accept the latest published one."""

    __tablename__ = "terms_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(20), unique=True)
    body: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime | None]

    def __str__(self) -> str:
        return self.version


class DocumentCategory(Base):
    """A category of the document submission form."""

    __tablename__ = "document_category"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    types: Mapped[list[DocumentType]] = relationship(back_populates="category", order_by="DocumentType.position")

    def __str__(self) -> str:
        return self.name


class DocumentType(Base):
    """A type of document within a category."""

    __tablename__ = "document_type"

    id: Mapped[int] = mapped_column(primary_key=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("document_category.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    category: Mapped[DocumentCategory] = relationship(back_populates="types")

    def __str__(self) -> str:
        return self.name


class ContactReason(Base):
    """A reason offered on the contact form."""

    __tablename__ = "contact_reason"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    def __str__(self) -> str:
        return self.name


class NoCoverageEstablishment(Base):
    """An establishment (or place) where the member card suffices, or an exception to such a place.

    ``match_terms`` are words that must all appear in the establishment name typed by the member
    (accents and case ignored). Rows with ``needs_coverage`` true are exceptions and win.
    """

    __tablename__ = "no_coverage_establishment"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    match_terms: Mapped[str] = mapped_column(String(200))
    needs_coverage: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)

    def __str__(self) -> str:
        return self.label


class ServiceLink(TimestampMixin, Base):
    """A web address (and its text) of "Services et outils" that staff keep up to date.

    ``key`` names the place of the link in the member area (see ``models.content.services.SERVICE_LINKS``);
    a key without a row shows the product's default address and text.
    """

    __tablename__ = "service_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(40), unique=True)
    label: Mapped[str] = mapped_column(String(200), comment="the link's text")
    url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(Text, default="", comment="the text shown with the link")

    def __str__(self) -> str:
        return self.label


class ContentDocumentVersion(Base):
    """A PDF uploaded for a downloadable document; every upload is kept, the document points at the latest."""

    __tablename__ = "content_document_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("content_document.id", ondelete="CASCADE"), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_file.id"))
    uploaded_at: Mapped[datetime]
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
