"""Reads of a family's contracts for the member area's pages."""

from __future__ import annotations

from datetime import date

from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session

from ..members.entities import Member
from .entities import Contract, ContractKind


def has_collective_contract(session: Session, member: Member, today: date) -> bool:
    """True when the member holds a collective (employees') contract in force: the future retirees' pages are theirs."""
    return bool(session.scalar(select(exists().where(
        Contract.member_id == member.id, Contract.kind == ContractKind.COLLECTIVE,
        Contract.subscribed_on <= today, or_(Contract.ended_on.is_(None), Contract.ended_on >= today)))))
