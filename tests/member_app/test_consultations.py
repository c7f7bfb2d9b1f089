"""Consultations de mon dossier: the member sees when staff looked at their file, by role and why, never who; another
family's consultations never; long histories by keyset pages; French and English."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest

from models.audit.operations import record
from models.base import utcnow
from models.members.member360 import member_file, record_opening, unmask
from models.requests.entities import HospitalCoverageRequest
from models.requests.workflow import local_today, start_request
from models.staff.entities import StaffRole
from tests.factories import make_member, make_staff
from tests.helpers import login_member, statements_of


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def lea(session):
    return make_member(session, number="4400000")


@pytest.fixture
def paul(session):
    return make_member(session, number="4400999", first_name="Paul", nir="1840175056123", email="paul@example.test")


@pytest.fixture
def client(member_client, lea):
    login_member(member_client, lea)
    return member_client


@pytest.fixture
def staff(session):
    """A manager and an agent with names a member must never read."""
    manager = make_staff(session, StaffRole.MANAGER)
    manager.full_name = "Bernadette SECRETNOM"
    agent = make_staff(session, StaffRole.AGENT)
    agent.full_name = "Gaston CACHENOM"
    session.commit()
    return {"manager": manager, "agent": agent}


def test_the_member_sees_who_looked_by_role_and_why(session, client, lea, paul, staff):
    now = utcnow()
    found = member_file(session, lea)
    record_opening(session, lea, staff=staff["manager"], ip="10.0.0.1", now=now - timedelta(minutes=5))
    unmask(session, found, target="nir", reason="Appel de l'adhérente au sujet de sa carte", staff=staff["manager"],
           ip="10.0.0.1", now=now - timedelta(minutes=4))
    request = HospitalCoverageRequest(member_id=lea.id, beneficiary_id=lea.beneficiaries[0].id,
                                      establishment_name="Clinique des Cèdres", start_on=local_today(now),
                                      admission_fax="0476000001")
    start_request(session, request, now=now)
    session.flush()
    # A queue's details page audits like this (backoffice.views.base: StaffModelView.details_view), without a role.
    record(session, "backoffice.viewed", actor_type="staff", actor_id=staff["agent"].id, subject=request,
           member_id=lea.id, ip="10.0.0.2", now=now - timedelta(minutes=3), view="hospital_coverage")
    # Another family's file, and a member's own sign-in: neither is a consultation of Léa's file.
    record_opening(session, paul, staff=staff["agent"], ip="10.0.0.3", now=now - timedelta(minutes=2))
    record(session, "signin.succeeded", actor_type="member", actor_id=lea.id, member_id=lea.id, now=now)
    session.commit()

    statements, response = statements_of(client, "/mon-compte/consultations")
    # The requests' references are read with the events, in the same statement.
    assert [s for s in statements if "FROM hospital_coverage_request" in s] == \
        [s for s in statements if "FROM audit_event" in s] and len(statements) <= 3
    page = text(response)
    assert response.status_code == 200
    assert "Consultations de mon dossier" in page
    rows = re.findall(r"<tr>\s*<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>\s*<td[^>]*>(.*?)</td>", page, re.S)
    assert [(who, what) for _at, who, what in rows] == [
        ("Gestionnaire MESE", f"Consultation de votre demande {request.reference}"),
        ("Responsable d'équipe MESE", "Affichage en clair de votre numéro de sécurité sociale, motif : "
                                      "« Appel de l'adhérente au sujet de sa carte »"),
        ("Responsable d'équipe MESE", "Consultation de votre dossier d'adhérent"),
    ]
    for secret in ("SECRETNOM", "CACHENOM", "Bernadette", "Gaston", "10.0.0.", f"staff={staff['agent'].id}"):
        assert secret not in page


def test_another_familys_consultations_are_never_shown(session, member_client, lea, paul, staff):
    record_opening(session, lea, staff=staff["manager"], ip=None, now=utcnow())
    session.commit()
    login_member(member_client, paul)
    page = text(member_client.get("/mon-compte/consultations"))
    assert "pas encore été consulté" in page and "Responsable d'équipe" not in page


def test_a_long_history_comes_by_keyset_pages(session, client, lea, staff):
    start = utcnow() - timedelta(days=1)
    for i in range(25):
        record_opening(session, lea, staff=staff["agent"], ip=None, now=start + timedelta(minutes=i))
    session.commit()
    first = text(client.get("/mon-compte/consultations"))
    assert first.count("Consultation de votre dossier d'adhérent") == 20
    older = re.search(r'href="(/mon-compte/consultations\?apres=[^"]+)"', first).group(1)
    second = text(client.get(older))
    assert second.count("Consultation de votre dossier d'adhérent") == 5
    assert "Consultations plus anciennes" not in second
    assert client.get("/mon-compte/consultations?apres=nope").status_code == 400


def test_the_page_needs_a_signed_in_member(member_client):
    response = member_client.get("/mon-compte/consultations")
    assert response.status_code == 302 and "/connexion" in response.location


def test_the_page_is_linked_from_the_account_security_page(client):
    assert 'href="/mon-compte/consultations"' in text(client.get("/mon-compte/securite"))


def test_the_page_in_english(session, client, lea, staff):
    found = member_file(session, lea)
    unmask(session, found, target="nir", reason="Carte perdue, vérification", staff=staff["manager"], ip=None,
           now=utcnow())
    record_opening(session, lea, staff=staff["agent"], ip=None, now=utcnow())
    session.commit()
    page = text(client.get("/mon-compte/consultations?lang=en"))
    assert "Consultations of my file" in page
    assert "Team manager at MESE" in page and "Case handler at MESE" in page
    assert "your social security number" in page and "Carte perdue, vérification" in page
