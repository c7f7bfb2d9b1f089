"""Read-only questions the member area asks about requests: a member's own requests, the no-coverage list."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..content.entities import NoCoverageEstablishment
from ..members.entities import Member
from .entities import HospitalCoverageRequest

#: "Heading (detail)": rows sharing a heading are shown as one entry listing their details.
_GROUPED_LABEL = re.compile(r"^(?P<heading>.*\S)\s*\((?P<detail>[^()]+)\)\s*$")


def member_hospital_coverage_requests(
    session: Session, member: Member, *, limit: int = 20
) -> list[HospitalCoverageRequest]:
    """The member's latest hospital coverage requests, newest first, with their beneficiary loaded."""
    return list(session.scalars(
        select(HospitalCoverageRequest)
        .where(HospitalCoverageRequest.member_id == member.id)
        .options(selectinload(HospitalCoverageRequest.beneficiary))
        .order_by(HospitalCoverageRequest.created_at.desc(), HospitalCoverageRequest.id.desc())
        .limit(limit)
    ))


def member_hospital_coverage_request(
    session: Session, member: Member, reference: str
) -> HospitalCoverageRequest | None:
    """The request ``reference`` if it belongs to ``member``; None otherwise (whether it exists or not)."""
    return session.scalar(
        select(HospitalCoverageRequest).where(
            HospitalCoverageRequest.reference == reference.strip().upper(),
            HospitalCoverageRequest.member_id == member.id,
        )
    )


@dataclass(frozen=True)
class NoCoverageEntry:
    """One line of the no-coverage list: an establishment, or a heading grouping several places."""

    label: str
    places: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoCoverageList:
    """The establishments where the member card suffices, as members read them."""

    entries: list[NoCoverageEntry] = field(default_factory=list)
    #: Establishments that do need a coverage although they would otherwise match an entry.
    exceptions: list[str] = field(default_factory=list)


def no_coverage_list(session: Session) -> NoCoverageList:
    """The active no-coverage rows (staff-edited), grouped so that members can read them.

    Rows labelled "Heading (place)" that share a heading become one entry listing the places, in
    the staff's order (e.g. the communes of the Grenoble agglomeration); a row alone keeps its
    full label. Exception rows are listed apart, without their trailing parenthesis.
    """
    rows = list(session.scalars(
        select(NoCoverageEstablishment)
        .where(NoCoverageEstablishment.active)
        .order_by(NoCoverageEstablishment.id)
    ))
    split = {row.id: _GROUPED_LABEL.match(row.label.strip()) for row in rows}
    headings: dict[str, int] = {}
    for row in rows:
        if not row.needs_coverage and split[row.id]:
            heading = split[row.id]["heading"]
            headings[heading] = headings.get(heading, 0) + 1

    entries: list[NoCoverageEntry] = []
    places: dict[str, list[str]] = {}
    exceptions: list[str] = []
    for row in rows:
        match = split[row.id]
        if row.needs_coverage:
            exceptions.append(match["heading"] if match else row.label.strip())
        elif match and headings[match["heading"]] > 1:
            heading = match["heading"]
            if heading not in places:
                places[heading] = []
                entries.append(NoCoverageEntry(heading))
            if match["detail"].strip() not in places[heading]:
                places[heading].append(match["detail"].strip())
        else:
            entries.append(NoCoverageEntry(row.label.strip()))
    entries = [NoCoverageEntry(e.label, tuple(places.get(e.label, ()))) for e in entries]
    return NoCoverageList(entries=entries, exceptions=list(dict.fromkeys(exceptions)))
