"""The managers' dashboard: the state of each queue and of all together, received and closed per day, processing
time in French working days (median, 90th percentile), share answered on time, and work per agent.

Every figure is an aggregate the database computes over indexed columns (open requests, due dates, reception
and closing dates); Python only turns the few groups it returns (one per pair of days, per agent) into working
days with ``models.requests.deadlines`` and percentiles. Nothing is read row by row.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Date, and_, cast, func, select
from sqlalchemy.orm import Session

from ..formats import PARIS
from ..requests.deadlines import working_days_between
from ..requests.entities import OPEN_STATUSES, REQUEST_MODELS, RUNNING_STATUSES, RequestMixin, RequestStatus
from ..requests.queries import status_in
from ..staff.entities import StaffUser
from .queries import REQUEST_TYPE_LABELS, period_condition

ALL = "all"
ALL_LABEL = "Toutes les files"


@dataclass
class QueueState:
    """Open requests of a queue (or of all) right now."""

    kind: str
    label: str
    new: int = 0
    in_progress: int = 0
    waiting: int = 0
    due_today: int = 0
    overdue: int = 0

    def add(self, other: QueueState) -> None:
        """Add ``other``'s counts to these."""
        for name in ("new", "in_progress", "waiting", "due_today", "overdue"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Timing:
    """How fast the requests closed in the period were handled, in working days from reception to closing."""

    kind: str
    label: str
    #: Working days to close -> number of requests.
    histogram: Counter = field(default_factory=Counter)
    on_time: int = 0

    @property
    def closed(self) -> int:
        """Requests closed (done or rejected) in the period."""
        return sum(self.histogram.values())

    @property
    def median(self) -> float | None:
        """Median processing time (working days)."""
        return percentile(self.histogram, 0.5)

    @property
    def p90(self) -> float | None:
        """90th percentile of the processing time (working days)."""
        return percentile(self.histogram, 0.9)

    @property
    def on_time_share(self) -> float | None:
        """Share of the requests closed by their due date (0 to 1)."""
        return self.on_time / self.closed if self.closed else None


@dataclass
class AgentWork:
    """What a staff member closed in the period and holds open now."""

    staff_id: int
    name: str
    closed: int = 0
    open_now: int = 0


@dataclass
class Dashboard:
    """Every figure of the dashboard for a period and a queue (or all)."""

    start: date
    end: date
    kind: str
    states: list[QueueState]
    days: list[tuple[date, int, int]]
    timings: list[Timing]
    agents: list[AgentWork]


def percentile(histogram: Counter, fraction: float) -> float | None:
    """The ``fraction`` percentile of the values counted in ``histogram``, interpolated between neighbours
    (PostgreSQL's ``percentile_cont``); None when there is no value."""
    total = sum(histogram.values())
    if not total:
        return None
    position = fraction * (total - 1)
    low, high = math.floor(position), math.ceil(position)

    def value_at(index: int) -> int:
        seen = 0
        for value in sorted(histogram):
            seen += histogram[value]
            if index < seen:
                return value
        raise IndexError(index)

    lower, upper = value_at(low), value_at(high)
    return lower + (upper - lower) * (position - low)


def _models(kind: str) -> list[type[RequestMixin]]:
    return list(REQUEST_MODELS.values()) if kind == ALL else [REQUEST_MODELS[kind]]


def _day(session: Session, column):
    """SQL for the Paris date of a timestamp column, and how to read what it returns."""
    if session.get_bind().dialect.name == "postgresql":
        return cast(func.timezone("Europe/Paris", column), Date), _as_date
    # SQLite keeps UTC text: group by the UTC hour, which Python turns into the Paris date (one per group).
    return func.strftime("%Y-%m-%d %H:00:00", column), _hour_to_paris_date


def _as_date(value) -> date | None:
    return value if value is None or isinstance(value, date) else date.fromisoformat(str(value))


def _hour_to_paris_date(value) -> date | None:
    if value is None:
        return None
    return datetime.fromisoformat(value).replace(tzinfo=UTC).astimezone(PARIS).date()


def queue_state(session: Session, model: type[RequestMixin], today: date) -> QueueState:
    """New, in progress, waiting for the member, due today and overdue (waiting pauses the clock): one pass over
    the open requests' index."""
    running = model.status.in_(RUNNING_STATUSES)
    row = session.execute(select(
        func.count().filter(model.status == RequestStatus.NEW),
        func.count().filter(model.status == RequestStatus.IN_PROGRESS),
        func.count().filter(model.status == RequestStatus.WAITING_MEMBER),
        func.count().filter(and_(running, model.due_on == today)),
        func.count().filter(and_(running, model.due_on < today)),
    ).where(status_in(model, OPEN_STATUSES))).one()
    return QueueState(model.kind, REQUEST_TYPE_LABELS[model.kind], *row)


def _per_day(session: Session, column, conditions) -> Counter:
    day, read = _day(session, column)
    counts: Counter = Counter()
    for value, count in session.execute(select(day, func.count()).where(*conditions).group_by(day)):
        counts[read(value)] += count
    return counts


def dashboard(session: Session, *, start: date, end: date, today: date, kind: str = ALL) -> Dashboard:
    """The dashboard's figures for the Paris dates ``start`` to ``end`` (included), for queue ``kind`` (or all).

    The state of the queues is always given for each queue and for all together; the per-day counts, the timings
    and the agents' work follow ``kind``.
    """
    total = QueueState(ALL, ALL_LABEL)
    states = []
    for model in REQUEST_MODELS.values():
        state = queue_state(session, model, today)
        states.append(state)
        total.add(state)

    received, closed = Counter(), Counter()
    timings, all_timing = [], Timing(ALL, ALL_LABEL)
    closed_by_agent: Counter = Counter()
    open_by_agent: Counter = Counter()
    for model in _models(kind):
        received += _per_day(session, model.created_at, period_condition(model.created_at, start, end))
        closed_in_period = [*period_condition(model.closed_at, start, end), model.closed_at.isnot(None)]
        closed += _per_day(session, model.closed_at, closed_in_period)
        timing = Timing(model.kind, REQUEST_TYPE_LABELS[model.kind])
        created_day, read_created = _day(session, model.created_at)
        closed_day, read_closed = _day(session, model.closed_at)
        # One group per pair of days (a few hundred), never one per request.
        groups = session.execute(
            select(created_day, closed_day, model.due_on, func.count())
            .where(*closed_in_period).group_by(created_day, closed_day, model.due_on))
        for created_value, closed_value, due_on, count in groups:
            received_on, closed_on = read_created(created_value), read_closed(closed_value)
            timing.histogram[working_days_between(received_on, closed_on)] += count
            timing.on_time += count if closed_on <= _as_date(due_on) else 0
        closed_by_agent.update(dict(session.execute(
            select(model.assigned_to_id, func.count()).where(*closed_in_period, model.assigned_to_id.isnot(None))
            .group_by(model.assigned_to_id)).all()))
        timings.append(timing)
        all_timing.histogram += timing.histogram
        all_timing.on_time += timing.on_time
        open_by_agent.update(dict(session.execute(
            select(model.assigned_to_id, func.count()).where(status_in(model, OPEN_STATUSES),
                                                             model.assigned_to_id.isnot(None))
            .group_by(model.assigned_to_id)).all()))
    if kind == ALL:
        timings.append(all_timing)

    days, day = [], start
    while day <= end:
        days.append((day, received[day], closed[day]))
        day += timedelta(days=1)
    ids = set(closed_by_agent) | set(open_by_agent)
    names = dict(session.execute(select(StaffUser.id, StaffUser.full_name).where(StaffUser.id.in_(ids))).all()) \
        if ids else {}
    agents = sorted((AgentWork(i, names.get(i, f"n° {i}"), closed_by_agent[i], open_by_agent[i]) for i in ids),
                    key=lambda a: (-a.closed, -a.open_now, a.name))
    return Dashboard(start=start, end=end, kind=kind, states=[*states, total], days=days, timings=timings,
                     agents=agents)

