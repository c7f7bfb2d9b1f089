"""Fixtures of the back-office tests: a client mounted at /backoffice, staff, coverage requests."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from models.base import utcnow
from models.requests.entities import HospitalCoverageRequest
from models.requests.workflow import local_today, start_request
from models.staff.entities import StaffRole
from tests.factories import make_member, make_staff
from tests.helpers import login_staff

from .support import MountedClient


@pytest.fixture
def backoffice_client(backoffice_app):
    """A browser-like client of the back office, mounted at /backoffice as in wsgi.py."""
    backoffice_app.test_client_class = MountedClient
    return backoffice_app.test_client()


@pytest.fixture
def agent(session):
    return make_staff(session, StaffRole.AGENT)


@pytest.fixture
def manager(session):
    return make_staff(session, StaffRole.MANAGER)


@pytest.fixture
def admin(session):
    return make_staff(session, StaffRole.ADMIN)


@pytest.fixture
def as_staff(backoffice_client):
    """Sign a staff member into the back-office client (both factors done) and return the client."""

    def sign(staff):
        login_staff(backoffice_client, staff)
        return backoffice_client

    return sign


@pytest.fixture
def member(session):
    return make_member(session)


@pytest.fixture
def coverage_request(session, member):
    """Builder of hospital coverage requests of ``member`` (committed), new unless told otherwise."""

    def build(*, created_at: datetime | None = None, establishment_name: str = "Clinique des Cèdres",
              admission_fax: str | None = "0476000001", admission_email: str | None = None,
              for_member=None) -> HospitalCoverageRequest:
        owner = for_member or member
        now = created_at or utcnow()
        request = HospitalCoverageRequest(
            member_id=owner.id, beneficiary_id=owner.beneficiaries[1].id if len(owner.beneficiaries) > 1
            else owner.beneficiaries[0].id,
            establishment_name=establishment_name, finess=None, start_on=local_today(now) + timedelta(days=7),
            admission_fax=admission_fax, admission_email=admission_email,
        )
        start_request(session, request, now=now)
        session.commit()
        return request

    return build


@pytest.fixture
def reload(session):
    """Fresh copy of an entity from the database (the app committed in another session)."""

    def get(model, id_):
        session.expire_all()
        return session.scalar(select(model).where(model.id == id_))

    return get


@pytest.fixture
def new_client(backoffice_app):
    """Factory of more clients of the same back office (another browser, another agent)."""
    backoffice_app.test_client_class = MountedClient
    return backoffice_app.test_client
