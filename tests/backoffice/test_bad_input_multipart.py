"""No 500 on the probe's bad inputs in the back office; an action never commits before its input is good."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import func, select

from models.audit.entities import AuditEvent
from models.base import utcnow
from models.staff.entities import StaffUser
from tests.helpers import login_staff

from .support import csrf_from

TEXT_FIELD_NAMES = ("email", "password", "code", "current_password", "new_password", "confirmation", "full_name",
                    "reason", "url", "action", "rowid", "session_id", "title", "body", "role", "search")


def post_routes(app):
    """Every POST address of the app, with 1 for each path argument."""
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and rule.endpoint not in ("static", "admin.static"):
            yield rule.rule.replace("<int:request_id>", "1").replace("<export_type>", "csv")


def test_a_file_where_a_text_is_expected_is_answered_400_on_every_form(backoffice_app, backoffice_client, session,
                                                                       admin):
    login_staff(backoffice_client, admin)
    token = csrf_from(backoffice_client, "/")
    before = session.scalar(select(func.count()).select_from(AuditEvent))
    routes = sorted(set(post_routes(backoffice_app)))
    assert "/connexion" in routes and "/personnel/action/" in routes and len(routes) > 20
    for path in routes:
        data = {"csrf_token": token, **{name: (io.BytesIO(b"x"), "x.txt") for name in TEXT_FIELD_NAMES}}
        response = backoffice_client.post(path, data=data, content_type="multipart/form-data")
        assert response.status_code == 400, path
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_a_line_break_in_the_return_address_of_an_action_changes_nothing(session, as_staff, admin, agent):
    agent.failed_login_count, agent.locked_until = 10, utcnow()
    session.commit()
    client = as_staff(admin)
    response = client.post("/personnel/action/", data={"action": "unlock", "rowid": [str(agent.id)],
                                                       "url": "/personnel/\r\nSet-Cookie: x=y",
                                                       "csrf_token": csrf_from(client, "/personnel/")})
    assert response.status_code == 400
    session.expire_all()
    assert session.get(StaffUser, agent.id).failed_login_count == 10  # the action did not run
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.unlocked")) is None


@pytest.mark.parametrize("path", ["/prises-en-charge/?page=-1", "/prises-en-charge/?page=99999999999999999999",
                                  "/envois/?page=-5", "/journal/?page=10000000000000"])
def test_odd_page_numbers_are_answered_400(session, as_staff, admin, path):
    assert as_staff(admin).get(path).status_code == 400


@pytest.mark.parametrize("path", ["/envois/?flt0_0=bogus", "/envois/?flt0_1=pigeon", "/journal/?flt0_1=abc",
                                  "/journal/?flt0_2=99999999999", "/journal/?flt0_1=-3", "/journal/?flt0_2=%D9%A3"])
def test_unknown_filter_values_give_the_page_without_that_filter(session, as_staff, admin, path):
    response = as_staff(admin).get(path)
    assert response.status_code == 200
