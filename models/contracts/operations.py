"""Use cases that change contracts' money: the reimbursements received from the claims system."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from ..members.entities import Member
from .entities import Reimbursement, ReimbursementTotal

#: The summed columns, as the reimbursement and its families' totals name them.
SUMMED = ("spent_cents", "social_security_cents", "mese_cents", "left_to_pay_cents")


def record_reimbursements(session: Session, reimbursements: Iterable[Reimbursement]) -> None:
    """Add reimbursements (the claims import, the demo) and bring their families' totals up to date."""
    rows = list(reimbursements)
    session.add_all(rows)
    session.flush()
    refresh_reimbursement_totals(session, {row.member_id for row in rows})


def refresh_reimbursement_totals(session: Session, member_ids: Iterable[int]) -> None:
    """Sum again the totals of these families by person and kind of care, from their reimbursements: after
    :func:`record_reimbursements`, and after rows were written another way (a bulk load, a correction).

    Each family's member row is locked until the transaction ends: two writers of one family's reimbursements
    sum one after the other, the second seeing the first's rows. (FOR NO KEY UPDATE: the reimbursements a writer
    added hold a key-share lock on the member, which a FOR UPDATE would wait for: a deadlock.)"""
    ids = sorted(set(member_ids))
    if not ids:
        return
    session.execute(select(Member.id).where(Member.id.in_(ids)).order_by(Member.id).with_for_update(key_share=True))
    session.execute(delete(ReimbursementTotal).where(ReimbursementTotal.member_id.in_(ids)))
    keys = (Reimbursement.member_id, Reimbursement.beneficiary_id, Reimbursement.care_kind)
    session.execute(insert(ReimbursementTotal).from_select(
        ["member_id", "beneficiary_id", "care_kind", "count", *SUMMED],
        select(*keys, func.count(), *(func.sum(getattr(Reimbursement, name)) for name in SUMMED))
        .where(Reimbursement.member_id.in_(ids)).group_by(*keys)))
