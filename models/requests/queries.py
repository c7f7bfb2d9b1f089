"""Reads about requests: a family's requests, their messages and files; the queues' lists and counts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cache

from sqlalchemy import and_, bindparam, column, func, literal, not_, null, or_, select, true, union_all
from sqlalchemy.orm import Session, aliased, load_only, selectinload
from sqlalchemy.sql.elements import ColumnElement

from ..content.cache import cached
from ..db import DriverRead
from ..content.entities import NoCoverageEstablishment
from ..contracts.entities import Beneficiary
from ..files.entities import StoredFile
from ..i18n import Message
from ..members.entities import Member
from ..staff.entities import StaffRole, StaffUser
from .entities import (
    MODELS_BY_PREFIX, OPEN_STATUSES, REQUEST_MODELS, RUNNING_STATUSES, HospitalCoverageRequest, RequestEvent,
    RequestFile, RequestMessage, RequestMixin, RequestStatus, TeletransmissionRequest,
)

#: "Heading (detail)": rows sharing a heading are shown as one entry listing their details.
_GROUPED_LABEL = re.compile(r"^(?P<heading>.*\S)\s*\((?P<detail>[^()]+)\)\s*$")


def member_hospital_coverage_request(
    session: Session, member: Member, reference: str
) -> HospitalCoverageRequest | None:
    """The request ``reference`` if it belongs to ``member``; None otherwise (whether it exists or not)."""
    return session.scalar(
        select(HospitalCoverageRequest).where(
            HospitalCoverageRequest.reference == reference.strip().upper(),
            HospitalCoverageRequest.member_id == member.id,
        )
    )


@dataclass(frozen=True)
class NoCoverageEntry:
    """One line of the no-coverage list: an establishment, or a heading grouping several places."""

    label: str
    places: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoCoverageList:
    """The establishments where the member card suffices, as members read them."""

    entries: list[NoCoverageEntry] = field(default_factory=list)
    #: Establishments that do need a coverage although they would otherwise match an entry.
    exceptions: list[str] = field(default_factory=list)


#: Built once: a statement object keeps its SQLAlchemy cache key, computed again with a new statement.
_NO_COVERAGE_ROWS = (
    select(NoCoverageEstablishment.id, NoCoverageEstablishment.label, NoCoverageEstablishment.needs_coverage)
    .where(NoCoverageEstablishment.active).order_by(NoCoverageEstablishment.id))


def no_coverage_list(session: Session) -> NoCoverageList:
    """The active no-coverage rows (staff-edited), grouped so that members can read them.

    Rows labelled "Heading (place)" that share a heading become one entry listing the places, in
    the staff's order (e.g. the communes of the Grenoble agglomeration); a row alone keeps its
    full label. Exception rows are listed apart, without their trailing parenthesis. A short-lived copy
    (models.content.cache).
    """
    return cached(session, "no_coverage_list", lambda: _no_coverage_list(session))


def _no_coverage_list(session: Session) -> NoCoverageList:
    rows = session.execute(_NO_COVERAGE_ROWS).all()
    split = {row.id: _GROUPED_LABEL.match(row.label.strip()) for row in rows}
    headings: dict[str, int] = {}
    for row in rows:
        if not row.needs_coverage and split[row.id]:
            heading = split[row.id]["heading"]
            headings[heading] = headings.get(heading, 0) + 1

    entries: list[NoCoverageEntry] = []
    places: dict[str, list[str]] = {}
    exceptions: list[str] = []
    for row in rows:
        match = split[row.id]
        if row.needs_coverage:
            exceptions.append(match["heading"] if match else row.label.strip())
        elif match and headings[match["heading"]] > 1:
            heading = match["heading"]
            if heading not in places:
                places[heading] = []
                entries.append(NoCoverageEntry(heading))
            if match["detail"].strip() not in places[heading]:
                places[heading].append(match["detail"].strip())
        else:
            entries.append(NoCoverageEntry(row.label.strip()))
    entries = [NoCoverageEntry(e.label, tuple(places.get(e.label, ()))) for e in entries]
    return NoCoverageList(entries=entries, exceptions=list(dict.fromkeys(exceptions)))


# -- a family's requests ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestLine:
    """A request as a list shows it: what it is, for whom, where it stands."""

    kind: str
    reference: str
    status: RequestStatus
    created_at: datetime
    updated_at: datetime
    due_on: date
    #: The person it is about (Zoé RIMON), if any.
    beneficiary: str | None
    #: The establishment of a hospital coverage request.
    establishment_name: str | None

    @property
    def type_label(self) -> Message:
        """The kind of request as the member reads it."""
        return REQUEST_MODELS[self.kind].type_label


@cache
def _family_requests_read() -> DriverRead:
    # Built once (the home page runs it on every visit): the member and the limits are parameters.
    # Short aliases: the statement rides with the sign-in check (member_app.ahead), and psycopg keeps the
    # conversion of statements up to 4 KB only.
    # Each type's latest rows as a subquery (SQLite takes no LIMIT in a part of a UNION), its columns named bare.
    member_id = bindparam("member_id")
    parts = []
    for index, (kind, model) in enumerate(REQUEST_MODELS.items()):
        r = model.__table__.alias("r").c
        establishment = r.establishment_name if model is HospitalCoverageRequest else null().label("establishment_name")
        latest = (select(literal(kind).label("kind"), r.id, r.reference, r.status, r.created_at, r.updated_at,
                         r.due_on, r.beneficiary_id, establishment)
                  .where(r.member_id == member_id)
                  .order_by(r.created_at.desc(), r.id.desc()).limit(bindparam("per_type")).subquery(f"p{index}"))
        parts.append(select(*(column(c.key, c.type) for c in latest.c)).select_from(latest))
    found, b = union_all(*parts).subquery("f"), aliased(Beneficiary, name="b")
    return DriverRead(
        select(found.c.kind, found.c.reference, found.c.status, found.c.created_at, found.c.updated_at,
               found.c.due_on, b.first_name, b.last_name, found.c.establishment_name)
        .outerjoin(b, (b.id == found.c.beneficiary_id) & (b.member_id == member_id))
        .order_by(found.c.created_at.desc(), found.c.id.desc()).limit(bindparam("limit")))


def family_requests(session: Session, member_id: int, *, limit_per_type: int = 50,
                    limit: int | None = None) -> list[RequestLine]:
    """The family's latest ``limit_per_type`` requests of each type, newest first (at most ``limit``), in one
    query of the columns shown (on the driver), each with the name of its person."""
    rows = _family_requests_read().rows(session, {"member_id": member_id, **_family_requests_limits(limit_per_type,
                                                                                                      limit)})
    # The person's name as Beneficiary.full_name writes it; only a person of the family is named.
    return [RequestLine(kind, reference, RequestStatus(status), created_at, updated_at, due_on,
                        f"{first_name} {last_name.upper()}" if first_name is not None else None, establishment)
            for kind, reference, status, created_at, updated_at, due_on, first_name, last_name, establishment
            in rows]


def _family_requests_limits(limit_per_type: int, limit: int | None) -> dict:
    return {"per_type": limit_per_type, "limit": limit or limit_per_type * len(REQUEST_MODELS)}


def family_requests_reads(*, limit_per_type: int = 50, limit: int | None = None) -> list[tuple[DriverRead, dict]]:
    """What :func:`family_requests` reads (each read with its parameters but ``member_id``: models.db.DriverRead.first_with)."""
    return [(_family_requests_read(), _family_requests_limits(limit_per_type, limit))]


def member_request(session: Session, member: Member, reference: str) -> RequestMixin | None:
    """The request ``reference`` if it belongs to ``member``; None otherwise (whether it exists or not)."""
    reference = (reference or "").strip().upper()[:40]
    model = MODELS_BY_PREFIX.get(reference.split("-", 1)[0])
    if model is None:
        return None
    return session.scalar(select(model).where(model.reference == reference, model.member_id == member.id))


def reference_exists(session: Session, reference: str) -> bool:
    """True when a request of any family has this reference."""
    reference = (reference or "").strip().upper()[:40]
    model = MODELS_BY_PREFIX.get(reference.split("-", 1)[0])
    return model is not None and session.scalar(select(model.id).where(model.reference == reference)) is not None


def request_messages(session: Session, request: RequestMixin) -> list[RequestMessage]:
    """Messages exchanged about ``request``, oldest first, with their files."""
    return list(session.scalars(
        select(RequestMessage)
        .where(RequestMessage.request_kind == request.kind, RequestMessage.request_id == request.id)
        .options(selectinload(RequestMessage.files).selectinload(RequestFile.file))
        .order_by(RequestMessage.at, RequestMessage.id)))


def request_files(session: Session, request: RequestMixin) -> list[RequestFile]:
    """Every file of ``request`` (sent with it or with an answer), oldest first."""
    return list(session.scalars(
        select(RequestFile)
        .where(RequestFile.request_kind == request.kind, RequestFile.request_id == request.id)
        .options(selectinload(RequestFile.file))
        .order_by(RequestFile.id)))


def request_file(session: Session, request: RequestMixin, file_id: int) -> StoredFile | None:
    """The stored file ``file_id`` if it belongs to ``request``; None otherwise."""
    return session.scalar(
        select(StoredFile).join(RequestFile, RequestFile.file_id == StoredFile.id)
        .where(RequestFile.request_kind == request.kind, RequestFile.request_id == request.id,
               StoredFile.id == file_id))


def pending_teletransmission(session: Session, member: Member) -> set[int]:
    """Beneficiaries of the family with an open tele-transmission request ("Demande en cours")."""
    return set(session.scalars(
        select(TeletransmissionRequest.beneficiary_id)
        .where(TeletransmissionRequest.member_id == member.id,
               TeletransmissionRequest.status.in_(OPEN_STATUSES))))


# -- the queues of the back office --------------------------------------------------------------------


def status_in(model: type[RequestMixin], statuses) -> ColumnElement[bool]:
    """``status IN (...)`` with the values written in the SQL, so that PostgreSQL matches it to the partial
    indexes of open requests (a bound parameter would hide the values from the planner)."""
    values = [RequestStatus(s).value for s in statuses]
    return model.status.in_(bindparam(f"statuses_{'_'.join(values)}", values, expanding=True, literal_execute=True))


def visible_to(query, model: type[RequestMixin], staff: StaffUser):
    """Restrict a query of ``model`` to what ``staff`` may see: agents see the open requests and those they
    handled; managers and admins see all."""
    if staff.role is StaffRole.AGENT:
        return query.filter(or_(status_in(model, OPEN_STATUSES), model.assigned_to_id == staff.id))
    return query


def reference_or_member(model: type[RequestMixin], search: str) -> ColumnElement[bool]:
    """Requests whose reference is ``search``, or whose member's number is ``search``: both exact, each through
    its unique index (never ``ILIKE '%…%'`` over the table)."""
    text = (search or "").strip().upper()[:40]
    member = select(Member.id).where(Member.number == text).scalar_subquery()
    return or_(model.reference == text, model.member_id == member)


def visible_parts(model: type[RequestMixin], staff: StaffUser,
                  statuses: frozenset[RequestStatus] | None = None) -> list[ColumnElement[bool]]:
    """What ``staff`` may see of ``model`` (as :func:`visible_to`), as conditions whose rows, put together, are
    the list; each is served by an index in the list's order, and only those that can hold rows of
    ``statuses`` (the list's status filter; None: every status) are given.

    An agent sees the open requests (the partial index of open requests) and the closed ones they handled
    (their own index); as one ``OR``, PostgreSQL would walk a whole index to find an agent's few.
    """
    if staff.role is not StaffRole.AGENT:
        return [true()]
    wanted = frozenset(RequestStatus) if statuses is None else statuses
    parts = []
    if wanted & frozenset(OPEN_STATUSES):
        parts.append(status_in(model, OPEN_STATUSES))
    if wanted - frozenset(OPEN_STATUSES):
        parts.append(and_(model.assigned_to_id == staff.id, not_(status_in(model, OPEN_STATUSES))))
    return parts


@dataclass(frozen=True)
class QueueOverview:
    """The state of one queue, as the back-office home page shows it."""

    model: type[RequestMixin]
    counts: dict[RequestStatus, int]
    due_today: int
    overdue: int
    mine: list[RequestMixin]


def queue_overview(session: Session, model: type[RequestMixin], *, staff: StaffUser, today: date,
                   limit: int = 20) -> QueueOverview:
    """Open requests per status, those due today and those late (waiting for the member pauses the clock),
    and those ``staff`` is working on.

    Every count is restricted to open statuses, so the ``(status, …)`` indexes answer it without
    reading the closed history of the table.
    """
    counts = dict.fromkeys(OPEN_STATUSES, 0)
    counts.update(session.execute(
        select(model.status, func.count()).where(model.status.in_(OPEN_STATUSES)).group_by(model.status)).all())
    running = model.status.in_(RUNNING_STATUSES)
    due_today = session.scalar(select(func.count()).select_from(model).where(running, model.due_on == today))
    overdue = session.scalar(select(func.count()).select_from(model).where(running, model.due_on < today))
    mine = list(session.scalars(
        select(model).where(status_in(model, OPEN_STATUSES), model.assigned_to_id == staff.id)
        .order_by(model.due_on, model.id).limit(limit)))
    return QueueOverview(model=model, counts=counts, due_today=due_today, overdue=overdue, mine=mine)


def staff_names(session: Session, events: list[RequestEvent]) -> dict[int, str]:
    """Names of the staff members who wrote ``events`` (history lines or messages), by id."""
    ids = {e.staff_id for e in events if e.staff_id}
    if not ids:
        return {}
    return dict(session.execute(select(StaffUser.id, StaffUser.full_name).where(StaffUser.id.in_(ids))).all())


def active_staff(session: Session) -> list[StaffUser]:
    """Staff who may be given a request (reassignment), by name: their id and name only (no secret is read)."""
    return list(session.scalars(select(StaffUser).where(StaffUser.active)
                                .options(load_only(StaffUser.id, StaffUser.full_name))
                                .order_by(StaffUser.full_name)))
