"""A family's requests as the member area lists them: every type in one query, only the columns shown."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from sqlalchemy import bindparam, literal, null, select, union_all
from sqlalchemy.orm import Session

from ..contracts.entities import Beneficiary
from ..i18n import Message
from .entities import REQUEST_MODELS, HospitalCoverageRequest, RequestStatus


@dataclass(frozen=True)
class RequestLine:
    """A request as a list shows it: what it is, for whom, where it stands."""

    kind: str
    reference: str
    status: RequestStatus
    created_at: datetime
    updated_at: datetime
    due_on: date
    #: The person it is about (Zoé RIMON), if any.
    beneficiary: str | None
    #: The establishment of a hospital coverage request.
    establishment_name: str | None

    @property
    def type_label(self) -> Message:
        """The kind of request as the member reads it."""
        return REQUEST_MODELS[self.kind].type_label


@cache
def _family_requests_query():
    # Built once (the home page runs it on every visit): the member and the limits are parameters.
    member_id = bindparam("member_id")
    parts = []
    for kind, model in REQUEST_MODELS.items():
        establishment = model.establishment_name if model is HospitalCoverageRequest else null()
        parts.append(select(
            select(literal(kind).label("kind"), model.id, model.reference, model.status, model.created_at,
                   model.updated_at, model.due_on, model.beneficiary_id, establishment.label("establishment_name"))
            .where(model.member_id == member_id)
            .order_by(model.created_at.desc(), model.id.desc()).limit(bindparam("per_type")).subquery()))
    found = union_all(*parts).subquery()
    return (select(found.c.kind, found.c.reference, found.c.status, found.c.created_at, found.c.updated_at,
                   found.c.due_on, Beneficiary.first_name, Beneficiary.last_name, found.c.establishment_name)
            .outerjoin(Beneficiary, (Beneficiary.id == found.c.beneficiary_id) & (Beneficiary.member_id == member_id))
            .order_by(found.c.created_at.desc(), found.c.id.desc()).limit(bindparam("limit")))


def family_requests(session: Session, member_id: int, *, limit_per_type: int = 50,
                    limit: int | None = None) -> list[RequestLine]:
    """The family's latest ``limit_per_type`` requests of each type, newest first (at most ``limit``), in one
    query: the same requests as ``queries.member_requests``, read as lines rather than entities."""
    rows = session.execute(_family_requests_query(), {"member_id": member_id, "per_type": limit_per_type,
                                                      "limit": limit or limit_per_type * len(REQUEST_MODELS)})
    # The person's name as Beneficiary.full_name writes it; only a person of the family is named.
    return [RequestLine(kind, reference, RequestStatus(status), created_at, updated_at, due_on,
                        f"{first_name} {last_name.upper()}" if first_name is not None else None, establishment)
            for kind, reference, status, created_at, updated_at, due_on, first_name, last_name, establishment
            in rows]
