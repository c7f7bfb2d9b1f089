"""Mapped classes of members and of the secrets that let them sign in."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..base import Base, StrEnumType, TimestampMixin
from ..crypto import EncryptedString
from ..formats import mask_nir
from ..i18n import Message

if TYPE_CHECKING:
    from ..contracts.entities import BankAccount, Beneficiary, Contract


class Civility(enum.StrEnum):
    """Civility as printed before the name."""

    MADAME = "Madame"
    MONSIEUR = "Monsieur"

    @property
    def label(self) -> Message:
        """The civility in a greeting (translatable: Madame is "Ms" in English)."""
        return Message("Madame") if self is Civility.MADAME else Message("Monsieur")


class SecondFactor(enum.StrEnum):
    """How a member proves possession after the password."""

    SMS = "sms"
    TOTP = "totp"


class Member(TimestampMixin, Base):
    """An adherent: the person who holds the account of a family (the principal insured)."""

    __tablename__ = "member"
    # Member 360 finds a member by name and birth date through this index (the number and the NIR's blind index
    # have their own).
    __table_args__ = (Index("ix_member_birth_date_last_name", "birth_date", "last_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True, comment="Identifiant mese")
    civility: Mapped[Civility] = mapped_column(StrEnumType(Civility, 10))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date]
    nir: Mapped[str] = mapped_column(EncryptedString(), comment="13 characters, encrypted")
    nir_index: Mapped[str] = mapped_column(String(64), index=True, comment="blind index of the NIR")
    email: Mapped[str | None] = mapped_column(String(254))
    mobile: Mapped[str | None] = mapped_column(String(20), comment="E.164")
    mobile_verified: Mapped[bool] = mapped_column(default=False)
    address_line: Mapped[str] = mapped_column(String(200), default="")
    postcode: Mapped[str] = mapped_column(String(10), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    language: Mapped[str] = mapped_column(String(2), default="fr", comment="language of e-mails and SMS: fr or en")

    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_set_at: Mapped[datetime | None]
    second_factor: Mapped[SecondFactor] = mapped_column(StrEnumType(SecondFactor, 10), default=SecondFactor.SMS)
    totp_secret: Mapped[str | None] = mapped_column(EncryptedString())
    totp_last_timecode: Mapped[int | None]
    failed_login_count: Mapped[int] = mapped_column(default=0)
    last_failed_login_at: Mapped[datetime | None]
    locked_at: Mapped[datetime | None]
    accepted_terms_id: Mapped[int | None] = mapped_column(ForeignKey("terms_version.id"))
    accepted_terms_at: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]

    contracts: Mapped[list[Contract]] = relationship(back_populates="member", order_by="Contract.number")
    beneficiaries: Mapped[list[Beneficiary]] = relationship(back_populates="member", order_by="Beneficiary.id")
    bank_accounts: Mapped[list[BankAccount]] = relationship(back_populates="member")

    #: Key of the server-side session (models.sessions) this object was signed in or loaded with; never
    #: stored here. Flask-Login keeps it in the cookie as the user's id.
    web_session_key = None
    #: Whether the member holds a collective contract today, read with the sign-in check (None: not read).
    holds_collective_contract = None

    # The four members below are the user protocol of Flask-Login, written out so that
    # models/ stays free of Flask. The cookie carries the session key, never the member's id.
    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_active(self) -> bool:
        return self.locked_at is None

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str | None:
        return self.web_session_key

    @property
    def full_name(self) -> str:
        """First name then last name in capitals, as in the guide (Léa RIMON)."""
        return f"{self.first_name} {self.last_name.upper()}"

    @property
    def masked_nir(self) -> str:
        """The NIR as the member area shows it."""
        return mask_nir(self.nir)

    def __str__(self) -> str:
        return f"{self.number} {self.full_name}"


class PasswordHistory(Base):
    """A password hash a member used before, so that it is never used again."""

    __tablename__ = "password_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class CodePurpose(enum.StrEnum):
    """What a one-time code proves."""

    LOGIN = "login"
    MOBILE = "mobile"
    #: Sent by e-mail to the address on file to confirm a new mobile number (``destination``: that number).
    MOBILE_EMAIL = "mobile_email"
    #: Asked again of a signed-in member before a change of the second factor.
    REAUTH = "reauth"
    #: Sent to the new number of a signed-in member who changes it (after re-authentication).
    MOBILE_CHANGE = "mobile_change"
    #: Confirms a change of bank details typed by a signed-in member (bound to that pending change).
    BANK_DETAILS = "bank"
    #: Sent by e-mail to the new address of a signed-in member who changes it (``destination``: that address).
    EMAIL_CHANGE = "email_change"


class OneTimeCode(Base):
    """A 6-digit code sent by SMS (or e-mail): stored as a keyed hash, short-lived, single use."""

    __tablename__ = "one_time_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"), index=True)
    purpose: Mapped[CodePurpose] = mapped_column(StrEnumType(CodePurpose, 20))
    code_hash: Mapped[str] = mapped_column(String(64))
    binding: Mapped[str] = mapped_column(String(64), comment="hash of the sign-in attempt or session it belongs to")
    destination: Mapped[str | None] = mapped_column(String(254),
                                                    comment="mobile or e-mail address the code went to or confirms")
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class TokenPurpose(enum.StrEnum):
    """What a link sent by e-mail lets its holder do."""

    PASSWORD_RESET = "password_reset"


class AccountToken(Base):
    """A single-use link token sent by e-mail; only its SHA-256 is stored.

    A new password chosen through a reset link waits here, hashed, until the second factor succeeds.
    """

    __tablename__ = "account_token"
    __table_args__ = (Index("ix_account_token_member_purpose", "member_id", "purpose"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id", ondelete="CASCADE"))
    purpose: Mapped[TokenPurpose] = mapped_column(StrEnumType(TokenPurpose, 20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    pending_password_hash: Mapped[str | None] = mapped_column(String(255),
                                                              comment="Argon2 hash awaiting the second factor")
    code_failures: Mapped[int] = mapped_column(default=0, comment="wrong codes typed to confirm this reset")


class UsedCaptcha(Base):
    """A captcha proof already accepted once, kept until it expires so it cannot be replayed."""

    __tablename__ = "used_captcha"

    signature: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)

