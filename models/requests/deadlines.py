"""Deadlines of requests in French working days: weekends and public holidays (metropolitan France) excluded."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

import holidays

from ..formats import PARIS

#: Working days MESE promises for an answer, per kind of request.
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


@lru_cache(maxsize=1)
def french_calendar() -> holidays.HolidayBase:
    """Public holidays of metropolitan France (years are added as they are asked for)."""
    return holidays.country_holidays("FR")


def is_working_day(day: date) -> bool:
    """True from Monday to Friday, except French public holidays."""
    return day.weekday() < 5 and day not in french_calendar()


def add_working_days(start: date, days: int) -> date:
    """``start`` plus ``days`` working days (``start`` itself is not counted)."""
    current = start
    while days > 0:
        current += timedelta(days=1)
        if is_working_day(current):
            days -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """Working days after ``start`` up to and including ``end`` (0 when ``end`` is not after ``start``)."""
    count, current = 0, start
    while current < end:
        current += timedelta(days=1)
        if is_working_day(current):
            count += 1
    return count


def due_date(kind: str, now: datetime) -> date:
    """The date by which a request of ``kind`` created at ``now`` should be answered."""
    return add_working_days(local_today(now), DUE_WORKING_DAYS[kind])


def resumed_due_date(due_on: date, waiting_since: datetime, now: datetime) -> date:
    """The due date once a pause (waiting for the member) ends: pushed by the working days it lasted."""
    return add_working_days(due_on, working_days_between(local_today(waiting_since), local_today(now)))
