"""Mapped classes of the five request types, their shared workflow columns and history."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from ..base import Base, StrEnumType, utcnow
from ..crypto import EncryptedString
from ..formats import mask_iban
from ..i18n import Message

if TYPE_CHECKING:
    from ..contracts.entities import Beneficiary
    from ..members.entities import Member
    from ..staff.entities import StaffUser


class RequestStatus(enum.StrEnum):
    """The one workflow every request follows."""

    NEW = "new"
    IN_PROGRESS = "in_progress"
    WAITING_MEMBER = "waiting_member"
    DONE = "done"
    REJECTED = "rejected"

    @property
    def label(self) -> Message:
        """The status as the member reads it (translatable)."""
        return _STATUS_LABELS[self.value]


_STATUS_LABELS = {
    "new": Message("Nouvelle"),
    "in_progress": Message("En cours de traitement"),
    "waiting_member": Message("En attente de votre part"),
    "done": Message("Traitée"),
    "rejected": Message("Refusée"),
}


OPEN_STATUSES = (RequestStatus.NEW, RequestStatus.IN_PROGRESS, RequestStatus.WAITING_MEMBER)


class RequestMixin:
    """Columns shared by every request: reference, status, owner, deadline, assignee."""

    #: Prefix of the human reference (PEC-2026-000123) and name of the queue.
    reference_prefix: ClassVar[str]
    kind: ClassVar[str]

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[RequestStatus] = mapped_column(StrEnumType(RequestStatus, 20), default=RequestStatus.NEW)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    due_on: Mapped[date]
    claimed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    resolution_note: Mapped[str | None] = mapped_column(Text, comment="reason given to the member")

    @declared_attr
    def member_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("member.id"), index=True)

    @declared_attr
    def assigned_to_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("staff_user.id"), index=True)

    @declared_attr
    def member(cls) -> Mapped[Member]:
        return relationship("Member")

    @declared_attr
    def assigned_to(cls) -> Mapped[StaffUser | None]:
        return relationship("StaffUser")

    @declared_attr.directive
    def __table_args__(cls):
        return (Index(f"ix_{cls.__tablename__}_queue", "status", "created_at", "id"),)

    def __str__(self) -> str:
        return self.reference


class HospitalCoverageRequest(RequestMixin, Base):
    """Prise en charge hospitalière: MESE faxes or e-mails a coverage letter to the admission service."""

    __tablename__ = "hospital_coverage_request"
    reference_prefix = "PEC"
    kind = "hospital_coverage"

    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"))
    establishment_name: Mapped[str] = mapped_column(String(200))
    finess: Mapped[str | None] = mapped_column(String(9))
    start_on: Mapped[date] = mapped_column(comment="Date de début d'hospitalisation")
    admission_fax: Mapped[str | None] = mapped_column(String(20))
    admission_email: Mapped[str | None] = mapped_column(String(254))
    no_coverage_notice_shown: Mapped[bool] = mapped_column(default=False)
    letter_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"))

    beneficiary: Mapped[Beneficiary] = relationship()


class DocumentSubmission(RequestMixin, Base):
    """Dépôt de documents: files of one category and type sent by a member."""

    __tablename__ = "document_submission"
    reference_prefix = "DOC"
    kind = "document"

    category_id: Mapped[int] = mapped_column(ForeignKey("document_category.id"))
    type_id: Mapped[int] = mapped_column(ForeignKey("document_type.id"))
    beneficiary_id: Mapped[int | None] = mapped_column(ForeignKey("beneficiary.id"))
    comment: Mapped[str] = mapped_column(Text, default="")


class DocumentSubmissionFile(Base):
    """One file of a document submission."""

    __tablename__ = "document_submission_file"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("document_submission.id"), index=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_file.id"))


class ContactRequest(RequestMixin, Base):
    """Contacter la mutuelle: a message about a reason and the beneficiary concerned."""

    __tablename__ = "contact_request"
    reference_prefix = "CTC"
    kind = "contact"

    reason_id: Mapped[int] = mapped_column(ForeignKey("contact_reason.id"))
    beneficiary_id: Mapped[int | None] = mapped_column(ForeignKey("beneficiary.id"))
    message: Mapped[str] = mapped_column(Text)


class BankDetailChangeRequest(RequestMixin, Base):
    """A change of the account reimbursements (or contributions) are paid to."""

    __tablename__ = "bank_detail_change_request"
    reference_prefix = "RIB"
    kind = "bank_details"

    beneficiary_id: Mapped[int | None] = mapped_column(ForeignKey("beneficiary.id"))
    holder: Mapped[str] = mapped_column(String(140))
    iban: Mapped[str] = mapped_column(EncryptedString())
    bic: Mapped[str] = mapped_column(String(11))
    rib_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"))

    @property
    def masked_iban(self) -> str:
        """The new IBAN, masked."""
        return mask_iban(self.iban)


class TeletransmissionRequest(RequestMixin, Base):
    """A request to switch on tele-transmission (NOEMIE) for a beneficiary."""

    __tablename__ = "teletransmission_request"
    reference_prefix = "TLT"
    kind = "teletransmission"

    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"))
    certificate_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"))


REQUEST_MODELS: dict[str, type[RequestMixin]] = {
    m.kind: m
    for m in (HospitalCoverageRequest, DocumentSubmission, ContactRequest, BankDetailChangeRequest,
              TeletransmissionRequest)
}


class RequestEvent(Base):
    """One step in a request's history: status change, note, message sent."""

    __tablename__ = "request_event"
    __table_args__ = (Index("ix_request_event_request", "request_kind", "request_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_kind: Mapped[str] = mapped_column(String(30))
    request_id: Mapped[int]
    at: Mapped[datetime] = mapped_column(default=utcnow)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    from_status: Mapped[RequestStatus | None] = mapped_column(StrEnumType(RequestStatus, 20))
    to_status: Mapped[RequestStatus | None] = mapped_column(StrEnumType(RequestStatus, 20))
    note: Mapped[str] = mapped_column(Text, default="")


class ReferenceCounter(Base):
    """Last number handed out per prefix and year, for gap-free human references."""

    __tablename__ = "reference_counter"

    prefix: Mapped[str] = mapped_column(String(10), primary_key=True)
    year: Mapped[int] = mapped_column(primary_key=True)
    last_value: Mapped[int] = mapped_column(default=0)
