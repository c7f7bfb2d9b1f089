"""The member's cover: contracts in force, the tiers-payant card and the certificate of cover (what they show),
sending them by e-mail (a daily limit), and who may read the future retirees' section."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from itertools import groupby

from sqlalchemy import bindparam, exists, func, null, or_, select
from sqlalchemy.orm import Session, joinedload

from ..audit.entities import AuditEvent
from ..audit.operations import record
from ..db import DriverRead
from ..errors import DomainError, ValidationFailed
from ..formats import PARIS, canonical_email, mask_email
from ..i18n import Message
from ..members.entities import Member
from ..outbox.entities import OutboxMessage
from ..outbox.operations import queue_email
from .entities import Beneficiary, BeneficiaryRole, Contract, ContractKind, Coverage
from .queries import PERSON_COLUMNS, PersonDetails

#: How many cards or certificates a member may send by e-mail per day (French time).
DAILY_SEND_LIMIT = 5
SENT_ACTION = "cover_document.sent"
#: The number of MESE as supplementary health insurer (AMC) printed on the card for professionals.
AMC_NUMBER = "388 005 412"
#: Tiers-payant codes printed on the card: the kinds of care the professional is paid for directly.
TIERS_PAYANT = ("PHAR", "MED", "RLAX", "LABO", "HOSP", "AUXM", "DENT", "OPTI", "AUDI", "TRAN")
EMAIL_MISSING = Message("Saisissez l'adresse e-mail du destinataire.")
EMAIL_FORMAT = Message("Saisissez une adresse e-mail valide, par exemple nom@exemple.fr.")
LIMIT_REACHED = Message("Vous avez atteint la limite de %(limit)d envois par jour. Vous pourrez en envoyer de "
                        "nouveau demain, ou télécharger le document pour le transmettre vous-même.")


class CoverDocument(enum.StrEnum):
    """The two documents of cover: the tiers-payant card and the certificate."""

    CARD = "carte"
    CERTIFICATE = "attestation"

    @property
    def label(self) -> Message:
        """The document's name as the guide writes it."""
        return Message("Carte Mutuelle") if self is CoverDocument.CARD else Message("Attestation")


def _in_force(today: date):
    return (Contract.subscribed_on <= today) & or_(Contract.ended_on.is_(None), Contract.ended_on >= today)


@cache
def _active_contracts_query():
    # Built once, values as parameters (also below): a statement object keeps its SQLAlchemy cache key, computed
    # again with a new statement on every page.
    return (select(Contract).where(Contract.member_id == bindparam("member_id"), _in_force(bindparam("today")))
            .order_by(Contract.subscribed_on, Contract.id)
            .options(joinedload(Contract.coverages).joinedload(Coverage.beneficiary)))


def active_contracts(session: Session, member: Member, today: date) -> list[Contract]:
    """The member's contracts in force on ``today``, oldest first, with their coverages and people (one query)."""
    return list(session.scalars(_active_contracts_query(), {"member_id": member.id, "today": today}).unique())


@dataclass(frozen=True)
class CoverPeriod:
    """A coverage as the card pages read it: the person (plain columns) and the period."""

    beneficiary: PersonDetails
    start_on: date
    end_on: date | None

    includes = Coverage.includes


@dataclass(frozen=True)
class ContractCover:
    """A contract in force as the card pages read it: the shown columns and its coverages (no ORM object)."""

    id: int
    number: str
    product: str
    kind: ContractKind
    subscribed_on: date
    ended_on: date | None
    coverages: tuple[CoverPeriod, ...]


_CONTRACT_COLUMNS = (Contract.id, Contract.number, Contract.product, Contract.kind, Contract.subscribed_on,
                     Contract.ended_on)


@cache
def _active_covers_read(nir: bool) -> DriverRead:
    # Without ``nir``, the NIR column is read as NULL: a page that does not show it decrypts none.
    person = PERSON_COLUMNS if nir else tuple(null() if c is Beneficiary.nir else c for c in PERSON_COLUMNS)
    return DriverRead(select(*_CONTRACT_COLUMNS, Coverage.start_on, Coverage.end_on, *person)
                      .outerjoin(Coverage, Coverage.contract_id == Contract.id)
                      .outerjoin(Beneficiary, Beneficiary.id == Coverage.beneficiary_id)
                      .where(Contract.member_id == bindparam("member_id"), _in_force(bindparam("today")))
                      .order_by(Contract.subscribed_on, Contract.id, Coverage.id))


def active_covers(session: Session, member: Member, today: date, *, nir: bool = True) -> list[ContractCover]:
    """What :func:`active_contracts` reads, as plain rows of the columns the card pages show (one query on the
    driver); people's NIR left out (None) unless ``nir``."""
    width = len(_CONTRACT_COLUMNS)
    rows = _active_covers_read(nir).rows(session, {"member_id": member.id, "today": today})
    covers = []
    for contract, group in groupby(rows, key=lambda row: row[:width]):
        periods = tuple(CoverPeriod(PersonDetails(*row[width + 2:]), row[width], row[width + 1])
                        for row in group if row[width + 2] is not None)
        covers.append(ContractCover(*contract, periods))
    return covers


def active_covers_reads(today: date, *, nir: bool = True) -> list[tuple[DriverRead, dict]]:
    """What :func:`active_covers` reads (each read with its parameters but ``member_id``: models.db.DriverRead.first_with)."""
    return [(_active_covers_read(nir), {"today": today})]


@cache
def _active_kinds_read() -> DriverRead:
    return DriverRead(select(Contract.kind).where(Contract.member_id == bindparam("member_id"),
                                                  _in_force(bindparam("today"))))


def active_contract_kinds(session: Session, member: Member, today: date) -> set[ContractKind]:
    """The kinds (collective, individual) of the member's contracts in force on ``today`` (read on the driver)."""
    return {kind for kind, in _active_kinds_read().rows(session, {"member_id": member.id, "today": today})}


def active_contract_kinds_reads(today: date) -> list[tuple[DriverRead, dict]]:
    """What :func:`active_contract_kinds` reads (each read with its parameters but ``member_id``: models.db.DriverRead.first_with)."""
    return [(_active_kinds_read(), {"today": today})]


def has_collective_contract(session: Session, member: Member, today: date) -> bool:
    """True when the member holds a collective contract (employees) in force on ``today``: the only members who
    see "Futur(e) retraité(e)"."""
    return session.scalar(select(collective_contract_in_force(member.id, today)))


def collective_contract_in_force(member_id, today):
    """``has_collective_contract`` as an SQL condition, to read it in another query (``member_id`` and ``today``
    may be columns or parameters)."""
    return exists().where(Contract.member_id == member_id, Contract.kind == ContractKind.COLLECTIVE,
                          _in_force(today))


def member_contract(contracts: list[Contract], contract_id: int | None) -> Contract | None:
    """The contract ``contract_id`` among the member's ``contracts`` (the first when None); None when it is not
    one of them (another family's contract, an ended one)."""
    if contract_id is None:
        return contracts[0] if contracts else None
    return next((c for c in contracts if c.id == contract_id), None)


@dataclass(frozen=True)
class CoveredPerson:
    """A person printed on the card or the certificate, with their cover under the contract."""

    beneficiary: Beneficiary
    start_on: date
    end_on: date | None

    @property
    def role_label(self) -> Message:
        """The person's place in the family (Assuré Principal, Conjoint, Enfant)."""
        return self.beneficiary.role.label


_ROLE_ORDER = {BeneficiaryRole.PRINCIPAL: 0, BeneficiaryRole.SPOUSE: 1, BeneficiaryRole.CHILD: 2}


def covered_people(contract: Contract, today: date) -> list[CoveredPerson]:
    """The people the contract covers on ``today``: principal, spouse, then children by age."""
    people = [CoveredPerson(c.beneficiary, c.start_on, c.end_on) for c in contract.coverages if c.includes(today)]
    return sorted(people, key=lambda p: (_ROLE_ORDER[p.beneficiary.role], p.beneficiary.birth_date,
                                         p.beneficiary.id))


def cover_person(contract: Contract, beneficiary_id: int | None, today: date) -> CoveredPerson | None:
    """The covered person ``beneficiary_id`` of ``contract`` (None when the contract does not cover them today)."""
    return next((p for p in covered_people(contract, today) if p.beneficiary.id == beneficiary_id), None)


def cover_document_context(member: Member, contract: Contract, document: CoverDocument, today: date,
                           beneficiary_id: int | None = None) -> dict | None:
    """What the card or the certificate shows (on screen and in the PDF); None when ``beneficiary_id`` is not
    covered by the contract.

    The card is valid for the calendar year (up to the end of the contract); a certificate may be about one
    person of the contract.
    """
    people = covered_people(contract, today)
    if beneficiary_id is not None:
        people = [p for p in people if p.beneficiary.id == beneficiary_id]
        if not people:
            return None
    valid_until = date(today.year, 12, 31)
    if contract.ended_on is not None:
        valid_until = min(valid_until, contract.ended_on)
    return {
        "document": document, "member": member, "contract": contract, "people": people,
        "issued_on": today, "valid_from": max(date(today.year, 1, 1), contract.subscribed_on),
        "valid_until": valid_until, "amc_number": AMC_NUMBER, "tiers_payant": TIERS_PAYANT,
        "one_person": beneficiary_id is not None,
    }


def cover_document_filename(document: CoverDocument, contract: Contract, today: date) -> str:
    """The PDF's file name: ``carte-mutuelle-C40SOCLE-2026.pdf`` or ``attestation-C40SOCLE-2026-12-01.pdf``."""
    number = re.sub(r"[^A-Za-z0-9-]", "", contract.number) or "contrat"
    if document is CoverDocument.CARD:
        return f"carte-mutuelle-{number}-{today.year}.pdf"
    return f"attestation-{number}-{today.isoformat()}.pdf"


def sends_today(session: Session, member: Member, now: datetime) -> int:
    """How many cards and certificates the member has sent by e-mail since midnight (French time)."""
    start = now.astimezone(PARIS).replace(hour=0, minute=0, second=0, microsecond=0)
    return session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.member_id == member.id, AuditEvent.action == SENT_ACTION, AuditEvent.at >= start)) or 0


def send_cover_document(session: Session, member: Member, contract: Contract, *, document: CoverDocument,
                        to: str, beneficiary_id: int | None = None, ip: str | None, now: datetime,
                        today: date) -> OutboxMessage:
    """E-mail the card or the certificate of ``contract`` (PDF attached, rendered by the delivery job) to ``to``:
    a health professional, or a spouse or child of the contract. Limited per day; audited.

    ``contract`` must be one of the member's contracts in force (see :func:`member_contract`).
    """
    address = (to or "").strip()
    if not address:
        raise ValidationFailed({"email": [EMAIL_MISSING]})
    try:
        address = canonical_email(address)
    except ValueError:
        raise ValidationFailed({"email": [EMAIL_FORMAT]}) from None
    if beneficiary_id is not None and cover_person(contract, beneficiary_id, today) is None:
        raise DomainError(Message("Introuvable."), field="email")
    if sends_today(session, member, now) >= DAILY_SEND_LIMIT:
        raise DomainError(Message(LIMIT_REACHED.msgid, limit=DAILY_SEND_LIMIT), field="email")
    filename = cover_document_filename(document, contract, today)
    attachment = {"render": "cover_document", "document": document.value, "contract_id": contract.id,
                  "beneficiary_id": beneficiary_id, "issued_on": today.isoformat(), "filename": filename}
    message = queue_email(session, to=address, template="cover_document",
                          context={"member": member, "contract": contract, "document": document},
                          member_id=member.id, related=contract.number[:40], attachments=[attachment])
    record(session, SENT_ACTION, actor_type="member", actor_id=member.id, subject=contract, member_id=member.id,
           ip=ip, now=now, document=document.value, recipient=mask_email(address), beneficiary_id=beneficiary_id)
    return message


def cover_document_for_spec(session: Session, spec: dict) -> tuple[dict, str]:
    """The context and file name of an outbox attachment spec ``{"render": "cover_document", ...}``.

    Raises LookupError when the contract or the person no longer exists.
    """
    contract = session.get(Contract, spec["contract_id"])
    if contract is None:
        raise LookupError(f"no contract {spec['contract_id']}")
    document = CoverDocument(spec["document"])
    issued_on = date.fromisoformat(spec["issued_on"])
    context = cover_document_context(contract.member, contract, document, issued_on, spec.get("beneficiary_id"))
    if context is None:
        raise LookupError(f"beneficiary {spec.get('beneficiary_id')} not covered by contract {contract.id}")
    return context, spec.get("filename") or cover_document_filename(document, contract, issued_on)

