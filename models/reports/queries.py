"""Reads of the reports: the rows of each export as one SQL query, and the dashboard's figures as aggregates.

Exports are built for the database to do the work: on PostgreSQL the whole row is formatted in SQL (dates in
Paris time, labels, working days to close through a calendar join) so that ``COPY (…) TO STDOUT`` streams it
as is; elsewhere (SQLite, the embedded mode) the same query returns raw values that :func:`convert_row` formats.
Every text cell is formula-safe in SQL: a cell starting with = + - @ tab or CR gets a leading quote.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Date, Integer, String, case, cast, column, func, literal, select, union_all, values
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement

from ..audit.entities import AuditEvent
from ..contracts.entities import Beneficiary
from ..formats import PARIS
from ..members.entities import Member
from ..outbox.entities import Channel, OutboxMessage, OutboxStatus
from ..requests.deadlines import is_working_day
from ..requests.entities import REQUEST_MODELS, RequestStatus
from ..staff.entities import StaffUser

#: A cell starting with one of these is a formula for Excel or LibreOffice (CSV/formula injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
EXPORT_KINDS = {"requests": "Demandes", "outbox": "Envois (e-mail, SMS, fax)", "audit": "Journal d'audit"}
#: Kinds of request as staff name them (the queues' names), in the order of the export.
REQUEST_TYPE_LABELS = {
    "hospital_coverage": "Prise en charge hospitalière",
    "document": "Dépôt de documents",
    "contact": "Message",
    "bank_details": "Coordonnées bancaires",
    "teletransmission": "Télétransmission",
}
REQUEST_STATUS_LABELS = {
    RequestStatus.NEW: "Nouvelle", RequestStatus.IN_PROGRESS: "En cours de traitement",
    RequestStatus.WAITING_MEMBER: "En attente de l'adhérent", RequestStatus.DONE: "Traitée",
    RequestStatus.REJECTED: "Refusée",
}
OUTBOX_STATUS_LABELS = {OutboxStatus.PENDING: "En attente", OutboxStatus.ENQUEUED: "Confié à l'envoi",
                        OutboxStatus.SENDING: "En cours d'envoi", OutboxStatus.SENT: "Envoyé",
                        OutboxStatus.DEAD: "Échec définitif"}
CHANNEL_LABELS = {Channel.EMAIL: "E-mail", Channel.SMS: "SMS", Channel.FAX: "Fax"}
DATETIME_FORMAT, DATE_FORMAT = "%d/%m/%Y %H:%M", "%d/%m/%Y"
_FILE_PREFIXES = {"requests": "demandes", "outbox": "envois", "audit": "journal"}


@dataclass(frozen=True)
class ExportFilters:
    """What an export holds: a kind of rows, a period (Paris dates, both included) and optional narrowing."""

    kind: str
    start: date | None = None
    end: date | None = None
    #: Requests: kinds of request (empty: all); outbox: channels.
    types: tuple[str, ...] = ()
    #: Requests or outbox: statuses (empty: all).
    statuses: tuple[str, ...] = ()

    def describe(self) -> dict[str, Any]:
        """The filters as the audit trail and the export job keep them."""
        return {"kind": self.kind, "start": self.start.isoformat() if self.start else None,
                "end": self.end.isoformat() if self.end else None, "types": list(self.types),
                "statuses": list(self.statuses)}

    @classmethod
    def from_description(cls, data: Mapping[str, Any]) -> ExportFilters:
        """The filters kept by :meth:`describe`."""
        return cls(kind=data["kind"], start=date.fromisoformat(data["start"]) if data.get("start") else None,
                   end=date.fromisoformat(data["end"]) if data.get("end") else None,
                   types=tuple(data.get("types") or ()), statuses=tuple(data.get("statuses") or ()))

    def file_name(self, extension: str) -> str:
        """A download name saying what the file holds: ``demandes_2026-11-01_2026-11-30.csv``."""
        period = "_".join(d.isoformat() for d in (self.start, self.end) if d) or "tout"
        return f"{_FILE_PREFIXES[self.kind]}_{period}.{extension}"


@dataclass(frozen=True)
class ExportColumn:
    """One column of an export: its French header and how a raw row becomes the cell."""

    label: str
    convert: Callable[[Mapping[str, Any]], Any]


@dataclass(frozen=True)
class ExportQuery:
    """An export's query and columns; ``formatted``: the query already returns the final text of each cell."""

    statement: Any
    columns: list[ExportColumn] = field(default_factory=list)
    formatted: bool = False


# -- SQL building blocks ------------------------------------------------------------------------------------


def formula_safe_sql(expression: ColumnElement) -> ColumnElement:
    """``expression`` with a quote in front when a spreadsheet would run it as a formula (any database)."""
    return case((func.substr(expression, 1, 1).in_(FORMULA_PREFIXES), literal("'") + expression),
                else_=expression)


def _local_midnight(day: date) -> datetime:
    """The UTC instant of midnight in Paris on ``day``."""
    return datetime.combine(day, time(), tzinfo=PARIS).astimezone(UTC)


def period_condition(column, start: date | None, end: date | None) -> list[ColumnElement[bool]]:
    """``column`` (a UTC timestamp) falls within the Paris dates ``start`` to ``end``, both included."""
    conditions = []
    if start:
        conditions.append(column >= _local_midnight(start))
    if end:
        conditions.append(column < _local_midnight(end + timedelta(days=1)))
    return conditions


def _paris(column, postgresql: bool) -> ColumnElement:
    return func.timezone("Europe/Paris", column) if postgresql else column


def _text_datetime(column) -> ColumnElement:
    return func.to_char(func.timezone("Europe/Paris", column), "DD/MM/YYYY HH24:MI")


def _text_date(column) -> ColumnElement:
    return func.to_char(column, "DD/MM/YYYY")


def _labels(column, labels: Mapping[Any, str]) -> ColumnElement:
    return case(*((column == str(key), literal(text)) for key, text in labels.items()), else_=cast(column, String))


@lru_cache(maxsize=64)
def working_day_numbers(start: date, end: date) -> tuple[tuple[date, int], ...]:
    """Each day from ``start`` to ``end`` with the count of working days after ``start`` up to it (French
    calendar of models.requests.deadlines): the working days between two of them is their difference."""
    numbers, count, day = [], 0, start
    while day <= end:
        if day > start and is_working_day(day):
            count += 1
        numbers.append((day, count))
        day += timedelta(days=1)
    return tuple(numbers)


def _calendar(start: date, end: date):
    return values(column("day", Date), column("n", Integer), name="calendar").data(
        list(working_day_numbers(start, end)))


# -- requests ----------------------------------------------------------------------------------------------


def _request_branch(kind: str, filters: ExportFilters, postgresql: bool, calendar_range: tuple[date, date] | None):
    model = REQUEST_MODELS[kind]
    member, beneficiary, agent = aliased(Member), aliased(Beneficiary), aliased(StaffUser)
    person = case((beneficiary.id.isnot(None), beneficiary.first_name + " " + func.upper(beneficiary.last_name)),
                  else_=member.first_name + " " + func.upper(member.last_name))
    received, closed = model.created_at, model.closed_at
    columns: list[ColumnElement] = [
        formula_safe_sql(model.reference).label("reference"),
        literal(REQUEST_TYPE_LABELS[kind]).label("type"),
        formula_safe_sql(member.number).label("member_number"),
        formula_safe_sql(person).label("beneficiary"),
    ]
    if postgresql:
        cal_received, cal_closed = _calendar(*calendar_range).alias("cal_received"), \
            _calendar(*calendar_range).alias("cal_closed")
        columns += [
            _text_datetime(received).label("received"), _text_datetime(model.claimed_at).label("claimed"),
            _text_datetime(closed).label("closed"), _labels(model.status, REQUEST_STATUS_LABELS).label("status"),
            _text_date(model.due_on).label("due_on"), formula_safe_sql(agent.full_name).label("agent"),
            (cal_closed.c.n - cal_received.c.n).label("working_days"),
        ]
    else:
        columns += [received.label("received"), model.claimed_at.label("claimed"), closed.label("closed"),
                    model.status.label("status"), model.due_on.label("due_on"),
                    formula_safe_sql(agent.full_name).label("agent")]
    statement = (select(*columns).select_from(model)
                 .join(member, member.id == model.member_id)
                 .outerjoin(beneficiary, beneficiary.id == model.beneficiary_id)
                 .outerjoin(agent, agent.id == model.assigned_to_id))
    if postgresql:
        statement = (statement
                     .outerjoin(cal_received, cast(cal_received.c.day, Date) == cast(_paris(received, True), Date))
                     .outerjoin(cal_closed, cast(cal_closed.c.day, Date) == cast(_paris(closed, True), Date)))
    conditions = period_condition(received, filters.start, filters.end)
    if filters.statuses:
        conditions.append(model.status.in_([RequestStatus(s) for s in filters.statuses]))
    return statement.where(*conditions).order_by(model.created_at, model.id)


def _request_kinds(filters: ExportFilters) -> list[str]:
    return [k for k in REQUEST_TYPE_LABELS if not filters.types or k in filters.types]


def _requests_export(filters: ExportFilters, postgresql: bool, today: date, first_day: date | None) -> ExportQuery:
    start = filters.start or first_day or today
    calendar_range = (min(start, today), max(today, filters.end or today)) if postgresql else None
    branches = [_request_branch(kind, filters, postgresql, calendar_range) for kind in _request_kinds(filters)]
    # PostgreSQL appends the branches in this order, each in received order: no sort of the whole export.
    statement = branches[0] if len(branches) == 1 else union_all(*(b.subquery().select() for b in branches))
    columns = [
        ExportColumn("Référence", lambda r: r["reference"]),
        ExportColumn("Type", lambda r: r["type"]),
        ExportColumn("N° adhérent", lambda r: r["member_number"]),
        ExportColumn("Bénéficiaire", lambda r: r["beneficiary"]),
        ExportColumn("Reçue le", lambda r: _local(r["received"])),
        ExportColumn("Prise en charge le", lambda r: _local(r["claimed"])),
        ExportColumn("Clôturée le", lambda r: _local(r["closed"])),
        ExportColumn("Statut", lambda r: REQUEST_STATUS_LABELS[RequestStatus(r["status"])]),
        ExportColumn("Échéance", lambda r: r["due_on"]),
        ExportColumn("Agent", lambda r: r["agent"]),
        ExportColumn("Délai de traitement (jours ouvrés)", lambda r: _working_days(r["received"], r["closed"])),
    ]
    if postgresql:
        columns = [ExportColumn(c.label, _by_position(i)) for i, c in enumerate(columns)]
    return ExportQuery(statement, columns, formatted=postgresql)


# -- outbox and audit trail --------------------------------------------------------------------------------


def _outbox_export(filters: ExportFilters, postgresql: bool) -> ExportQuery:
    m = OutboxMessage
    conditions = period_condition(m.created_at, filters.start, filters.end)
    if filters.statuses:
        conditions.append(m.status.in_([OutboxStatus(s) for s in filters.statuses]))
    if filters.types:
        conditions.append(m.channel.in_([Channel(c) for c in filters.types]))
    text = [formula_safe_sql(m.recipient).label("recipient"), formula_safe_sql(m.subject).label("subject"),
            formula_safe_sql(m.related).label("related")]
    if postgresql:
        columns = [_text_datetime(m.created_at).label("created"), _labels(m.channel, CHANNEL_LABELS).label("channel"),
                   *text, _labels(m.status, OUTBOX_STATUS_LABELS).label("status"), m.attempts.label("attempts"),
                   formula_safe_sql(m.last_error).label("last_error"), _text_datetime(m.sent_at).label("sent")]
    else:
        columns = [m.created_at.label("created"), m.channel.label("channel"), *text, m.status.label("status"),
                   m.attempts.label("attempts"), formula_safe_sql(m.last_error).label("last_error"),
                   m.sent_at.label("sent")]
    statement = select(*columns).where(*conditions).order_by(m.id)
    heads = [
        ExportColumn("Créé le", lambda r: _local(r["created"])),
        ExportColumn("Canal", lambda r: CHANNEL_LABELS[Channel(r["channel"])]),
        ExportColumn("Destinataire", lambda r: r["recipient"]),
        ExportColumn("Objet", lambda r: r["subject"]),
        ExportColumn("Demande", lambda r: r["related"]),
        ExportColumn("État", lambda r: OUTBOX_STATUS_LABELS[OutboxStatus(r["status"])]),
        ExportColumn("Tentatives", lambda r: r["attempts"]),
        ExportColumn("Dernière erreur", lambda r: r["last_error"]),
        ExportColumn("Envoyé le", lambda r: _local(r["sent"])),
    ]
    if postgresql:
        heads = [ExportColumn(c.label, _by_position(i)) for i, c in enumerate(heads)]
    return ExportQuery(statement, heads, formatted=postgresql)


def _audit_export(filters: ExportFilters, postgresql: bool) -> ExportQuery:
    a = AuditEvent
    conditions = period_condition(a.at, filters.start, filters.end)
    if filters.types:
        conditions.append(a.action.in_(filters.types))
    details = cast(a.details, String)
    common = [formula_safe_sql(a.actor_type).label("actor_type"), a.actor_id.label("actor_id"),
              formula_safe_sql(a.action).label("action"), formula_safe_sql(a.subject_type).label("subject_type"),
              a.subject_id.label("subject_id"), a.member_id.label("member_id"), formula_safe_sql(a.ip).label("ip"),
              formula_safe_sql(details).label("details")]
    at = _text_datetime(a.at) if postgresql else a.at
    statement = select(at.label("at"), *common).where(*conditions).order_by(a.at, a.id)
    heads = [ExportColumn("Date", lambda r: _local(r["at"]))] + [
        ExportColumn(label, (lambda key: lambda r: r[key])(key)) for label, key in (
            ("Auteur", "actor_type"), ("Auteur (id)", "actor_id"), ("Action", "action"), ("Objet", "subject_type"),
            ("Objet (id)", "subject_id"), ("Adhérent (id)", "member_id"), ("IP", "ip"), ("Détails", "details"))]
    if postgresql:
        heads = [ExportColumn(c.label, _by_position(i)) for i, c in enumerate(heads)]
    return ExportQuery(statement, heads, formatted=postgresql)


def export_query(filters: ExportFilters, *, postgresql: bool, today: date,
                 first_day: date | None = None) -> ExportQuery:
    """The query of an export and its columns. ``postgresql``: format every cell in SQL (for COPY);
    ``first_day``: the oldest day the data holds (start of the working-day calendar of an export without
    a start date)."""
    if filters.kind == "requests":
        return _requests_export(filters, postgresql, today, first_day)
    if filters.kind == "outbox":
        return _outbox_export(filters, postgresql)
    if filters.kind == "audit":
        return _audit_export(filters, postgresql)
    raise ValueError(f"unknown export {filters.kind!r}")


def first_request_day(session) -> date | None:
    """The Paris date of the oldest request of any type (four index lookups)."""
    firsts = [session.scalar(select(func.min(m.created_at))) for m in REQUEST_MODELS.values()]
    firsts = [f for f in firsts if f is not None]
    if not firsts:
        return None
    oldest = min(f if isinstance(f, datetime) else datetime.fromisoformat(str(f)) for f in firsts)
    return (oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)).astimezone(PARIS).date()


def count_rows(session, query: ExportQuery) -> int:
    """How many rows an export will hold (for its progress)."""
    return session.scalar(select(func.count()).select_from(query.statement.subquery()))


def header(query: ExportQuery) -> list[str]:
    """The French headers of an export."""
    return [c.label for c in query.columns]


def convert_row(query: ExportQuery, row: Mapping[str, Any] | Sequence[Any]) -> list[Any]:
    """The cells of one raw row (dates as Paris dates, labels in French)."""
    return [c.convert(row) for c in query.columns]


def iter_rows(connection, query: ExportQuery, *, chunk: int = 2000) -> Iterator[list[Any]]:
    """The export's rows, read through a streaming cursor (flat memory), as cells."""
    result = connection.execution_options(stream_results=True, yield_per=chunk).execute(query.statement)
    for row in result.mappings():
        yield convert_row(query, row)


def _by_position(index: int) -> Callable[[Mapping[str, Any]], Any]:
    return lambda row: list(row.values())[index] if isinstance(row, Mapping) else row[index]


def _local(value) -> datetime | None:
    """A timestamp as a naive Paris date and time (what a spreadsheet cell holds)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(PARIS).replace(tzinfo=None, microsecond=0)


def _working_days(received, closed) -> int | None:
    if received is None or closed is None:
        return None
    start, end = _local(received).date(), _local(closed).date()
    numbers = dict(working_day_numbers(start, max(start, end)))
    return numbers[max(start, end)]


def csv_cell(value: Any) -> Any:
    """A converted cell as the CSV writes it (French dates, like the PostgreSQL export)."""
    if isinstance(value, datetime):
        return value.strftime(DATETIME_FORMAT)
    if isinstance(value, date):
        return value.strftime(DATE_FORMAT)
    return "" if value is None else value


# -- CSV ---------------------------------------------------------------------------------------------------

#: Spreadsheets open a UTF-8 CSV with accents right when it starts with a byte order mark; French Excel splits
#: columns on semicolons.
CSV_BOM, CSV_DELIMITER = "\ufeff", ";"
#: Bytes gathered before a chunk leaves (one network write per row would cost more than the query).
CSV_CHUNK = 64 * 1024


def _csv_line(cells: Sequence[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\n").writerow(cells)
    return out.getvalue()


def copy_sql(query: ExportQuery, dialect) -> str:
    """The export's query as the SQL text of ``COPY (…) TO STDOUT`` (values written in, safely quoted)."""
    select_sql = str(query.statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
    return f"COPY ({select_sql}) TO STDOUT WITH (FORMAT csv, DELIMITER '{CSV_DELIMITER}')"


def stream_csv(engine, query: ExportQuery) -> Iterator[bytes]:
    """The export as CSV bytes, chunk by chunk, the first chunk leaving before the last row is read.

    PostgreSQL: ``COPY … TO STDOUT`` through psycopg's ``cursor.copy()`` on a connection of its own, the rows
    passed on as the server writes them; other databases: a plain cursor read a few thousand rows at a time.
    Memory stays flat whatever the size of the export."""
    yield (CSV_BOM + _csv_line(header(query))).encode()
    if query.formatted:
        yield from _stream_copy(engine, copy_sql(query, engine.dialect))
        return
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=CSV_DELIMITER, lineterminator="\n")
    with engine.connect() as connection:
        for cells in iter_rows(connection, query):
            writer.writerow([csv_cell(c) for c in cells])
            if buffer.tell() >= CSV_CHUNK:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode()


def _stream_copy(engine, sql: str) -> Iterator[bytes]:
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        chunk = bytearray()
        with connection.cursor() as cursor, cursor.copy(sql) as copy:
            for data in copy:
                chunk += data
                if len(chunk) >= CSV_CHUNK:
                    yield bytes(chunk)
                    chunk.clear()
        if chunk:
            yield bytes(chunk)
        connection.rollback()
    finally:
        raw.close()
