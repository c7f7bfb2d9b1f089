"""A family's reimbursement totals kept by person and kind of care: the same sums as its reimbursements, whatever
the filters, after an import, a bulk load, or two imports of one family at once."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from itertools import product

import pytest
from sqlalchemy import text

from models.contracts.entities import CareKind, PaidTo, Reimbursement
from models.contracts.operations import record_reimbursements, refresh_reimbursement_totals
from models.contracts.reimbursements import ReimbursementFilters, Totals, reimbursement_totals
from models.db import session_factory
from tests.factories import make_member

KINDS = (CareKind.CONSULTATION, CareKind.PHARMACY, CareKind.OPTICAL)


def _rows(member, count: int, start: date = date(2025, 6, 30)) -> list[Reimbursement]:
    people = member.beneficiaries
    return [Reimbursement(member_id=member.id, beneficiary_id=people[i % len(people)].id,
                          care_on=start - timedelta(days=i), act=f"Acte {i}", care_kind=KINDS[i % len(KINDS)],
                          spent_cents=1000 + i, social_security_cents=600 + i, mese_cents=300, left_to_pay_cents=100 + i,
                          paid_to=PaidTo.MEMBER, paid_on=None) for i in range(count)]


def _summed(session, member_id: int, filters: ReimbursementFilters) -> Totals:
    """The sums over the reimbursements themselves."""
    rows = [r for r in session.query(Reimbursement).filter_by(member_id=member_id)
            if (filters.beneficiary_id in (None, r.beneficiary_id)) and (filters.care_kind in (None, r.care_kind))
            and (filters.start is None or r.care_on >= filters.start) and (filters.end is None or r.care_on <= filters.end)]
    return Totals(len(rows), sum(r.spent_cents for r in rows), sum(r.social_security_cents for r in rows),
                  sum(r.mese_cents for r in rows), sum(r.left_to_pay_cents for r in rows))


def _every_filter(member) -> list[ReimbursementFilters]:
    people = [None, *(b.id for b in member.beneficiaries)]
    periods = [(None, None), (date(2025, 5, 1), None), (None, date(2025, 5, 31)), (date(2025, 5, 1), date(2025, 5, 31))]
    return [ReimbursementFilters(person, start, end, kind)
            for person, (start, end), kind in product(people, periods, [None, *KINDS])]


def test_the_totals_of_every_filter_are_the_sums_of_the_reimbursements(session):
    lea, other = make_member(session), make_member(session, email=None, mobile=None)
    record_reimbursements(session, _rows(lea, 90))
    record_reimbursements(session, _rows(other, 7))
    record_reimbursements(session, _rows(lea, 10, start=date(2024, 1, 31)))  # a second import adds up
    session.commit()
    for filters in _every_filter(lea):
        assert reimbursement_totals(session, lea.id, filters) == _summed(session, lea.id, filters), filters
    assert reimbursement_totals(session, lea.id, ReimbursementFilters(None, None, None, None)).count == 100


def test_rows_written_another_way_are_counted_once_summed_again(session):
    lea = make_member(session)
    record_reimbursements(session, _rows(lea, 5))
    session.execute(text("UPDATE reimbursement SET spent_cents = spent_cents + 1 WHERE member_id = :m"), {"m": lea.id})
    refresh_reimbursement_totals(session, [lea.id])
    session.commit()
    everything = ReimbursementFilters(None, None, None, None)
    assert reimbursement_totals(session, lea.id, everything) == _summed(session, lea.id, everything)


@pytest.mark.timeout(60)
def test_two_imports_of_one_family_at_once_both_count(session, models_config):
    lea = make_member(session)
    Session = session_factory(models_config)
    barrier = threading.Barrier(2, timeout=30)
    errors = []

    def import_rows(start: date) -> None:
        try:
            with Session() as s:
                s.add_all(_rows(lea, 20, start=start))
                s.flush()  # both families' rows written, neither committed
                barrier.wait()
                refresh_reimbursement_totals(s, [lea.id])
                s.commit()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=import_rows, args=(day,)) for day in (date(2025, 6, 30), date(2024, 6, 30))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(45)
    assert not any(t.is_alive() for t in threads) and errors == []
    everything = ReimbursementFilters(None, None, None, None)
    session.expire_all()
    assert reimbursement_totals(session, lea.id, everything) == _summed(session, lea.id, everything)
    assert reimbursement_totals(session, lea.id, everything).count == 40
