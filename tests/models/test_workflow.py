"""The workflow every request follows: transitions, history, references, due dates, claiming the next one."""

import threading
from datetime import UTC, date, datetime, timedelta
from itertools import product

import pytest
from sqlalchemy import func, select

from models.audit.entities import AuditEvent
from models.errors import InvalidTransition
from models.requests.entities import HospitalCoverageRequest, RequestEvent, RequestStatus
from models.requests.operations import claim, claim_next
from models.requests.workflow import (
    ALLOWED, DUE_WORKING_DAYS, add_working_days, due_date, history, local_today, next_reference, start_request,
    transition,
)
from models.staff.entities import StaffRole
from tests.factories import make_member, make_staff

S = RequestStatus
NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # a Friday


def new_request(session, member, *, now=NOW, name="Hôpital Nord") -> HospitalCoverageRequest:
    """A new hospital coverage request of ``member`` for its principal insured, flushed."""
    request = HospitalCoverageRequest(
        member_id=member.id, beneficiary_id=member.beneficiaries[0].id, establishment_name=name,
        start_on=local_today(now) + timedelta(days=10), admission_fax="0476000000",
    )
    start_request(session, request, now=now)
    return request


def move_to(session, request, status, staff):
    """Walk ``request`` from NEW to ``status`` along allowed transitions."""
    path = {S.NEW: [], S.IN_PROGRESS: [S.IN_PROGRESS], S.WAITING_MEMBER: [S.IN_PROGRESS, S.WAITING_MEMBER],
            S.DONE: [S.IN_PROGRESS, S.DONE], S.REJECTED: [S.REJECTED]}[status]
    for step in path:
        transition(session, request, step, staff=staff, now=NOW)


@pytest.fixture
def member(session):
    return make_member(session, password=None)


@pytest.fixture
def agent(session):
    return make_staff(session, StaffRole.AGENT)


# Transitions ----------------------------------------------------------------------------------------

def test_the_transition_table_is_the_documented_workflow():
    assert ALLOWED == {
        S.NEW: {S.IN_PROGRESS, S.REJECTED},
        S.IN_PROGRESS: {S.NEW, S.WAITING_MEMBER, S.DONE, S.REJECTED},
        S.WAITING_MEMBER: {S.IN_PROGRESS, S.DONE, S.REJECTED},
        S.DONE: set(),
        S.REJECTED: set(),
    }


@pytest.mark.parametrize("start, target", list(product(S, S)))
def test_each_transition_is_allowed_only_if_the_table_says_so(session, member, agent, start, target):
    request = new_request(session, member)
    move_to(session, request, start, agent)
    assert request.status is start
    if target in ALLOWED[start]:
        transition(session, request, target, staff=agent, now=NOW)
        assert request.status is target
    else:
        with pytest.raises(InvalidTransition):
            transition(session, request, target, staff=agent, now=NOW)
        assert request.status is start


def test_a_transition_writes_history_and_an_audit_event(session, member, agent):
    request = new_request(session, member)
    later = NOW + timedelta(hours=1)
    transition(session, request, S.REJECTED, staff=agent, now=later, note="Doublon")
    session.flush()
    events = history(session, request)
    assert [(e.from_status, e.to_status) for e in events] == [(None, S.NEW), (S.NEW, S.REJECTED)]
    assert events[1].staff_id == agent.id and events[1].note == "Doublon"
    assert request.closed_at == later and request.updated_at == later
    audit = session.scalar(select(AuditEvent).where(AuditEvent.action == "request.rejected"))
    assert audit.actor_id == agent.id and audit.member_id == member.id
    assert audit.details == {"reference": request.reference, "from_status": "new"}


def test_claim_assigns_the_agent_and_giving_back_clears_it(session, member, agent):
    request = new_request(session, member)
    claim(session, request, staff=agent, now=NOW)
    assert (request.status, request.assigned_to_id, request.claimed_at) == (S.IN_PROGRESS, agent.id, NOW)
    transition(session, request, S.NEW, staff=agent, now=NOW)
    assert (request.assigned_to_id, request.claimed_at) == (None, None)


def test_a_closed_request_cannot_be_claimed(session, member, agent):
    request = new_request(session, member)
    transition(session, request, S.REJECTED, staff=agent, now=NOW)
    with pytest.raises(InvalidTransition):
        claim(session, request, staff=agent, now=NOW)


# Claiming the next request ----------------------------------------------------------------------------

def test_claim_next_takes_the_oldest_new_request(session, member, agent):
    newer = new_request(session, member, now=NOW + timedelta(minutes=5), name="B")
    older = new_request(session, member, now=NOW, name="A")
    same_time_later_id = new_request(session, member, now=NOW + timedelta(minutes=5), name="C")
    session.commit()
    assert claim_next(session, HospitalCoverageRequest, staff=agent, now=NOW) is older
    assert claim_next(session, HospitalCoverageRequest, staff=agent, now=NOW) is newer
    assert claim_next(session, HospitalCoverageRequest, staff=agent, now=NOW) is same_time_later_id
    assert claim_next(session, HospitalCoverageRequest, staff=agent, now=NOW) is None


def test_claim_next_skips_requests_already_claimed_or_closed(session, member, agent):
    claimed = new_request(session, member, now=NOW)
    claim(session, claimed, staff=agent, now=NOW)
    closed = new_request(session, member, now=NOW + timedelta(minutes=1))
    transition(session, closed, S.REJECTED, staff=agent, now=NOW)
    waiting = new_request(session, member, now=NOW + timedelta(minutes=2))
    session.commit()
    assert claim_next(session, HospitalCoverageRequest, staff=agent, now=NOW) is waiting


def test_claim_next_gives_two_agents_at_the_same_instant_two_different_requests(
    session, member, agent, models_config
):
    from models.db import session_factory

    first = new_request(session, member, now=NOW, name="A")
    second = new_request(session, member, now=NOW + timedelta(minutes=1), name="B")
    other_agent = make_staff(session, StaffRole.AGENT)  # commits
    factory = session_factory(models_config)
    with factory() as s1, factory() as s2:
        got1 = claim_next(s1, HospitalCoverageRequest, staff=s1.merge(agent), now=NOW)  # row locked, not committed
        result = {}

        def other():
            result["got"] = claim_next(s2, HospitalCoverageRequest, staff=s2.merge(other_agent), now=NOW)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join(timeout=10)
        assert not thread.is_alive(), "the second agent waited for the first one's lock"
        assert got1.id == first.id
        assert result["got"].id == second.id
        s1.commit()
        s2.commit()
    session.expire_all()
    assert session.get(HospitalCoverageRequest, first.id).assigned_to_id == agent.id
    assert session.get(HospitalCoverageRequest, second.id).assigned_to_id == other_agent.id


# References and dates ---------------------------------------------------------------------------------

def test_references_count_up_per_prefix_and_year_with_six_digits(session):
    assert next_reference(session, "PEC", 2026) == "PEC-2026-000001"
    assert next_reference(session, "PEC", 2026) == "PEC-2026-000002"
    assert next_reference(session, "DOC", 2026) == "DOC-2026-000001"
    assert next_reference(session, "PEC", 2027) == "PEC-2027-000001"


def test_start_request_sets_reference_status_dates_and_first_history_line(session, member):
    request = new_request(session, member)
    assert request.reference == "PEC-2026-000001"
    assert request.status is S.NEW
    assert request.created_at == NOW
    assert request.due_on == date(2026, 12, 1)  # Friday + 2 working days
    assert session.scalar(select(func.count()).select_from(RequestEvent)) == 1


@pytest.mark.parametrize("start, days, expected", [
    (date(2026, 11, 27), 0, date(2026, 11, 27)),   # Friday, nothing to add
    (date(2026, 11, 27), 1, date(2026, 11, 30)),   # Friday -> Monday
    (date(2026, 11, 27), 2, date(2026, 12, 1)),    # Friday -> Tuesday
    (date(2026, 11, 28), 1, date(2026, 11, 30)),   # Saturday -> Monday
    (date(2026, 11, 29), 2, date(2026, 12, 1)),    # Sunday -> Tuesday
    (date(2026, 11, 23), 10, date(2026, 12, 7)),   # Monday + two weeks
])
def test_working_days_skip_weekends(start, days, expected):
    assert add_working_days(start, days) == expected


def test_due_date_depends_on_the_kind_of_request():
    assert DUE_WORKING_DAYS["hospital_coverage"] == 2
    assert due_date("hospital_coverage", NOW) == date(2026, 12, 1)
    assert due_date("document", NOW) == date(2026, 12, 11)


@pytest.mark.parametrize("instant, expected", [
    (datetime(2026, 11, 27, 22, 59, tzinfo=UTC), date(2026, 11, 27)),
    (datetime(2026, 11, 27, 23, 0, tzinfo=UTC), date(2026, 11, 28)),  # midnight in Paris (UTC+1)
    (datetime(2026, 7, 1, 22, 0, tzinfo=UTC), date(2026, 7, 2)),      # summer time (UTC+2)
    (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), date(2027, 1, 1)),   # new year in France first
])
def test_today_is_the_date_in_france(instant, expected):
    assert local_today(instant) == expected


# French working days ----------------------------------------------------------------------------------

@pytest.mark.parametrize("start, days, expected", [
    (date(2026, 12, 24), 1, date(2026, 12, 28)),   # Christmas (Friday) and the weekend are skipped
    (date(2026, 12, 31), 1, date(2027, 1, 4)),     # New Year's Day, then the weekend
    (date(2027, 5, 5), 1, date(2027, 5, 7)),       # Ascension Thursday
    (date(2027, 5, 14), 1, date(2027, 5, 18)),     # Whit Monday
    (date(2026, 11, 10), 1, date(2026, 11, 12)),   # 11 November
])
def test_working_days_skip_french_public_holidays(start, days, expected):
    assert add_working_days(start, days) == expected


def test_waiting_for_the_member_moves_the_due_date_by_the_working_days_waited(session, member, agent):
    from models.requests.deadlines import resumed_due_date, working_days_between

    assert working_days_between(date(2026, 12, 23), date(2026, 12, 28)) == 2  # 24 and 28 (25 is Christmas)
    assert resumed_due_date(date(2027, 1, 4), datetime(2026, 12, 23, 10, tzinfo=UTC),
                            datetime(2026, 12, 28, 10, tzinfo=UTC)) == date(2027, 1, 6)
    request = new_request(session, member)
    claim(session, request, staff=agent, now=NOW)
    transition(session, request, S.WAITING_MEMBER, staff=agent, now=NOW)
    assert request.waiting_since == NOW
    due = request.due_on
    transition(session, request, S.IN_PROGRESS, staff=None, by_member=True, now=NOW + timedelta(days=3))
    assert request.due_on == add_working_days(due, 1) and request.waiting_since is None  # Friday to Monday
    audit = session.scalars(select(AuditEvent).where(AuditEvent.action == "request.in_progress")
                            .order_by(AuditEvent.id.desc())).first()
    assert (audit.actor_type, audit.actor_id) == ("member", member.id)
