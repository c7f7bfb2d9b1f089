"""Mes remboursements: the family's reimbursements filtered, paged through the index, totalled and exported.

A page is read with a keyset (``models.pagination``) on (care date, id), newest first, from the index
``ix_reimbursement_member_care`` (member_id, care_on DESC, id DESC): page 40 costs what page 1 costs, and
nothing ever counts the whole table. Totals are summed over the family's selected rows only, from the same index
(it carries the filtered and summed columns: an index-only scan). The page's reads (the family, the lines with
the totals) run straight on the driver (``models.db.DriverRead``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any

from sqlalchemy import BigInteger, Date, Integer, Select, String, bindparam, cast, func, select, true, type_coerce
from sqlalchemy.orm import Session

from ..db import DriverRead
from ..formats import date_fr, decimal_fr, parse_date
from ..i18n import Message, localize
from ..pagination import Cursor, after, decode_cursor, encode_cursor, ordering
from .entities import Beneficiary, BeneficiaryRole, CareKind, PaidTo, Reimbursement, ReimbursementTotal
from .operations import SUMMED

#: Rows on a page of the list.
PAGE_SIZE = 25
#: Rows a PDF statement may hold; a bigger selection is refused with a message (narrow the period).
STATEMENT_LIMIT = 1000
#: Names of the filters in the page's address (the form's field names).
FILTER_NAMES = ("beneficiaire", "du", "au", "soins")

MESSAGES = {
    "date": Message("Saisissez une date valide, au format jj/mm/aaaa."),
    "date_range": Message("Saisissez une date entre 1900 et 2199."),
    "period": Message("La date de fin de la période doit être postérieure ou égale à la date de début."),
    "beneficiary": Message("Choisissez un bénéficiaire dans la liste."),
    "kind": Message("Choisissez un type de soins dans la liste."),
    "cursor": Message("Ce lien de page n'est plus valable : la liste repart des remboursements les plus récents."),
    "too_many": Message("Votre sélection compte plus de %(limit)s remboursements : réduisez la période pour "
                        "télécharger le relevé PDF.", limit="1 000"),
}


class UnknownBeneficiary(LookupError):
    """The beneficiary asked for is not a person of the member's family (the page answers 404)."""


@dataclass(frozen=True)
class ReimbursementFilters:
    """What the member asked to see: one person, a period (both ends included), a kind of care."""

    beneficiary_id: int | None = None
    start: date | None = None
    end: date | None = None
    care_kind: CareKind | None = None

    @property
    def active(self) -> bool:
        """True when at least one filter narrows the list."""
        return any(v is not None for v in (self.beneficiary_id, self.start, self.end, self.care_kind))

    def as_args(self) -> dict[str, str]:
        """The filters as the page's query arguments (for links to other pages and to the downloads)."""
        args = {"beneficiaire": self.beneficiary_id, "du": self.start and self.start.isoformat(),
                "au": self.end and self.end.isoformat(), "soins": self.care_kind and self.care_kind.value}
        return {key: str(value) for key, value in args.items() if value}


@dataclass
class FilterResult:
    """Filters read from a page's address, and the message of each field that could not be read."""

    filters: ReimbursementFilters
    errors: dict[str, Message] = field(default_factory=dict)


def read_filters(session: Session, member_id: int, args: Mapping[str, str],
                 people: list[FamilyPerson] | None = None) -> FilterResult:
    """Read the filters of the page's address; a field that is not understood gets a message and is ignored.

    Raises UnknownBeneficiary for a well-formed id that is no person of the family (another family's included);
    ``people``: the family (:func:`family_people`) when already read, which spares the query of the check.
    """
    errors: dict[str, Message] = {}
    beneficiary_id = None
    raw = (args.get("beneficiaire") or "").strip()
    if raw:
        if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
            errors["beneficiaire"] = MESSAGES["beneficiary"]
        else:
            beneficiary_id = int(raw)
            if people is not None:
                known = any(person.id == beneficiary_id for person in people)
            else:
                known = session.scalar(select(Beneficiary.member_id).where(
                    Beneficiary.id == beneficiary_id)) == member_id
            if not known:
                raise UnknownBeneficiary(beneficiary_id)
    dates: dict[str, date | None] = {}
    for name in ("du", "au"):
        try:
            dates[name] = parse_date(args.get(name))
        except ValueError as exc:
            errors[name] = MESSAGES["date_range" if str(exc) == "range" else "date"]
            dates[name] = None
    if dates["du"] and dates["au"] and dates["au"] < dates["du"]:
        errors["au"] = MESSAGES["period"]
        dates["au"] = None
    care_kind = None
    raw = (args.get("soins") or "").strip()
    if raw:
        try:
            care_kind = CareKind(raw)
        except ValueError:
            errors["soins"] = MESSAGES["kind"]
    filters = ReimbursementFilters(beneficiary_id, dates["du"], dates["au"], care_kind)
    return FilterResult(filters, errors)


@dataclass(frozen=True)
class ReimbursementLine:
    """One line of the list, the statement and the CSV file."""

    id: int
    care_on: date
    beneficiary: str
    act: str
    care_kind: CareKind
    spent_cents: int
    social_security_cents: int
    mese_cents: int
    left_to_pay_cents: int
    paid_to: PaidTo
    paid_on: date | None


@dataclass(frozen=True)
class Totals:
    """Sums of the selected rows."""

    count: int
    spent_cents: int
    social_security_cents: int
    mese_cents: int
    left_to_pay_cents: int


@dataclass(frozen=True)
class ReimbursementPage:
    """A page of the list, and the cursors of its neighbours (None at either end)."""

    lines: list[ReimbursementLine]
    newer: str | None
    older: str | None


# The person's name is taken from the family's list (read once for the page's select), not joined: without the
# join the planner walks the index of the list's order and stops at the page's last row, whatever the filters.
_COLUMNS = (Reimbursement.id, Reimbursement.care_on, Reimbursement.beneficiary_id, Reimbursement.act, Reimbursement.care_kind, Reimbursement.spent_cents,
            Reimbursement.social_security_cents, Reimbursement.mese_cents, Reimbursement.left_to_pay_cents,
            Reimbursement.paid_to, Reimbursement.paid_on)
_ORDER = (Reimbursement.care_on, Reimbursement.id)


def _lines_statement(filters: ReimbursementFilters, cursor: Cursor | None, limit: int) -> tuple[Select, dict]:
    """The query of a page of lines (after ``cursor``, newest first) and its parameters, without ``member_id``."""
    before = None if cursor is None else cursor.before
    return _built("lines", _shape(filters), before, limit), _page_params(filters, cursor)


def _page_params(filters: ReimbursementFilters, cursor: Cursor | None) -> dict:
    """The parameters of a page's query: its filters' values and its cursor's, without ``member_id``."""
    params = _filter_params(filters)
    if cursor is not None:
        params["cursor_care_on"], params["cursor_id"] = cursor.values
    return params


def _totals_statement(filters: ReimbursementFilters) -> tuple[Select, dict]:
    return _built("totals", _shape(filters), None, None), _filter_params(filters)


def _shape(filters: ReimbursementFilters) -> tuple[bool, bool, bool, bool]:
    return (filters.beneficiary_id is not None, filters.start is not None, filters.end is not None,
            filters.care_kind is not None)


def _filter_params(filters: ReimbursementFilters) -> dict:
    values = {"beneficiary_id": filters.beneficiary_id, "start": filters.start, "end": filters.end,
              "care_kind": filters.care_kind}
    return {name: value for name, value in values.items() if value is not None}


@lru_cache(maxsize=128)
def _page_and_totals(shape: tuple[bool, bool, bool, bool], before: bool | None, limit: int) -> DriverRead:
    """A page of lines and the totals of every selected row, in one statement (one round trip): the totals'
    single row joined to the page's lines (read as :func:`_built` reads them), so a page with no line still
    gives one row, its line columns NULL. Its rows come in no set order (reimbursement_page_and_totals orders the
    page's 26 lines itself, rather than PostgreSQL sorting what its index already gave in order). Read straight on
    the driver (the page members load most)."""
    totals = _built("totals", shape, None, None).subquery("totals")
    page = _built("lines", shape, before, limit).subquery("page")
    # The kinds of care and payees read as the text they are stored as, made members by a look-up
    # (reimbursement_page_and_totals): the type's conversion costs more per value than the rest of the row.
    columns = [type_coerce(c, String) if c.name in ("care_kind", "paid_to") else c for c in page.c]
    return DriverRead(select(*totals.c, *columns).select_from(totals.outerjoin(page, true())))


@lru_cache(maxsize=128)
def _built(what: str, shape: tuple[bool, bool, bool, bool], before: bool | None, limit: int | None) -> Select:
    """The statement of one shape of query (which filters are set, which way the cursor goes), its values left as
    parameters. Built once per shape: a statement object keeps its SQLAlchemy cache key, which is otherwise
    computed again with the statement on every page (about half the cost of the totals query)."""
    beneficiary, start, end, care_kind = shape
    # Without a period, the totals add up the family's few rows of totals by person and kind of care
    # (models.contracts.operations), not every reimbursement of its history.
    source = ReimbursementTotal if what == "totals" and not (start or end) else Reimbursement
    if what == "totals":
        count = func.sum(source.count) if source is ReimbursementTotal else func.count()
        # As bigint: PostgreSQL's sum of a bigint is a numeric, which the driver reads as a Decimal per value.
        statement = select(*(cast(func.coalesce(total, 0), BigInteger) for total in (
            count, *(func.sum(getattr(source, name)) for name in SUMMED))))
    else:
        statement = select(*_COLUMNS)
    statement = statement.where(source.member_id == bindparam("member_id"))
    if beneficiary:
        statement = statement.where(source.beneficiary_id == bindparam("beneficiary_id"))
    if start:
        statement = statement.where(source.care_on >= bindparam("start"))
    if end:
        statement = statement.where(source.care_on <= bindparam("end"))
    if care_kind:
        statement = statement.where(source.care_kind == bindparam("care_kind"))
    if what == "lines":
        cursor = None
        if before is not None:
            cursor = Cursor((bindparam("cursor_care_on", type_=Date), bindparam("cursor_id", type_=Integer)),
                            before=before)
            statement = statement.where(after(_ORDER, True, cursor))
        statement = statement.order_by(*ordering(_ORDER, True, cursor)).limit(limit)
    return statement


@dataclass(frozen=True)
class FamilyPerson:
    """A person of the family as the filters and the lines name them."""

    id: int
    full_name: str
    role: BeneficiaryRole


#: Built once and read straight on the driver: the reimbursements page and the forms naming a person run it.
_FAMILY_PEOPLE = DriverRead(select(Beneficiary.id, Beneficiary.first_name, Beneficiary.last_name, Beneficiary.role)
                            .where(Beneficiary.member_id == bindparam("member_id")).order_by(Beneficiary.id))


def family_people(session: Session, member_id: int) -> list[FamilyPerson]:
    """Every person of the family, principal insured first: id, name and role only (one query, no NIR read)."""
    rows = _FAMILY_PEOPLE.rows(session, {"member_id": member_id})
    # The name as Beneficiary.full_name writes it (Zoé RIMON).
    return [FamilyPerson(id_, f"{first} {last.upper()}", role) for id_, first, last, role in rows]


def family_people_reads() -> list[tuple[DriverRead, dict]]:
    """What :func:`family_people` reads (with its parameters but ``member_id``: models.db.DriverRead.first_with)."""
    return [(_FAMILY_PEOPLE, {})]


def family_names(session: Session, member_id: int) -> dict[int, str]:
    """The name of each person of the family (Zoé RIMON), by beneficiary id."""
    return {b.id: b.full_name for b in session.scalars(select(Beneficiary).where(Beneficiary.member_id == member_id))}


def _lines(session: Session, member_id: int, filters: ReimbursementFilters, cursor: Cursor | None, limit: int,
           names: Mapping[int, str]) -> list[ReimbursementLine]:
    statement, params = _lines_statement(filters, cursor, limit)
    return [ReimbursementLine(row[0], row[1], names.get(row[2], ""), *row[3:])
            for row in session.execute(statement, {"member_id": member_id, **params})]


def read_cursor(args: Mapping[str, str]) -> tuple[Cursor | None, Message | None]:
    """The cursor of the page asked for (``apres``: older rows, ``avant``: newer ones), or a message when the
    link is no cursor (the list then starts again from the newest)."""
    for name, before in (("apres", False), ("avant", True)):
        text = args.get(name)
        if text:
            cursor = decode_cursor(text, width=2, before=before)
            if cursor is None or type(cursor.values[0]) is not date or not isinstance(cursor.values[1], int):
                return None, MESSAGES["cursor"]
            return cursor, None
    return None, None


def reimbursement_page(session: Session, member_id: int, filters: ReimbursementFilters,
                       cursor: Cursor | None = None, *, names: Mapping[int, str],
                       size: int = PAGE_SIZE) -> ReimbursementPage:
    """One page of the family's reimbursements, newest care first, after (or before) ``cursor``; ``names``: the
    family's names by beneficiary id (:func:`family_names`)."""
    return _page(_lines(session, member_id, filters, cursor, size + 1, names), cursor, size)


def _page(lines: list[ReimbursementLine], cursor: Cursor | None, size: int) -> ReimbursementPage:
    """The page of ``lines`` (read up to ``size + 1``, in the order of ``cursor``) and its neighbours' cursors."""
    more = len(lines) > size
    lines = lines[:size]
    backwards = bool(cursor and cursor.before)
    if backwards:
        lines.reverse()
    if not lines:
        return ReimbursementPage([], None, None)
    first, last = lines[0], lines[-1]
    has_newer = more if backwards else cursor is not None
    has_older = True if backwards else more
    return ReimbursementPage(
        lines,
        newer=encode_cursor((first.care_on, first.id)) if has_newer else None,
        older=encode_cursor((last.care_on, last.id)) if has_older else None,
    )


_CARE_KINDS = {kind.value: kind for kind in CareKind}
_PAYEES = {payee.value: payee for payee in PaidTo}


def reimbursement_page_and_totals(session: Session, member_id: int, filters: ReimbursementFilters,
                                  cursor: Cursor | None = None, *, names: Mapping[int, str],
                                  size: int = PAGE_SIZE) -> tuple[ReimbursementPage, Totals]:
    """:func:`reimbursement_page` and :func:`reimbursement_totals` (over every selected row, not only the page's)
    read in one statement."""
    read = _page_and_totals(_shape(filters), None if cursor is None else cursor.before, size + 1)
    rows = read.rows(session, {"member_id": member_id, **_page_params(filters, cursor)})
    totals = Totals(*rows[0][:5])
    lines = [ReimbursementLine(row[5], row[6], names.get(row[7], ""), row[8], _CARE_KINDS[row[9]], row[10], row[11],
                               row[12], row[13], _PAYEES[row[14]], row[15]) for row in rows if row[5] is not None]
    # In the order of the cursor: newest care first, or oldest first when reading back towards newer lines.
    lines.sort(key=_line_order, reverse=not (cursor and cursor.before))
    return _page(lines, cursor, size), totals


def _line_order(line: ReimbursementLine) -> tuple[date, int]:
    return line.care_on, line.id


def reimbursement_totals(session: Session, member_id: int, filters: ReimbursementFilters) -> Totals:
    """Count and sums of every selected reimbursement of the family (all pages): from its totals by person and
    kind of care, or over its rows when a period is chosen."""
    statement, params = _totals_statement(filters)
    row = session.execute(statement, {"member_id": member_id, **params}).one()
    return Totals(*(int(v) for v in row))


def statement_lines(session: Session, member_id: int, filters: ReimbursementFilters, *,
                    names: Mapping[int, str]) -> list[ReimbursementLine]:
    """Every selected reimbursement, newest first, for the PDF statement.

    Raises ValueError with a message when the selection holds more than ``STATEMENT_LIMIT`` rows.
    """
    lines = _lines(session, member_id, filters, None, STATEMENT_LIMIT + 1, names)
    if len(lines) > STATEMENT_LIMIT:
        raise ValueError(MESSAGES["too_many"])
    return lines


def iter_lines(session: Session, member_id: int, filters: ReimbursementFilters, *, names: Mapping[int, str],
               batch: int = 500) -> Iterator[ReimbursementLine]:
    """Every selected reimbursement, newest first, read a keyset batch at a time (for the CSV file)."""
    cursor = None
    while True:
        lines = _lines(session, member_id, filters, cursor, batch, names)
        yield from lines
        if len(lines) < batch:
            return
        cursor = Cursor((lines[-1].care_on, lines[-1].id))


# -- CSV -------------------------------------------------------------------------------------------------

CSV_HEADERS = (
    Message("Date des soins"), Message("Bénéficiaire"), Message("Acte"), Message("Type de soins"),
    Message("Montant dépensé (€)"), Message("Part Sécurité sociale (€)"), Message("Part MESE (€)"),
    Message("Reste à charge (€)"), Message("Payé à"), Message("Date de paiement"),
)
#: First characters that make a spreadsheet read a cell as a formula (or a command, or a link to follow).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n", "|", "%")


def safe_cell(value: str) -> str:
    """A text cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def csv_rows(lines: Iterator[ReimbursementLine], language: str) -> Iterator[str]:
    """The CSV file as French Excel opens it: UTF-8 with a byte order mark, ``;`` between cells, amounts as
    French decimals (1234,56), dates jj/mm/aaaa; headers and labels in ``language``; text cells formula-safe."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)

    def flush() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    kinds = {kind: localize(kind.label, language) for kind in CareKind}
    payees = {payee: localize(payee.label, language) for payee in PaidTo}
    writer.writerow([localize(h, language) for h in CSV_HEADERS])
    yield "\ufeff" + flush()
    for count, line in enumerate(lines, 1):
        writer.writerow([
            date_fr(line.care_on), safe_cell(line.beneficiary), safe_cell(line.act), kinds[line.care_kind],
            decimal_fr(line.spent_cents), decimal_fr(line.social_security_cents), decimal_fr(line.mese_cents),
            decimal_fr(line.left_to_pay_cents), payees[line.paid_to], date_fr(line.paid_on),
        ])
        if count % 200 == 0:
            yield flush()
    yield flush()


def download_name(filters: ReimbursementFilters, today: date, extension: str) -> str:
    """The file name of a download: remboursements_<first day>_<last day>.<extension>."""
    start = filters.start.isoformat() if filters.start else "debut"
    end = (filters.end or today).isoformat()
    return f"remboursements_{start}_{end}.{extension}"


def statement_context(lines: list[ReimbursementLine], totals: Totals, filters: ReimbursementFilters,
                      *, member: Any, beneficiary: str | None, issued_on: date) -> dict[str, Any]:
    """What the PDF statement shows: the member, the filters in words, the lines and their totals."""
    return {"member": member, "lines": lines, "totals": totals, "filters": filters, "beneficiary": beneficiary,
            "issued_on": issued_on}
