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
