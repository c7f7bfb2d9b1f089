"""The workflow shared by all requests: references, due dates, transitions and the claim of the next item."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..audit.operations import record
from ..errors import InvalidTransition
from ..formats import PARIS
from ..staff.entities import StaffUser
from .entities import ReferenceCounter, RequestEvent, RequestMixin, RequestStatus

S = RequestStatus
ALLOWED: dict[RequestStatus, set[RequestStatus]] = {
    S.NEW: {S.IN_PROGRESS, S.REJECTED},
    S.IN_PROGRESS: {S.NEW, S.WAITING_MEMBER, S.DONE, S.REJECTED},
    S.WAITING_MEMBER: {S.IN_PROGRESS, S.DONE, S.REJECTED},
    S.DONE: set(),
    S.REJECTED: set(),
}
#: Working days promised to members, per request kind.
DUE_WORKING_DAYS = {
    "hospital_coverage": 2,
    "document": 10,
    "contact": 5,
    "bank_details": 10,
    "teletransmission": 15,
}


def local_today(now: datetime) -> date:
    """The calendar date in France at instant ``now``."""
    return now.astimezone(PARIS).date()


def add_working_days(start: date, days: int) -> date:
    """``start`` plus ``days`` working days (Monday to Friday)."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if current.weekday() < 5:
            days -= 1
    return current


def due_date(kind: str, now: datetime) -> date:
    """The date by which a request of ``kind`` created at ``now`` should be answered."""
    return add_working_days(local_today(now), DUE_WORKING_DAYS[kind])


def next_reference(session: Session, prefix: str, year: int) -> str:
    """Hand out the next human reference, e.g. ``PEC-2026-000123`` (atomic under concurrency)."""
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    stmt = insert(ReferenceCounter).values(prefix=prefix, year=year, last_value=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["prefix", "year"], set_={"last_value": ReferenceCounter.last_value + 1}
    ).returning(ReferenceCounter.last_value)
    value = session.execute(stmt).scalar_one()
    return f"{prefix}-{year}-{value:06d}"


def start_request(session: Session, request: RequestMixin, *, now: datetime) -> None:
    """Give a new request its reference, due date and first history line, then add it."""
    request.reference = next_reference(session, request.reference_prefix, local_today(now).year)
    request.status = RequestStatus.NEW
    request.created_at = now
    request.updated_at = now
    request.due_on = due_date(request.kind, now)
    session.add(request)
    session.flush()
    session.add(RequestEvent(request_kind=request.kind, request_id=request.id, at=now,
                             to_status=RequestStatus.NEW, note="Demande reçue"))


def transition(
    session: Session,
    request: RequestMixin,
    to: RequestStatus,
    *,
    staff: StaffUser | None,
    now: datetime,
    note: str = "",
) -> None:
    """Move ``request`` to status ``to`` if the workflow allows it, with history and audit."""
    if to not in ALLOWED[request.status]:
        raise InvalidTransition(f"Impossible de passer de « {request.status.label} » à « {to.label} ».")
    previous = request.status
    request.status = to
    request.updated_at = now
    if to in (RequestStatus.DONE, RequestStatus.REJECTED):
        request.closed_at = now
    if to is RequestStatus.NEW:
        request.assigned_to_id = None
        request.claimed_at = None
    session.add(RequestEvent(request_kind=request.kind, request_id=request.id, at=now,
                             staff_id=staff.id if staff else None, from_status=previous, to_status=to,
                             note=note))
    record(session, f"request.{to.value}", actor_type="staff" if staff else "system",
           actor_id=staff.id if staff else None, subject=request, member_id=request.member_id, now=now,
           reference=request.reference, from_status=previous.value)


def claim(session: Session, request: RequestMixin, *, staff: StaffUser, now: datetime) -> None:
    """Assign ``request`` to ``staff`` and start working on it."""
    transition(session, request, RequestStatus.IN_PROGRESS, staff=staff, now=now, note="Prise en charge par un agent")
    request.assigned_to_id = staff.id
    request.claimed_at = now


def claim_next(session: Session, model: type[RequestMixin], *, staff: StaffUser, now: datetime) -> RequestMixin | None:
    """Claim the oldest new request of a queue; two agents never get the same one.

    On PostgreSQL the row is taken with ``FOR UPDATE SKIP LOCKED``, so concurrent agents each
    get a different request without waiting. Returns None when the queue is empty.
    """
    stmt = (
        select(model)
        .where(model.status == RequestStatus.NEW)
        .order_by(model.created_at, model.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    request = session.scalars(stmt).first()
    if request is None:
        return None
    claim(session, request, staff=staff, now=now)
    session.flush()
    return request


def history(session: Session, request: RequestMixin) -> list[RequestEvent]:
    """The history lines of ``request``, oldest first."""
    return list(session.scalars(
        select(RequestEvent)
        .where(RequestEvent.request_kind == request.kind, RequestEvent.request_id == request.id)
        .order_by(RequestEvent.at, RequestEvent.id)
    ))
