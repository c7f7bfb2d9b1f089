"""Reads run on the driver (models.db.DriverRead): the same rows as SQLAlchemy gives, on PostgreSQL and SQLite."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, create_engine, select

from models import db
from models.staff.entities import StaffRole, StaffUser
from tests.conftest import TEST_DATABASE_URL
from tests.factories import make_staff

_DESK = [StaffRole.AGENT, StaffRole.MANAGER]


def _query(role_list):
    table = StaffUser.__table__
    return select(table.c.email, table.c.role).where(role_list, table.c.id > bindparam("after")).order_by(table.c.id)


def test_a_read_writes_its_own_literal_in_list_once_and_gives_sqlalchemys_rows(migrated_database, session):
    agent, _admin, manager = (make_staff(session, role) for role in (StaffRole.AGENT, StaffRole.ADMIN,
                                                                        StaffRole.MANAGER))
    # An IN list written in the SQL (literal_execute), as a partial index needs it; the cursor stays a parameter.
    query = _query(StaffUser.role.in_(bindparam("desk", _DESK, expanding=True, literal_execute=True)))
    read = db.DriverRead(query)
    assert db.DriverRead.fits(query)
    engine = create_engine(TEST_DATABASE_URL)
    with engine.connect() as connection:
        expected = [tuple(row) for row in connection.execute(query, {"after": 0})]
        assert read.all(connection, {"after": 0}) == expected
        assert expected == [(agent.email, StaffRole.AGENT), (manager.email, StaffRole.MANAGER)]
        assert read.all(connection, {"after": agent.id}) == [(manager.email, StaffRole.MANAGER)]
        assert "IN ('agent', 'manager')" in read._compiled["postgresql"][0]
    engine.dispose()


def test_a_read_whose_in_list_is_a_callers_parameter_stays_with_sqlalchemy():
    query = _query(StaffUser.role.in_(bindparam("roles", expanding=True)))
    assert not db.DriverRead.fits(query)
    engine = create_engine("sqlite://")
    with engine.connect() as connection, pytest.raises(TypeError):
        db.DriverRead(query).all(connection, {"after": 0, "roles": ["agent"]})
    engine.dispose()
