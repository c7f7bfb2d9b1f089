"""Mapped classes of contracts, beneficiaries, coverage periods, bank accounts and money."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..base import Base, StrEnumType, TimestampMixin
from ..crypto import EncryptedString
from ..formats import mask_bic, mask_iban, mask_nir
from ..i18n import Message

if TYPE_CHECKING:
    from ..members.entities import Member


class ContractKind(enum.StrEnum):
    """Collective contracts cover employees; individual contracts cover retirees."""

    COLLECTIVE = "collective"
    INDIVIDUAL = "individual"


class BeneficiaryRole(enum.StrEnum):
    """A covered person's place in the family, with the guide's French label."""

    PRINCIPAL = "principal"
    SPOUSE = "spouse"
    CHILD = "child"

    @property
    def label(self) -> Message:
        """The role as the guide names it (translatable)."""
        return _ROLE_LABELS[self.value]


_ROLE_LABELS = {"principal": Message("Assuré Principal"), "spouse": Message("Conjoint"), "child": Message("Enfant")}


class Contract(TimestampMixin, Base):
    """A health contract held by a member (e.g. C40SOCLE)."""

    __tablename__ = "contract"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    number: Mapped[str] = mapped_column(String(30))
    product: Mapped[str] = mapped_column(String(100))
    level: Mapped[str] = mapped_column(String(50), default="")
    kind: Mapped[ContractKind] = mapped_column(StrEnumType(ContractKind, 12))
    subscribed_on: Mapped[date]
    ended_on: Mapped[date | None]
    guarantees_file_id: Mapped[int | None] = mapped_column(ForeignKey("stored_file.id"))

    member: Mapped[Member] = relationship(back_populates="contracts")
    coverages: Mapped[list[Coverage]] = relationship(back_populates="contract", cascade="all, delete-orphan")
    contributions: Mapped[list[Contribution]] = relationship(
        back_populates="contract", order_by="Contribution.due_on", cascade="all, delete-orphan"
    )

    def __str__(self) -> str:
        return self.number


class Beneficiary(TimestampMixin, Base):
    """A person of the member's family covered by one or more of the member's contracts."""

    __tablename__ = "beneficiary"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), index=True)
    role: Mapped[BeneficiaryRole] = mapped_column(StrEnumType(BeneficiaryRole, 12))
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    birth_date: Mapped[date]
    nir: Mapped[str | None] = mapped_column(EncryptedString())
    organism_number: Mapped[str] = mapped_column(String(20), default="", comment="N° Organisme de rattachement")
    teletransmission_active: Mapped[bool] = mapped_column(default=False)

    member: Mapped[Member] = relationship(back_populates="beneficiaries")
    coverages: Mapped[list[Coverage]] = relationship(back_populates="beneficiary", cascade="all, delete-orphan")

    @property
    def full_name(self) -> str:
        """First name then last name in capitals (Zoé RIMON)."""
        return f"{self.first_name} {self.last_name.upper()}"

    @property
    def masked_nir(self) -> str:
        """The NIR masked as in the guide, or an empty string."""
        return mask_nir(self.nir) if self.nir else ""

    def is_covered_on(self, day: date) -> bool:
        """True when one of this person's coverage periods includes ``day``."""
        return any(c.includes(day) for c in self.coverages)

    def __str__(self) -> str:
        return self.full_name


class Coverage(Base):
    """A period during which a beneficiary is covered by a contract."""

    __tablename__ = "coverage"
    __table_args__ = (CheckConstraint("end_on IS NULL OR end_on >= start_on", name="period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"), index=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    start_on: Mapped[date]
    end_on: Mapped[date | None]

    beneficiary: Mapped[Beneficiary] = relationship(back_populates="coverages")
    contract: Mapped[Contract] = relationship(back_populates="coverages")

    def includes(self, day: date) -> bool:
        """True when ``day`` falls inside the period (open end = still covered)."""
        return self.start_on <= day and (self.end_on is None or day <= self.end_on)


class BankAccount(Base):
    """A bank account used for reimbursements or contributions; old ones are kept as history."""

    __tablename__ = "bank_account"
    __table_args__ = (Index("ix_bank_account_member_valid", "member_id", "valid_to"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    beneficiary_id: Mapped[int | None] = mapped_column(ForeignKey("beneficiary.id"))
    holder: Mapped[str] = mapped_column(String(140))
    iban: Mapped[str] = mapped_column(EncryptedString())
    bic: Mapped[str] = mapped_column(String(11))
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None] = mapped_column(comment="set when replaced")

    member: Mapped[Member] = relationship(back_populates="bank_accounts")

    @property
    def masked_iban(self) -> str:
        """The IBAN masked as in the guide."""
        return mask_iban(self.iban)

    @property
    def masked_bic(self) -> str:
        """The BIC masked as in the guide."""
        return mask_bic(self.bic)


class ContributionStatus(enum.StrEnum):
    """Where a scheduled contribution stands."""

    SCHEDULED = "scheduled"
    PAID = "paid"
    UNPAID = "unpaid"


class Contribution(Base):
    """One instalment of the contributions schedule of an individual contract."""

    __tablename__ = "contribution"

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(ForeignKey("contract.id"), index=True)
    period_start: Mapped[date]
    period_end: Mapped[date]
    due_on: Mapped[date]
    amount_cents: Mapped[int]
    status: Mapped[ContributionStatus] = mapped_column(
        StrEnumType(ContributionStatus, 10), default=ContributionStatus.SCHEDULED
    )

    contract: Mapped[Contract] = relationship(back_populates="contributions")


class PaidTo(enum.StrEnum):
    """Who received the MESE share of a reimbursement."""

    MEMBER = "member"
    PROFESSIONAL = "professional"

    @property
    def label(self) -> Message:
        """Who was paid, as the statement names it (translatable)."""
        return _PAID_TO_LABELS[self.value]


_PAID_TO_LABELS = {"member": Message("Adhérent"), "professional": Message("Professionnel de santé")}


class CareKind(enum.StrEnum):
    """The kind of care of a reimbursed act, by which a member filters the reimbursements."""

    CONSULTATION = "consultation"
    PHARMACY = "pharmacy"
    OPTICAL = "optical"
    DENTAL = "dental"
    HOSPITAL = "hospital"
    PARAMEDICAL = "paramedical"
    TESTS = "tests"
    OTHER = "other"

    @property
    def label(self) -> Message:
        """The kind of care as the reimbursements page names it (translatable)."""
        return _CARE_KIND_LABELS[self.value]


_CARE_KIND_LABELS = {
    "consultation": Message("Consultations"), "pharmacy": Message("Pharmacie"), "optical": Message("Optique"),
    "dental": Message("Dentaire"), "hospital": Message("Hospitalisation"),
    "paramedical": Message("Auxiliaires médicaux"), "tests": Message("Analyses et radiologie"),
    "other": Message("Autres soins"),
}


class Reimbursement(Base):
    """One reimbursed act: what was spent, who paid what, and when MESE paid."""

    __tablename__ = "reimbursement"
    # The page's order (newest care first, then newest row) read from the index alone, page after page; every
    # column a page shows, filters on and sums is carried in it, so a page's lines and the totals of a family's
    # selection are index-only scans (no visit to the table's rows).
    __table_args__ = (Index("ix_reimbursement_member_care", "member_id", text("care_on DESC"), text("id DESC"),
                            postgresql_include=["beneficiary_id", "care_kind", "spent_cents", "social_security_cents",
                                                "mese_cents", "left_to_pay_cents", "act", "paid_to",
                                                "paid_on"]),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"))
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"), index=True)
    care_on: Mapped[date]
    act: Mapped[str] = mapped_column(String(120))
    care_kind: Mapped[CareKind] = mapped_column(StrEnumType(CareKind, 12), default=CareKind.OTHER,
                                                server_default=CareKind.OTHER.value)
    spent_cents: Mapped[int]
    social_security_cents: Mapped[int]
    mese_cents: Mapped[int]
    left_to_pay_cents: Mapped[int]
    paid_to: Mapped[PaidTo] = mapped_column(StrEnumType(PaidTo, 12))
    paid_on: Mapped[date | None]

    beneficiary: Mapped[Beneficiary] = relationship()


class ReimbursementTotal(Base):
    """A family's reimbursements summed by person and kind of care: the totals of "Mes remboursements" when no
    period is chosen, read from a few rows instead of every reimbursement of the family's history. Kept in step by
    ``models.contracts.operations`` (record_reimbursements, refresh_reimbursement_totals)."""

    __tablename__ = "reimbursement_total"

    member_id: Mapped[int] = mapped_column(ForeignKey("member.id"), primary_key=True)
    beneficiary_id: Mapped[int] = mapped_column(ForeignKey("beneficiary.id"), primary_key=True)
    care_kind: Mapped[CareKind] = mapped_column(StrEnumType(CareKind, 12), primary_key=True)
    count: Mapped[int]
    spent_cents: Mapped[int] = mapped_column(BigInteger)
    social_security_cents: Mapped[int] = mapped_column(BigInteger)
    mese_cents: Mapped[int] = mapped_column(BigInteger)
    left_to_pay_cents: Mapped[int] = mapped_column(BigInteger)
