"""Reads of the member pages of contracts: the contracts, the family on each, contributions and bank details.

Each page's data comes in a fixed number of queries, whatever the size of the family or of the schedule.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from sqlalchemy import Select, bindparam, or_, select
from sqlalchemy.orm import Session

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


@dataclass(frozen=True)
class PersonDetails:
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


@dataclass(frozen=True)
class AccountDetails:
    """The columns of a bank account the pages show, read as plain values (no ORM object)."""

    beneficiary_id: int | None
    holder: str
    iban: str
    bic: str

    masked_iban = property(BankAccount.masked_iban.fget, doc="The IBAN masked as in the guide.")
    masked_bic = property(BankAccount.masked_bic.fget, doc="The BIC masked as in the guide.")


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


@dataclass(frozen=True)
class ContractPage:
    """A contract, and the people it covers, principal insured first."""

    contract: Contract
    people: list[Person]


def member_contracts(session: Session, member_id: int) -> list[Contract]:
    """The member's contracts, by number (one query)."""
    return list(session.scalars(_MEMBER_CONTRACTS, {"member_id": member_id}))


#: Statements of the pages built once (values as parameters): a statement object keeps its SQLAlchemy cache key,
#: computed again with a new statement on every page.
_MEMBER_CONTRACTS = select(Contract).where(Contract.member_id == bindparam("member_id")).order_by(Contract.number)
_INSTALMENTS = (select(Contribution).where(Contribution.contract_id.in_(bindparam("contract_ids", expanding=True)))
                .order_by(Contribution.due_on, Contribution.id))
_OPEN_BANK_CHANGES = (
    select(BankDetailChangeRequest.beneficiary_id, BankDetailChangeRequest.reference)
    .where(BankDetailChangeRequest.member_id == bindparam("member_id"),
           BankDetailChangeRequest.status.in_(OPEN_STATUSES))
    .order_by(BankDetailChangeRequest.id))
_OWN_CONTRACT = select(Contract).where(Contract.id == bindparam("contract_id"),
                                       Contract.member_id == bindparam("member_id"))
_CURRENT_ACCOUNTS = (
    select(BankAccount.beneficiary_id, BankAccount.holder, BankAccount.iban, BankAccount.bic)
    .where(BankAccount.member_id == bindparam("member_id"), BankAccount.valid_from <= bindparam("at"),
           or_(BankAccount.valid_to.is_(None), BankAccount.valid_to > bindparam("at")))
    .order_by(BankAccount.valid_from, BankAccount.id))


def own_contract(session: Session, member_id: int, contract_id: int) -> Contract | None:
    """The contract ``contract_id`` when it is one of the member's; None otherwise (same answer for both)."""
    if not 0 < contract_id <= 2**31 - 1:
        return None
    return session.scalar(_OWN_CONTRACT, {"contract_id": contract_id, "member_id": member_id})


def current_accounts(session: Session, member_id: int, at: datetime) -> tuple[AccountDetails | None,
                                                                              dict[int, AccountDetails]]:
    """The member's own account in use at ``at`` and each beneficiary's own one (one query of the shown columns)."""
    accounts = session.execute(_CURRENT_ACCOUNTS, {"member_id": member_id, "at": at})
    mine: AccountDetails | None = None
    theirs: dict[int, AccountDetails] = {}
    for row in accounts:  # the latest version wins
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
                   TeletransmissionRequest.status.in_(OPEN_STATUSES))
            .order_by(TeletransmissionRequest.id).limit(1).correlate(Beneficiary).scalar_subquery())


_FAMILY_PERSON = (select(*PERSON_COLUMNS, _open_teletransmission_reference())
                  .where(Beneficiary.id == bindparam("beneficiary_id"),
                         Beneficiary.member_id == bindparam("member_id")))


def family_person(session: Session, member_id: int, beneficiary_id: int) -> tuple[PersonDetails, str | None] | None:
    """One person of the member's family and the reference of their open tele-transmission request, if any; None
    for anyone else (whether they exist or not). One query of the shown columns."""
    if not 0 < beneficiary_id <= 2**31 - 1:
        return None
    row = session.execute(_FAMILY_PERSON, {"beneficiary_id": beneficiary_id, "member_id": member_id}).first()
    if row is None:
        return None
    return PersonDetails(*row[:len(PERSON_COLUMNS)]), row[len(PERSON_COLUMNS)]


@lru_cache(maxsize=4)
def _people_statement(of_contract: bool, teletransmission: bool) -> Select:
    """The family's people (those covered by the contract ``contract_id`` when ``of_contract``), built once."""
    columns = (*PERSON_COLUMNS, _open_teletransmission_reference()) if teletransmission else PERSON_COLUMNS
    statement = select(*columns).where(Beneficiary.member_id == bindparam("member_id"))
    if of_contract:
        statement = statement.where(Beneficiary.id.in_(
            select(Coverage.beneficiary_id).where(Coverage.contract_id == bindparam("contract_id"))))
    return statement.order_by(Beneficiary.id)


def _people(session: Session, member_id: int, contract_id: int | None, at: datetime, *,
            teletransmission: bool) -> list[Person]:
    """The beneficiaries (those the contract ``contract_id`` covers, unless None), with their open tele-transmission
    request, and their accounts."""
    params = {"member_id": member_id} if contract_id is None else {"member_id": member_id, "contract_id": contract_id}
    rows = session.execute(_people_statement(contract_id is not None, teletransmission), params).all()
    mine, theirs = current_accounts(session, member_id, at)
    people = []
    width = len(PERSON_COLUMNS)
    for row in rows:
        person, requested = PersonDetails(*row[:width]), (row[width] if teletransmission else None)
        if person.teletransmission_active:
            state = TeletransmissionState.ACTIVE
        elif requested is not None:
            state = TeletransmissionState.REQUESTED
        else:
            state = TeletransmissionState.INACTIVE
        own = theirs.get(person.id)
        people.append(Person(beneficiary=person, teletransmission=state, request_reference=requested,
                             account=own or mine, own_account=own is not None))
    return people


def contract_page(session: Session, member_id: int, contract_id: int, *, at: datetime) -> ContractPage | None:
    """The contract page of one of the member's contracts (three queries); None for anyone else's."""
    contract = own_contract(session, member_id, contract_id)
    if contract is None:
        return None
    return ContractPage(contract=contract, people=_people(session, member_id, contract.id, at, teletransmission=True))


def family_people(session: Session, member_id: int, *, at: datetime, teletransmission: bool = True) -> list[Person]:
    """Every person of the member's family with the account of their reimbursements (two queries), and the state
    of their tele-transmission unless ``teletransmission=False``."""
    return _people(session, member_id, None, at, teletransmission=teletransmission)


def open_bank_changes(session: Session, member_id: int) -> dict[int | None, str]:
    """The reference of the open change of bank details of each person (None: the member's own), one query."""
    rows = session.execute(_OPEN_BANK_CHANGES, {"member_id": member_id})
    return {beneficiary_id: reference for beneficiary_id, reference in rows}


def guarantees_document(session: Session, member_id: int, contract_id: int) -> StoredFile | None:
    """The guarantees table of one of the member's contracts; None when there is none or it is not theirs."""
    if not 0 < contract_id <= 2**31 - 1:
        return None
    return session.scalar(select(StoredFile).join(Contract, Contract.guarantees_file_id == StoredFile.id)
                          .where(Contract.id == contract_id, Contract.member_id == member_id))


@dataclass(frozen=True)
class ContributionSchedule:
    """What "Cotisations" shows of one contract: a schedule for an individual contract, a sentence otherwise."""

    contract: Contract
    instalments: list[Contribution]

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
    individual = [c.id for c in contracts if c.kind is ContractKind.INDIVIDUAL]
    by_contract: dict[int, list[Contribution]] = {cid: [] for cid in individual}
    if individual:
        for instalment in session.scalars(_INSTALMENTS, {"contract_ids": individual}):
            by_contract[instalment.contract_id].append(instalment)
    return [ContributionSchedule(contract=c, instalments=by_contract.get(c.id, [])) for c in contracts]
