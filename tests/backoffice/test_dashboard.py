"""The managers' dashboard: figures on a small known data set, who may open it, its bad input."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

import pytest
from sqlalchemy import select

from models.audit.entities import AuditEvent
from models.content.entities import ContactReason
from models.formats import PARIS
from models.reports.dashboard import dashboard, percentile
from models.requests.entities import ContactRequest, HospitalCoverageRequest, RequestStatus
from models.requests.workflow import start_request
from models.staff.entities import StaffRole
from tests.factories import make_staff

NOON = datetime(2026, 11, 20, 12, 0, tzinfo=PARIS)
TODAY = NOON.date()


def at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=PARIS)


@pytest.fixture
def known(session, member, agent):
    """Four requests closed in November 2026 and three still open (see each line), two agents."""
    return build_known(session, member, agent)


def build_known(session, member, agent):
    """The data of ``known`` in any database."""
    other = make_staff(session, StaffRole.AGENT)
    reason = ContactReason(name="Remboursements")
    session.add(reason)
    session.flush()

    def coverage(received, **fields):
        request = HospitalCoverageRequest(member_id=member.id, beneficiary_id=member.beneficiaries[0].id,
                                          establishment_name="Clinique", start_on=received.date())
        start_request(session, request, now=received)
        for name, value in fields.items():
            setattr(request, name, value)
        return request

    def contact(received, **fields):
        request = ContactRequest(member_id=member.id, reason_id=reason.id, message="Bonjour")
        start_request(session, request, now=received)
        for name, value in fields.items():
            setattr(request, name, value)
        return request

    done = RequestStatus.DONE
    # Monday 2 to Thursday 5: 3 working days, due the 4th: late.
    coverage(at(2), status=done, closed_at=at(5, 15), due_on=date(2026, 11, 4), assigned_to_id=agent.id)
    # Tuesday 10 to Thursday 12: 1 working day (11 November is a public holiday), on time.
    coverage(at(10), status=RequestStatus.REJECTED, closed_at=at(12, 15), due_on=date(2026, 11, 13),
             assigned_to_id=agent.id)
    # Friday 13 to Monday 16: 1 working day, on time.
    coverage(at(13, 16), status=done, closed_at=at(16, 10), due_on=date(2026, 11, 17), assigned_to_id=agent.id)
    # Contact, Monday 16 to Friday 20: 4 working days, on time.
    contact(at(16), status=done, closed_at=at(20, 11), due_on=date(2026, 11, 23), assigned_to_id=other.id)
    # Still open: new and due today; in progress and late; waiting for the member (paused: never late).
    coverage(at(18), due_on=TODAY)
    coverage(at(18), status=RequestStatus.IN_PROGRESS, due_on=date(2026, 11, 18), assigned_to_id=agent.id)
    contact(at(18), status=RequestStatus.WAITING_MEMBER, due_on=date(2026, 11, 10), assigned_to_id=other.id)
    session.commit()
    return {"agent": agent, "other": other}


def test_percentiles_interpolate_like_postgresql():
    assert percentile(Counter({1: 2, 3: 1}), 0.5) == 1 and percentile(Counter({1: 2, 3: 1}), 0.9) == pytest.approx(2.6)
    assert percentile(Counter({1: 2, 3: 1, 4: 1}), 0.5) == 2 and percentile(Counter(), 0.5) is None


def test_dashboard_figures_on_a_known_data_set(session, known):
    figures = dashboard(session, start=date(2026, 11, 1), end=TODAY, today=TODAY)
    states = {s.kind: (s.new, s.in_progress, s.waiting, s.due_today, s.overdue) for s in figures.states}
    assert states["hospital_coverage"] == (1, 1, 0, 1, 1)
    assert states["contact"] == (0, 0, 1, 0, 0)
    assert states["document"] == (0, 0, 0, 0, 0)
    assert states["all"] == (1, 1, 1, 1, 1)
    timings = {t.kind: (t.closed, t.median, t.p90, t.on_time_share) for t in figures.timings}
    assert timings["hospital_coverage"] == (3, 1, pytest.approx(2.6), pytest.approx(2 / 3))
    assert timings["contact"] == (1, 4, 4, 1)
    assert timings["all"] == (4, 2, pytest.approx(3.7), 0.75)
    days = {day.day: (received, closed) for day, received, closed in figures.days}
    assert len(figures.days) == 20 and days[2] == (1, 0) and days[5] == (0, 1) and days[11] == (0, 0)
    assert days[16] == (1, 1) and days[18] == (3, 0) and days[20] == (0, 1)
    assert [(a.name, a.closed, a.open_now) for a in figures.agents] == [
        (known["agent"].full_name, 3, 1), (known["other"].full_name, 1, 1)]


def test_the_embedded_mode_computes_the_same_figures_on_sqlite(tmp_path, models_config):
    from models.config import ModelsConfig
    from models.db import session_factory
    from models.schema import upgrade
    from tests.factories import make_member

    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    upgrade(url)
    with session_factory(ModelsConfig(database_url=url, field_key=models_config.field_key))() as sqlite:
        people = build_known(sqlite, make_member(sqlite), make_staff(sqlite, StaffRole.AGENT))
        figures = dashboard(sqlite, start=date(2026, 11, 1), end=TODAY, today=TODAY)
        assert {s.kind: (s.new, s.in_progress, s.waiting, s.due_today, s.overdue) for s in figures.states}["all"] \
            == (1, 1, 1, 1, 1)
        assert {t.kind: (t.closed, t.median, t.p90, t.on_time_share) for t in figures.timings}["all"] == \
            (4, 2, pytest.approx(3.7), 0.75)
        days = {day.day: (received, closed) for day, received, closed in figures.days}
        assert days[2] == (1, 0) and days[16] == (1, 1) and days[18] == (3, 0) and days[20] == (0, 1)
        assert [(a.closed, a.open_now) for a in figures.agents] == [(3, 1), (1, 1)]
        assert people["other"].id


def test_one_queue_and_a_shorter_period(session, known):
    figures = dashboard(session, start=date(2026, 11, 10), end=date(2026, 11, 16), today=TODAY,
                        kind="hospital_coverage")
    assert [(t.kind, t.closed, t.median) for t in figures.timings] == [("hospital_coverage", 2, 1)]
    assert sum(r for _d, r, _c in figures.days) == 2 and sum(c for _d, _r, c in figures.days) == 2
    assert [(a.closed, a.open_now) for a in figures.agents] == [(2, 1)]
    assert len(figures.states) == 6, "the state of every queue, whatever the queue chosen"


def test_the_page_shows_each_chart_with_its_table(session, as_staff, manager, known, time_machine):
    time_machine.move_to(NOON, tick=False)
    page = as_staff(manager).get("/tableau-de-bord/?du=2026-11-01&au=2026-11-20")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.count('role="img"') == 4 and html.count("<table") == 4
    assert "<td>2,6</td>" in html and "<td>3,7</td>" in html and "<td>75 %</td>" in html
    assert 'type="application/json" id="bo-dashboard-data"' in html and "vendor/chart.js/chart.umd.min.js" in html
    assert "<script>" not in html, "no inline script (CSP)"


@pytest.mark.parametrize("role", [StaffRole.MANAGER, StaffRole.ADMIN])
def test_managers_and_admins_open_the_dashboard(session, as_staff, role):
    assert as_staff(make_staff(session, role)).get("/tableau-de-bord/").status_code == 200


def test_agents_are_refused_the_dashboard(session, as_staff, agent):
    assert as_staff(agent).get("/tableau-de-bord/").status_code == 403
    refused = session.scalar(select(AuditEvent).where(AuditEvent.action == "backoffice.refused"))
    assert refused.details["endpoint"] == "dashboard.index"


@pytest.mark.parametrize(("query", "field", "message"), [
    ("du=2026-13-01", "du", "Saisissez une date au format JJ/MM/AAAA."),
    ("du=2026-11-20&au=2026-11-01", "au", "La date de fin doit suivre la date de début."),
    ("du=2024-01-01&au=2026-11-01", "du", "La période ne peut dépasser 366 jours."),
    ("file=members", "file", "Choisissez une file de la liste."),
])
def test_bad_input_is_said_next_to_the_field(as_staff, manager, query, field, message):
    response = as_staff(manager).get(f"/tableau-de-bord/?{query}")
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and f'id="{field}-error"' in html
    assert message.replace("'", "&#39;") in html
