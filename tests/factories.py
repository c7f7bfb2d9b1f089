"""Builders of test data, on top of the demo builders so tests and demo stay alike."""

from __future__ import annotations

import itertools
from datetime import date

from models.contracts.entities import BeneficiaryRole, ContractKind
from models.demo import member_with_family
from models.members.entities import Civility, Member
from models.staff.entities import StaffRole, StaffUser
from models.staff.operations import create_staff

_numbers = itertools.count(5500000)
PASSWORD = "Correct-Horse-2026"


def make_member(session, *, password: str | None = PASSWORD, email: str | None = "lea.rimon@example.test",
                mobile: str | None = "+33606060606", with_family: bool = True, number: str | None = None,
                **overrides) -> Member:
    """A member like Léa RIMON (spouse and child covered on C40SOCLE since 2018), committed."""
    fields = dict(
        number=number or str(next(_numbers)), civility=Civility.MADAME, first_name="Léa", last_name="RIMON",
        birth_date=date(1984, 1, 10), nir="2848013809111", email=email, mobile=mobile, password=password,
        contracts=[("C40SOCLE", "Socle", ContractKind.COLLECTIVE, date(2018, 1, 1))],
        family=[(BeneficiaryRole.SPOUSE, "Samuel", date(1982, 5, 14), None),
                (BeneficiaryRole.CHILD, "Zoé", date(2012, 9, 3), None)] if with_family else [],
        address=("34 CHEMIN DU LOUP", "38000", "GRENOBLE"),
    )
    fields.update(overrides)
    member = member_with_family(session, **fields)
    session.commit()
    return member


def make_staff(session, role: StaffRole = StaffRole.AGENT, *, email: str | None = None,
               password: str = PASSWORD) -> StaffUser:
    """A staff user with a TOTP secret, committed."""
    user, _uri = create_staff(session, email=email or f"{role.value}{next(_numbers)}@mese.test",
                              full_name=f"Test {role.value}", role=role, password=password)
    session.commit()
    return user
