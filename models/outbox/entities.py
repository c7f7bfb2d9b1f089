"""Mapped class of outbox messages."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..base import Base, StrEnumType, utcnow


class Channel(enum.StrEnum):
    """How a message leaves."""

    EMAIL = "email"
    SMS = "sms"
    FAX = "fax"


class OutboxStatus(enum.StrEnum):
    """Delivery state: pending → enqueued → sending → sent, or back to pending with a retry time, or dead.

    "sending" is committed before the channel is called. When the worker dies during the send, the
    relay settles the row once the worker's lease has lapsed: sent if the channel's answer was kept,
    else an e-mail or SMS is sent again (same Message-ID) and a fax is left dead for staff to decide.
    """

    PENDING = "pending"
    ENQUEUED = "enqueued"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


class OutboxMessage(Base):
    """One message to deliver, with its rendered content and delivery record."""

    __tablename__ = "outbox_message"
    # The relay's due messages; the console's state filter (newest first) and search by request; exports by date.
    __table_args__ = (Index("ix_outbox_message_due", "status", "next_attempt_at"),
                      Index("ix_outbox_message_status_id", "status", "id"),
                      Index("ix_outbox_message_related", "related"),
                      Index("ix_outbox_message_created", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[Channel] = mapped_column(StrEnumType(Channel, 10))
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(255), default="")
    text_body: Mapped[str] = mapped_column(Text, default="")
    html_body: Mapped[str | None] = mapped_column(Text)
    #: Attachments to join: ``{"file_id": 12}`` for a stored file, or
    #: ``{"render": "coverage_letter", "request_id": 7, "filename": "..."}`` for a PDF the job renders.
    attachments: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    template: Mapped[str] = mapped_column(String(80), default="", comment="template it was rendered from")
    member_id: Mapped[int | None] = mapped_column(ForeignKey("member.id", ondelete="SET NULL"), index=True)
    related: Mapped[str | None] = mapped_column(String(40), comment="reference of the request it belongs to")
    status: Mapped[OutboxStatus] = mapped_column(StrEnumType(OutboxStatus, 10), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    enqueued_at: Mapped[datetime | None]
    sending_at: Mapped[datetime | None] = mapped_column(comment="start of the attempt under way")
    #: The body holds a code or a personal link: it is masked once delivered and never shown to staff.
    secret: Mapped[bool] = mapped_column(default=False)
    sent_at: Mapped[datetime | None]
    receipt: Mapped[str | None] = mapped_column(String(255), comment="what the channel answered")


class AttemptOutcome(enum.StrEnum):
    """How one delivery attempt ended."""

    IN_PROGRESS = "in_progress"
    SENT = "sent"
    #: The channel failed or refused; the message's status says whether another attempt follows.
    FAILED = "failed"
    #: The worker stopped during the send: the message may or may not have left.
    INTERRUPTED = "interrupted"


class OutboxAttempt(Base):
    """One try at delivering a message: when, by which worker process, and what came of it."""

    __tablename__ = "outbox_attempt"
    __table_args__ = (UniqueConstraint("message_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("outbox_message.id", ondelete="CASCADE"))
    #: 1 for the first attempt; equals the message's ``attempts`` counter when the attempt began.
    number: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    worker: Mapped[str] = mapped_column(String(120), default="", comment="host:pid of the process that sent")
    outcome: Mapped[AttemptOutcome] = mapped_column(StrEnumType(AttemptOutcome, 12),
                                                    default=AttemptOutcome.IN_PROGRESS)
    #: The error, or what is known of the message's fate when the attempt was interrupted.
    detail: Mapped[str | None] = mapped_column(Text)
    receipt: Mapped[str | None] = mapped_column(String(255), comment="what the channel answered")
