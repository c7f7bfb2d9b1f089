"""Reads of the member pages of contracts: the contracts, the family on each, contributions and bank details.

Each page's data comes in a fixed number of queries, whatever the size of the family or of the schedule.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from typing import NamedTuple

from sqlalchemy import and_, bindparam, or_, select
from sqlalchemy.orm import Session

from ..db import DriverRead
from ..files.entities import StoredFile
from ..i18n import Message
from ..requests.entities import OPEN_STATUSES, BankDetailChangeRequest, TeletransmissionRequest
from .entities import (
    BankAccount, Beneficiary, BeneficiaryRole, Contract, ContractKind, Contribution, ContributionStatus, Coverage,
)


class TeletransmissionState(enum.StrEnum):
    """Where the tele-transmission of one person stands, as the contract page shows it."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    REQUESTED = "requested"

    @property
    def label(self) -> Message:
        """The state in the guide's words (translatable)."""
        return _TELETRANSMISSION_LABELS[self.value]


_TELETRANSMISSION_LABELS = {"active": Message("Activée"), "inactive": Message("Désactivée"),
                            "requested": Message("Demande en cours")}
_CONTRIBUTION_LABELS = {"paid": Message("Payée"), "scheduled": Message("À payer"), "unpaid": Message("Impayée")}


def contribution_label(status: ContributionStatus) -> Message:
    """The state of one instalment of the schedule (Payée, À payer, Impayée)."""
    return _CONTRIBUTION_LABELS[status.value]


class PersonDetails(NamedTuple):
    """The columns of a beneficiary the contract pages show, read as plain values (no ORM object)."""

    id: int
    role: BeneficiaryRole
    first_name: str
    last_name: str
    birth_date: date
    nir: str | None
    organism_number: str
    teletransmission_active: bool

    full_name = property(Beneficiary.full_name.fget, doc="First name then last name in capitals (Zoé RIMON).")
    masked_nir = property(Beneficiary.masked_nir.fget, doc="The NIR masked as in the guide, or an empty string.")


#: The columns of a person the pages show, in PersonDetails' order.
PERSON_COLUMNS = (Beneficiary.id, Beneficiary.role, Beneficiary.first_name, Beneficiary.last_name,
                   Beneficiary.birth_date, Beneficiary.nir, Beneficiary.organism_number,
                   Beneficiary.teletransmission_active)


class AccountDetails(NamedTuple):
    """The columns of a bank account the pages show, read as plain values (no ORM object)."""

    beneficiary_id: int | None
    holder: str
    iban: str
    bic: str

    masked_iban = property(BankAccount.masked_iban.fget, doc="The IBAN masked as in the guide.")
    masked_bic = property(BankAccount.masked_bic.fget, doc="The BIC masked as in the guide.")


class ContractDetails(NamedTuple):
    """The columns of a contract the pages show, read as plain values (no ORM object)."""

    id: int
    number: str
    kind: ContractKind
    subscribed_on: date
    guarantees_file_id: int | None


#: The columns of a contract the pages show, in ContractDetails' order.
CONTRACT_COLUMNS = (Contract.id, Contract.number, Contract.kind, Contract.subscribed_on, Contract.guarantees_file_id)


class Instalment(NamedTuple):
    """One instalment of a contributions schedule as "Cotisations" shows it (no ORM object)."""

    contract_id: int
    period_start: date
    period_end: date
    due_on: date
    amount_cents: int
    status: ContributionStatus


@dataclass(frozen=True)
class Person:
    """One person covered by a contract, with what the contract page shows of them."""

    beneficiary: PersonDetails
    teletransmission: TeletransmissionState
    #: The reference of the open tele-transmission request, when there is one.
    request_reference: str | None
    #: The account that receives this person's reimbursements (theirs, else the member's), or None.
    account: AccountDetails | None
    #: True when ``account`` is the person's own account (not the member's, used for lack of one).
    own_account: bool
    #: The reference of the open change of this person's bank details, when it is read and there is one.
    bank_change: str | None = None


@dataclass(frozen=True)
class ContractPage:
    """A contract, and the people it covers, principal insured first."""

    contract: ContractDetails
    people: list[Person]


def member_contracts(session: Session, member_id: int) -> list[ContractDetails]:
    """The member's contracts, by number (one query, read on the driver)."""
    return [ContractDetails(*row) for row in _MEMBER_CONTRACTS.rows(session, {"member_id": member_id})]


def member_contracts_reads() -> list[tuple[DriverRead, dict]]:
    """What :func:`member_contracts` reads (each read with its parameters but ``member_id``: models.db.DriverRead.first_with)."""
    return [(_MEMBER_CONTRACTS, {})]


def _open(status):
    """``status`` is one of the open statuses, as plain comparisons: a driver read takes no expanding IN list."""
    return or_(*(status == value for value in OPEN_STATUSES))


# Statements of the pages built once (values as parameters) and run straight on the driver (models.db.DriverRead):
# SQLAlchemy's execution and ORM loading cost more than these small reads.
_MEMBER_CONTRACTS = DriverRead(select(*CONTRACT_COLUMNS).where(Contract.member_id == bindparam("member_id"))
                               .order_by(Contract.number))
_INSTALMENTS = DriverRead(
    select(Contribution.contract_id, Contribution.period_start, Contribution.period_end, Contribution.due_on,
           Contribution.amount_cents, Contribution.status)
    .join(Contract, Contract.id == Contribution.contract_id)
    .where(Contract.member_id == bindparam("member_id"), Contract.kind == ContractKind.INDIVIDUAL)
    .order_by(Contribution.due_on, Contribution.id))
_CURRENT_ACCOUNTS = DriverRead(
    select(BankAccount.beneficiary_id, BankAccount.holder, BankAccount.iban, BankAccount.bic)
    .where(BankAccount.member_id == bindparam("member_id"), BankAccount.valid_from <= bindparam("at"),
           or_(BankAccount.valid_to.is_(None), BankAccount.valid_to > bindparam("at")))
    .order_by(BankAccount.valid_from, BankAccount.id))


def current_accounts(session: Session, member_id: int, at: datetime) -> tuple[AccountDetails | None,
                                                                              dict[int, AccountDetails]]:
    """The member's own account in use at ``at`` and each beneficiary's own one (one query of the shown columns)."""
    mine: AccountDetails | None = None
    theirs: dict[int, AccountDetails] = {}
    for row in _CURRENT_ACCOUNTS.rows(session, {"member_id": member_id, "at": at}):  # latest wins
        account = AccountDetails(*row)
        if account.beneficiary_id is None:
            mine = account
        else:
            theirs[account.beneficiary_id] = account
    return mine, theirs


def _open_teletransmission_reference():
    """The reference of a beneficiary's open tele-transmission request, as a column of the beneficiaries' query."""
    return (select(TeletransmissionRequest.reference)
            .where(TeletransmissionRequest.beneficiary_id == Beneficiary.id,
                   _open(TeletransmissionRequest.status))
            .order_by(TeletransmissionRequest.id).limit(1).correlate(Beneficiary).scalar_subquery())


_FAMILY_PERSON = DriverRead(select(*PERSON_COLUMNS, _open_teletransmission_reference())
                            .where(Beneficiary.id == bindparam("beneficiary_id"),
                                   Beneficiary.member_id == bindparam("member_id")))


def family_person(session: Session, member_id: int, beneficiary_id: int) -> tuple[PersonDetails, str | None] | None:
    """One person of the member's family and the reference of their open tele-transmission request, if any; None
    for anyone else (whether they exist or not). One query of the shown columns."""
    if not 0 < beneficiary_id <= 2**31 - 1:
        return None
    row = _FAMILY_PERSON.row(session, {"beneficiary_id": beneficiary_id, "member_id": member_id})
    if row is None:
        return None
    return PersonDetails(*row[:len(PERSON_COLUMNS)]), row[len(PERSON_COLUMNS)]


def family_person_reads(beneficiary_id: int) -> list[tuple[DriverRead, dict]]:
    """What :func:`family_person` reads (each read with its parameters but ``member_id``: models.db.DriverRead.first_with)."""
    return [(_FAMILY_PERSON, {"beneficiary_id": beneficiary_id})] if 0 < beneficiary_id <= 2**31 - 1 else []


def _open_bank_change_reference():
    """The reference of the open change of a person's bank details, as a column of the beneficiaries' query: the
    principal's is the member's own change (kept without a beneficiary), the others' their own."""
    change = BankDetailChangeRequest
    return (select(change.reference)
            .where(change.member_id == Beneficiary.member_id, _open(change.status),
                   or_(and_(Beneficiary.role == BeneficiaryRole.PRINCIPAL, change.beneficiary_id.is_(None)),
                       and_(Beneficiary.role != BeneficiaryRole.PRINCIPAL, change.beneficiary_id == Beneficiary.id)))
            .order_by(change.id.desc()).limit(1).correlate(Beneficiary).scalar_subquery())


@lru_cache(maxsize=2)
def _people_statement(bank_change: bool) -> DriverRead:
    """The family's people with the reference of their open tele-transmission request, or of their open change of
    bank details when ``bank_change``, built once."""
    reference = _open_bank_change_reference() if bank_change else _open_teletransmission_reference()
    return DriverRead(select(*PERSON_COLUMNS, reference).where(Beneficiary.member_id == bindparam("member_id"))
                      .order_by(Beneficiary.id))


def _people(session: Session, member_id: int, rows, at: datetime, *, bank_change: bool = False) -> list[Person]:
    """The beneficiaries of ``rows`` (their columns, then the reference of their open tele-transmission request, or
    of their open change of bank details when ``bank_change``) with the state of their tele-transmission, and their
    accounts (one query)."""
    mine, theirs = current_accounts(session, member_id, at)
    people = []
    width = len(PERSON_COLUMNS)
    for row in rows:
        person, reference = PersonDetails(*row[:width]), row[width]
        requested = None if bank_change else reference
        if person.teletransmission_active:
            state = TeletransmissionState.ACTIVE
        elif requested is not None:
            state = TeletransmissionState.REQUESTED
        else:
            state = TeletransmissionState.INACTIVE
        own = theirs.get(person.id)
        people.append(Person(beneficiary=person, teletransmission=state, request_reference=requested,
                             account=own or mine, own_account=own is not None,
                             bank_change=reference if bank_change else None))
    return people


#: A contract of the member with the people it covers (one row per person; one row of NULL people for a contract
#: covering no one), each with the reference of their open tele-transmission request.
_CONTRACT_PEOPLE = DriverRead(
    select(*CONTRACT_COLUMNS, *PERSON_COLUMNS, _open_teletransmission_reference())
    .outerjoin(Beneficiary, (Beneficiary.member_id == Contract.member_id) & Beneficiary.id.in_(
        select(Coverage.beneficiary_id).where(Coverage.contract_id == bindparam("contract_id"))))
    .where(Contract.id == bindparam("contract_id"), Contract.member_id == bindparam("member_id"))
    .order_by(Beneficiary.id))


def contract_page(session: Session, member_id: int, contract_id: int, *, at: datetime) -> ContractPage | None:
    """The contract page of one of the member's contracts (two queries: the contract with its people, then the
    accounts); None for anyone else's."""
    if not 0 < contract_id <= 2**31 - 1:
        return None
    rows = _CONTRACT_PEOPLE.rows(session, {"contract_id": contract_id, "member_id": member_id})
    if not rows:
        return None
    width = len(CONTRACT_COLUMNS)
    people = [row[width:] for row in rows if row[width] is not None]
    return ContractPage(contract=ContractDetails(*rows[0][:width]),
                        people=_people(session, member_id, people, at))


def contract_page_reads(contract_id: int, *, at: datetime) -> list[tuple[DriverRead, dict]]:
    """What :func:`contract_page` reads (each read with its parameters but ``member_id``: models.db.DriverRead.first_with)."""
    if not 0 < contract_id <= 2**31 - 1:
        return []
    return [(_CONTRACT_PEOPLE, {"contract_id": contract_id}), (_CURRENT_ACCOUNTS, {"at": at})]


def family_people(session: Session, member_id: int, *, at: datetime, bank_change: bool = False) -> list[Person]:
    """Every person of the member's family with the account of their reimbursements and the state of their
    tele-transmission (two queries); with ``bank_change``, the open change of their bank details instead of their
    open tele-transmission request."""
    rows = _people_statement(bank_change).rows(session, {"member_id": member_id})
    return _people(session, member_id, rows, at, bank_change=bank_change)


def family_people_reads(*, at: datetime, bank_change: bool = False) -> list[tuple[DriverRead, dict]]:
    """What :func:`family_people` reads (each read with its parameters but ``member_id``: models.db.DriverRead.first_with)."""
    return [(_people_statement(bank_change), {}), (_CURRENT_ACCOUNTS, {"at": at})]


def guarantees_document(session: Session, member_id: int, contract_id: int) -> StoredFile | None:
    """The guarantees table of one of the member's contracts; None when there is none or it is not theirs."""
    if not 0 < contract_id <= 2**31 - 1:
        return None
    return session.scalar(select(StoredFile).join(Contract, Contract.guarantees_file_id == StoredFile.id)
                          .where(Contract.id == contract_id, Contract.member_id == member_id))


@dataclass(frozen=True)
class ContributionSchedule:
    """What "Cotisations" shows of one contract: a schedule for an individual contract, a sentence otherwise."""

    contract: ContractDetails
    instalments: list[Instalment]

    @property
    def collective(self) -> bool:
        """True for a collective contract: the contribution is on the payslip."""
        return self.contract.kind is ContractKind.COLLECTIVE

    def amount_cents(self, today) -> int | None:
        """The amount of the next instalment not yet paid (else of the last one); None without schedule."""
        upcoming = [c for c in self.instalments if c.status is not ContributionStatus.PAID and c.due_on >= today]
        chosen = upcoming[0] if upcoming else (self.instalments[-1] if self.instalments else None)
        return chosen.amount_cents if chosen else None

    def total_cents(self) -> int:
        """The sum of the schedule."""
        return sum(c.amount_cents for c in self.instalments)


def contribution_schedules(session: Session, member_id: int) -> list[ContributionSchedule]:
    """Each of the member's contracts with its schedule of contributions, by due date (two queries)."""
    contracts = member_contracts(session, member_id)
    by_contract: dict[int, list[Instalment]] = {c.id: [] for c in contracts if c.kind is ContractKind.INDIVIDUAL}
    if by_contract:
        for row in _INSTALMENTS.rows(session, {"member_id": member_id}):
            by_contract[row[0]].append(Instalment(*row))
    return [ContributionSchedule(contract=c, instalments=by_contract.get(c.id, [])) for c in contracts]


def contribution_schedules_reads() -> list[tuple[DriverRead, dict]]:
    """What :func:`contribution_schedules` reads (each read with its parameters but ``member_id``: models.db.DriverRead.first_with)."""
    return [(_MEMBER_CONTRACTS, {}), (_INSTALMENTS, {})]
