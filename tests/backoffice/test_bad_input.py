"""Odd input never gives a 500: control characters are refused, out-of-range ids are simply not found."""

import pytest

from tests.helpers import login_staff

from .support import csrf_from

HUGE_ID = "99999999999"


def test_control_characters_in_the_staff_sign_in_are_refused(backoffice_client):
    token = csrf_from(backoffice_client, "/connexion")
    response = backoffice_client.post("/connexion", data={"csrf_token": token, "email": "a\x00@mese.fr",
                                                          "password": "x"})
    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/prises-en-charge/details/?id=" + HUGE_ID,
                                  "/prises-en-charge/details/?id=-1",
                                  "/prises-en-charge/details/?id=%D9%A3",
                                  "/prises-en-charge/?search=%00"])
def test_odd_ids_and_searches_in_the_queue_are_not_errors(backoffice_client, agent, path):
    login_staff(backoffice_client, agent)
    assert backoffice_client.get(path).status_code in (302, 400, 404)


@pytest.mark.parametrize("action", ["accepter", "prendre", "remettre", "refuser"])
def test_actions_on_an_out_of_range_id_are_not_errors(backoffice_client, agent, action):
    login_staff(backoffice_client, agent)
    token = csrf_from(backoffice_client, "/prises-en-charge/")
    response = backoffice_client.post(f"/prises-en-charge/{HUGE_ID}/{action}/", data={"csrf_token": token,
                                                                                      "reason": "x"})
    assert response.status_code in (302, 404)
