"""Mapped classes of the five request types, their shared workflow columns and history."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING, ClassVar

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column, relationship

from ..base import Base, StrEnumType, utcnow
from ..crypto import EncryptedString
from ..formats import mask_bic, mask_iban
from ..i18n import Message

if TYPE_CHECKING:
    from ..content.entities import ContactReason, DocumentCategory, DocumentType
    from ..contracts.entities import BankAccount, Beneficiary
    from ..files.entities import StoredFile
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
#: The open statuses as SQL, for the partial indexes of open requests (queries must say it the same way).
OPEN_STATUSES_SQL = "status IN (" + ", ".join(f"'{s.value}'" for s in OPEN_STATUSES) + ")"
#: Statuses whose clock runs: a request waiting for the member is paused, never late.
RUNNING_STATUSES = (RequestStatus.NEW, RequestStatus.IN_PROGRESS)


class Action(enum.StrEnum):
    """What a staff member can do to a request of a queue (models.requests.workflow says when)."""

    CLAIM = "claim"
    RELEASE = "release"
    REASSIGN = "reassign"
    ASK_MEMBER = "ask_member"
    REJECT = "reject"
    CLOSE = "close"
    APPROVE = "approve"
    CLASSIFY = "classify"
    REPLY = "reply"
    PROPOSE = "propose"
    RETURN = "return"


class RequestMixin:
    """Columns shared by every request: reference, status, owner, deadline, assignee."""

    #: Prefix of the human reference (PEC-2026-000123) and name of the queue.
    reference_prefix: ClassVar[str]
    kind: ClassVar[str]
    #: The kind of request as the member reads it in "Mes demandes".
    type_label: ClassVar[Message]
    #: Actions of this type that only the agent holding the request may take, with the statuses they need
    #: (claim, release and reassign are the same for every type: models.requests.workflow).
    holder_actions: ClassVar[dict[Action, frozenset[RequestStatus]]] = {}

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[RequestStatus] = mapped_column(StrEnumType(RequestStatus, 20), default=RequestStatus.NEW)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    due_on: Mapped[date]
    claimed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    waiting_since: Mapped[datetime | None] = mapped_column(comment="since when the member is asked for something")
    resolution_note: Mapped[str | None] = mapped_column(Text, comment="reason given to the member")

    @declared_attr
    def member_id(cls) -> Mapped[int]:
        return mapped_column(ForeignKey("member.id"))

    @declared_attr
    def assigned_to_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("staff_user.id"))

    @declared_attr
    def member(cls) -> Mapped[Member]:
        return relationship("Member")

    @declared_attr
    def assigned_to(cls) -> Mapped[StaffUser | None]:
        return relationship("StaffUser", foreign_keys=f"{cls.__name__}.assigned_to_id")

    @declared_attr.directive
    def __table_args__(cls):
        # One index per way the back office reads a queue (see README "Fast lists"): each list's filter and
        # order, the open requests (a small part of the table) on their own, an agent's own requests, a
        # member's requests, and the dates the dashboard and exports count by.
        name, open_rows = cls.__tablename__, text(OPEN_STATUSES_SQL)
        return (Index(f"ix_{name}_queue", "status", "created_at", "id"),
                Index(f"ix_{name}_due", "status", "due_on"),
                Index(f"ix_{name}_open", "created_at", "id", postgresql_where=open_rows, sqlite_where=open_rows),
                Index(f"ix_{name}_open_assigned", "assigned_to_id", "created_at", "id", postgresql_where=open_rows,
                      sqlite_where=open_rows),
                Index(f"ix_{name}_created", "created_at", "id"),
                Index(f"ix_{name}_closed", "closed_at"),
                Index(f"ix_{name}_assigned", "assigned_to_id", "created_at", "id"),
                Index(f"ix_{name}_member", "member_id", "created_at", "id"))

    def __str__(self) -> str:
        return self.reference


_S = RequestStatus
_WORKING = frozenset({_S.IN_PROGRESS})
_WORKING_OR_WAITING = frozenset({_S.IN_PROGRESS, _S.WAITING_MEMBER})


class HospitalCoverageRequest(RequestMixin, Base):
    """Prise en charge hospitalière: MESE faxes or e-mails a coverage letter to the admission service."""

    __tablename__ = "hospital_coverage_request"
    reference_prefix = "PEC"
    kind = "hospital_coverage"
    type_label = Message("Prise en charge hospitalière")
    holder_actions = {Action.APPROVE: _WORKING, Action.REJECT: _WORKING_OR_WAITING}

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
    type_label = Message("Dépôt de documents")
    holder_actions = {Action.CLASSIFY: _WORKING, Action.CLOSE: _WORKING, Action.ASK_MEMBER: _WORKING,
                      Action.REJECT: _WORKING_OR_WAITING}

    category_id: Mapped[int] = mapped_column(ForeignKey("document_category.id"))
    type_id: Mapped[int] = mapped_column(ForeignKey("document_type.id"))
    beneficiary_id: Mapped[int | None] = mapped_column(ForeignKey("beneficiary.id"))
    comment: Mapped[str] = mapped_column(Text, default="")

    category: Mapped[DocumentCategory] = relationship()
    document_type: Mapped[DocumentType] = relationship()
    beneficiary: Mapped[Beneficiary | None] = relationship()


class ContactRequest(RequestMixin, Base):
    """Contacter la mutuelle: a message about a reason and the beneficiary concerned."""

    __tablename__ = "contact_request"
    reference_prefix = "CTC"
    kind = "contact"
    type_label = Message("Contacter la mutuelle")
    holder_actions = {Action.REPLY: _WORKING, Action.CLOSE: _WORKING}

    reason_id: Mapped[int] = mapped_column(ForeignKey("contact_reason.id"))
    beneficiary_id: Mapped[int | None] = mapped_column(ForeignKey("beneficiary.id"))
    message: Mapped[str] = mapped_column(Text)

    reason: Mapped[ContactReason] = relationship()
    beneficiary: Mapped[Beneficiary | None] = relationship()


class BankDetailChangeRequest(RequestMixin, Base):
    """A change of the account reimbursements are paid to, for the member or a beneficiary.

    Four eyes: the agent who checks the RIB proposes (``proposed_by``), a different staff member approves;
    on approval a new version of the bank account takes effect on ``effective_on``.
    """

    __tablename__ = "bank_detail_change_request"
    reference_prefix = "RIB"
    kind = "bank_details"
    type_label = Message("Changement de coordonnées bancaires")
    holder_actions = {Action.PROPOSE: _WORKING, Action.ASK_MEMBER: _WORKING, Action.REJECT: _WORKING_OR_WAITING}

    beneficiary_id: Mapped[int | None] = mapped_column(ForeignKey("beneficiary.id"),
                                                       comment="empty: the member's own account")
    holder: Mapped[str] = mapped_column(String(140))
    iban: Mapped[str] = mapped_column(EncryptedString())
    bic: Mapped[str] = mapped_column(String(11))
    confirmed_by: Mapped[str] = mapped_column(String(10), default="sms", comment="sms or totp")
    effective_on: Mapped[date | None] = mapped_column(comment="date the new account takes effect")
    proposed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    proposed_at: Mapped[datetime | None]
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    approved_at: Mapped[datetime | None]
    bank_account_id: Mapped[int | None] = mapped_column(ForeignKey("bank_account.id"),
                                                        comment="the version created on approval")

    beneficiary: Mapped[Beneficiary | None] = relationship()
    proposed_by: Mapped[StaffUser | None] = relationship(foreign_keys=[proposed_by_id])
    approved_by: Mapped[StaffUser | None] = relationship(foreign_keys=[approved_by_id])
    bank_account: Mapped[BankAccount | None] = relationship()

    @property
    def masked_iban(self) -> str:
        """The new IBAN, masked."""
        return mask_iban(self.iban)

    @property
    def masked_bic(self) -> str:
        """The new BIC, masked."""
        return mask_bic(self.bic)

    @property
    def awaiting_approval(self) -> bool:
        """True when an agent proposed the change and a second staff member must approve it."""
        return self.proposed_by_id is not None and self.approved_by_id is None


class TeletransmissionRequest(RequestMixin, Base):
    """A request to switch on tele-transmission (NOEMIE) for a beneficiary."""

    __tablename__ = "teletransmission_request"
    reference_prefix = "TLT"
    kind = "teletransmission"
    type_label = Message("Activer la télétransmission")
    holder_actions = {Action.CLOSE: _WORKING, Action.ASK_MEMBER: _WORKING, Action.REJECT: _WORKING_OR_WAITING}

    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"), index=True)

    beneficiary: Mapped[Beneficiary] = relationship()


REQUEST_MODELS: dict[str, type[RequestMixin]] = {
    m.kind: m
    for m in (HospitalCoverageRequest, DocumentSubmission, ContactRequest, BankDetailChangeRequest,
              TeletransmissionRequest)
}
#: The model of each reference prefix (DOC-2026-000001 is a DocumentSubmission).
MODELS_BY_PREFIX: dict[str, type[RequestMixin]] = {m.reference_prefix: m for m in REQUEST_MODELS.values()}


class RequestFile(Base):
    """A file sent with a request: at submission, or with an answer of the member (``message_id``)."""

    __tablename__ = "request_file"
    __table_args__ = (Index("ix_request_file_request", "request_kind", "request_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_kind: Mapped[str] = mapped_column(String(30))
    request_id: Mapped[int]
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("request_message.id"))
    file_id: Mapped[int] = mapped_column(ForeignKey("stored_file.id"))
    added_at: Mapped[datetime] = mapped_column(default=utcnow)

    file: Mapped[StoredFile] = relationship()


class MessageAuthor(enum.StrEnum):
    """Who wrote a message of a request."""

    MEMBER = "member"
    STAFF = "staff"


class RequestMessage(Base):
    """A message exchanged about a request: an agent's question or reply, the member's answer."""

    __tablename__ = "request_message"
    __table_args__ = (Index("ix_request_message_request", "request_kind", "request_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_kind: Mapped[str] = mapped_column(String(30))
    request_id: Mapped[int]
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    author: Mapped[MessageAuthor] = mapped_column(StrEnumType(MessageAuthor, 10))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"))
    body: Mapped[str] = mapped_column(Text)

    files: Mapped[list[RequestFile]] = relationship(order_by="RequestFile.id")


class PendingBankChange(Base):
    """A bank-details change typed by a member, waiting for the code that confirms it (then deleted).

    The member's session keeps ``token``; only its SHA-256 is stored, and the SMS code is bound to it.
    """

    __tablename__ = "pending_bank_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    beneficiary_id: Mapped[int | None] = mapped_column(ForeignKey("beneficiary.id"))
    holder: Mapped[str] = mapped_column(String(140))
    iban: Mapped[str] = mapped_column(EncryptedString())
    bic: Mapped[str] = mapped_column(String(11))
    rib_file_id: Mapped[int] = mapped_column(ForeignKey("stored_file.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    form_token: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]

    rib_file: Mapped[StoredFile] = relationship()


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
