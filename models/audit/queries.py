"""Reads of the audit trail: the consultations of a member's file by MESE staff, as the member may see them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import NamedTuple

from sqlalchemy import Integer, bindparam, case, or_, select
from sqlalchemy.orm import Session

from .. import pagination
from ..db import DriverRead
from ..i18n import Message
from ..outbox.entities import OutboxMessage
from ..requests.entities import REQUEST_MODELS
from ..staff.entities import StaffRole, StaffUser
from .entities import AuditEvent

#: Staff actions on a member's data that the member sees in "Consultations de mon dossier".
CONSULTATION_ACTIONS = ("member360.viewed", "member360.unmasked", "backoffice.viewed", "backoffice.file_viewed",
                        "member.unlocked")
#: A staff member is named by their role only, never by name or id.
ROLE_LABELS = {
    StaffRole.AGENT: Message("Gestionnaire MESE"),
    StaffRole.MANAGER: Message("Responsable d'équipe MESE"),
    StaffRole.ADMIN: Message("Administrateur MESE"),
}
UNKNOWN_ROLE = Message("Personnel MESE")
#: What was shown in full, by the ``target`` of a member360.unmasked event.
_UNMASKED = {
    "nir": Message("votre numéro de sécurité sociale"),
    "beneficiary_nir": Message("le numéro de sécurité sociale d'un de vos bénéficiaires"),
    "iban": Message("vos coordonnées bancaires (IBAN)"),
}
_REQUEST_CLASSES = {model.__name__: model for model in REQUEST_MODELS.values()}
PAGE_SIZE = 20


@dataclass(frozen=True)
class Consultation:
    """One consultation as the member reads it: when, by which role, what and why."""

    at: datetime
    role: Message
    what: Message


@dataclass(frozen=True)
class ConsultationPage:
    """A page of consultations, newest first, with the cursor of the next (older) page if there is one."""

    rows: list[Consultation]
    next_cursor: str | None


class _Event(NamedTuple):
    """The columns of an event a consultations page reads (a row of the driver)."""

    id: int
    at: datetime
    actor_id: int | None
    action: str
    subject_type: str | None
    subject_id: int | None
    details: dict | None
    reference: str | None


@lru_cache(maxsize=8)
def _consultations_query(paged: bool, limit: int) -> DriverRead:
    """The events of a page (after the cursor ``cursor_at``, ``cursor_id`` when ``paged``), as rows of the columns
    read. Built once per shape: a statement object keeps its SQLAlchemy cache key, computed again with a new
    statement on every page."""
    order = [AuditEvent.at, AuditEvent.id]
    # The reference of the request an event looked at, read with the event (one round trip, not one per kind of
    # request): only the branch of the event's subject type is evaluated, one primary-key lookup.
    reference = case(*((AuditEvent.subject_type == model.__name__,
                        select(model.reference).where(model.id == AuditEvent.subject_id).scalar_subquery())
                       for model in _REQUEST_CLASSES.values()))
    query = (select(AuditEvent.id, AuditEvent.at, AuditEvent.actor_id, AuditEvent.action, AuditEvent.subject_type,
                    AuditEvent.subject_id, AuditEvent.details, reference.label("reference"))
             .where(AuditEvent.member_id == bindparam("member_id"), AuditEvent.actor_type == "staff",
                    # plain comparisons: a driver read takes no expanding IN list
                    or_(*(AuditEvent.action == action for action in CONSULTATION_ACTIONS))))
    if paged:
        cursor = pagination.Cursor((bindparam("cursor_at", type_=AuditEvent.at.type),
                                    bindparam("cursor_id", type_=Integer)))
        query = query.where(pagination.after(order, True, cursor))
    return DriverRead(query.order_by(*pagination.ordering(order, True, None)).limit(limit))


def consultations(session: Session, member_id: int, *, cursor: pagination.Cursor | None = None,
                  page_size: int = PAGE_SIZE) -> ConsultationPage:
    """The consultations of ``member_id``'s file by staff, newest first, one keyset page (index on
    (member_id, at, id)); another member's events are never read."""
    (read, params), = consultations_reads(cursor=cursor, page_size=page_size)
    events = [_Event(*row) for row in read.rows(session, {"member_id": member_id, **params})]
    more = len(events) > page_size
    events = events[:page_size]
    roles = _roles(session, {e.actor_id for e in events if e.actor_id and not (e.details or {}).get("role")})
    references = {(e.subject_type, e.subject_id): e.reference for e in events if e.reference is not None}
    rows = [Consultation(at=e.at, role=_role(e, roles), what=_what(e, references)) for e in events]
    next_cursor = pagination.encode_cursor([events[-1].at, events[-1].id]) if more and events else None
    return ConsultationPage(rows, next_cursor)


def consultations_reads(*, cursor: pagination.Cursor | None = None,
                        page_size: int = PAGE_SIZE) -> list[tuple[DriverRead, dict]]:
    """What :func:`consultations` reads (with its parameters but ``member_id``: models.db.DriverRead.first_with)."""
    params = {}
    if cursor is not None:
        params["cursor_at"], params["cursor_id"] = cursor.values
    return [(_consultations_query(cursor is not None, page_size + 1), params)]


def decode_cursor(text: str | None) -> pagination.Cursor | None:
    """The cursor of a consultations page from its URL text, or None."""
    return pagination.decode_cursor(text, width=2)


def _roles(session: Session, staff_ids: set[int]) -> dict[int, StaffRole]:
    """Roles of staff members whose event did not keep it (events written before roles were recorded)."""
    if not staff_ids:
        return {}
    return dict(session.execute(select(StaffUser.id, StaffUser.role).where(StaffUser.id.in_(staff_ids))).all())


def _role(event: AuditEvent, roles: dict[int, StaffRole]) -> Message:
    value = (event.details or {}).get("role")
    try:
        role = StaffRole(value) if value else roles.get(event.actor_id)
    except ValueError:
        role = None
    return ROLE_LABELS.get(role, UNKNOWN_ROLE)


def _what(event: AuditEvent, references: dict[tuple[str, int], str]) -> Message:
    details = event.details or {}
    if event.action == "member360.viewed":
        return Message("Consultation de votre dossier d'adhérent")
    if event.action == "member360.unmasked":
        shown = _UNMASKED.get(details.get("target"), Message("un numéro confidentiel"))
        return Message("Affichage en clair de %(what)s, motif : « %(reason)s »", what=shown,
                       reason=str(details.get("reason") or ""))
    if event.action == "member.unlocked":
        return Message("Déblocage de votre accès à l'espace adhérent")
    reference = references.get((event.subject_type, event.subject_id))
    if event.action == "backoffice.file_viewed" and reference:
        return Message("Consultation d'un fichier de votre demande %(reference)s", reference=reference)
    if reference:
        return Message("Consultation de votre demande %(reference)s", reference=reference)
    if event.subject_type == OutboxMessage.__name__:
        return Message("Consultation d'un message qui vous a été envoyé")
    return Message("Consultation de votre dossier")
