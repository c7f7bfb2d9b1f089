"""Odd input never gives a 500 in the member area, even before sign-in; nothing is written."""

import re

from sqlalchemy import func, select

from models.requests.entities import HospitalCoverageRequest
from tests.factories import make_member
from tests.helpers import login_member


def _csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', client.get(path).get_data(as_text=True)).group(1)


def test_a_nul_byte_in_the_login_is_refused_before_any_query(member_client):
    token = _csrf(member_client, "/connexion")
    response = member_client.post("/connexion", data={"csrf_token": token, "identifiant": "44\x0000",
                                                      "password": "x"})
    assert response.status_code == 400


def test_a_nul_byte_in_the_coverage_form_writes_nothing(member_client, session):
    member = make_member(session)
    login_member(member_client, member)
    token = _csrf(member_client, "/prise-en-charge-hospitaliere/")
    response = member_client.post("/prise-en-charge-hospitaliere/", data={
        "csrf_token": token, "establishment_name": "Clinique\x00X", "admission_email": "a@b.fr"})
    assert response.status_code == 400
    assert session.scalar(select(func.count()).select_from(HospitalCoverageRequest)) == 0


def test_a_nul_byte_in_a_reference_is_not_an_error(member_client, session):
    login_member(member_client, make_member(session))
    assert member_client.get("/prise-en-charge-hospitaliere/%00").status_code in (400, 404)


def test_a_file_where_a_text_is_expected_is_answered_400_on_every_form(member_app, member_client, session):
    import io

    from models.audit.entities import AuditEvent

    member = make_member(session)
    login_member(member_client, member)
    token = _csrf(member_client, "/mon-compte/mot-de-passe")
    names = ("identifiant", "password", "code", "email_code", "mobile", "new-mobile", "check-code", "last_name",
             "first_name", "birth_date", "nir", "new_password", "current_password", "accept", "establishment_name",
             "finess", "start_on", "beneficiary_id", "admission_fax", "admission_email")
    routes = sorted({rule.rule.replace("<token>", "t").replace("<int:session_id>", "1").replace("<change>", "sms")
                     for rule in member_app.url_map.iter_rules() if "POST" in rule.methods})
    assert "/connexion" in routes and "/prise-en-charge-hospitaliere/" in routes
    before = session.scalar(select(func.count()).select_from(AuditEvent))
    for path in routes:
        data = {"csrf_token": token, **{name: (io.BytesIO(b"x"), "x.txt") for name in names}}
        assert member_client.post(path, data=data, content_type="multipart/form-data").status_code == 400, path
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == before
    assert member_client.get("/").status_code == 200  # still signed in: nothing happened
