"""The rules every request follows: statuses and transitions, who may do what and when, references, history.

One table of transitions for the five request types; one function, :func:`allowed_actions`, says which
actions a staff member may take on a request now (the back office shows those buttons, the use cases of
``operations.py`` and of each type refuse any other through :func:`require`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ..audit.operations import record
from ..errors import DomainError, InvalidTransition
from ..staff.entities import StaffRole, StaffUser
from .deadlines import DUE_WORKING_DAYS, add_working_days, due_date, local_today, resumed_due_date
from .entities import OPEN_STATUSES, Action, ReferenceCounter, RequestEvent, RequestMixin, RequestStatus

__all__ = ["ALLOWED", "DUE_WORKING_DAYS", "SUPERVISORS", "add_working_days", "allowed_actions", "due_date",
           "history", "local_today", "next_reference", "require", "start_request", "transition"]

S = RequestStatus
ALLOWED: dict[RequestStatus, set[RequestStatus]] = {
    S.NEW: {S.IN_PROGRESS, S.REJECTED},
    S.IN_PROGRESS: {S.NEW, S.WAITING_MEMBER, S.DONE, S.REJECTED},
    S.WAITING_MEMBER: {S.IN_PROGRESS, S.DONE, S.REJECTED},
    S.DONE: set(),
    S.REJECTED: set(),
}
#: Staff who may release a colleague's request, reassign requests and approve a bank-details change.
SUPERVISORS = (StaffRole.MANAGER, StaffRole.ADMIN)
#: Longest text an agent may write to a member (reason, question, reply).
MAX_STAFF_TEXT = 4000

# Why an action is refused, in the words staff read.
_TAKE_FIRST = "Prenez d'abord la demande en charge."
_HELD_BY_OTHER = "Cette demande est prise en charge par un autre agent : lui seul peut la traiter."
_ALREADY_TAKEN = "Cette demande a déjà été prise en charge."
_RELEASE_STATUS = "Seule une demande en cours de traitement peut être remise dans la file."
_RELEASE_WHO = "Seul l'agent en charge de la demande, ou un responsable, peut la remettre dans la file."
_REASSIGN_WHO = "Seul un responsable peut réattribuer une demande."
_CLOSED = "Cette demande est clôturée."
_NOT_FOR_TYPE = "Cette action n'existe pas pour ce type de demande."
_APPROVE_WHO = "La validation doit être faite par un responsable autre que l'agent qui a proposé le changement."
_AWAITING_APPROVAL = "Le changement est proposé : il attend la validation d'un responsable."
_NOT_PROPOSED = "Aucun changement n'a encore été proposé pour cette demande."


def _refusal(request: RequestMixin, staff: StaffUser, action: Action) -> str | None:
    """Why ``staff`` may not take ``action`` on ``request`` now, or None when it may."""
    status, holder = request.status, request.assigned_to_id == staff.id
    supervisor = staff.role in SUPERVISORS
    if action is Action.CLAIM:
        return None if status is S.NEW else _ALREADY_TAKEN
    if action is Action.RELEASE:
        if status is not S.IN_PROGRESS:
            return _RELEASE_STATUS
        return None if holder or supervisor else _RELEASE_WHO
    if action is Action.REASSIGN:
        if status not in OPEN_STATUSES:
            return _CLOSED
        return None if supervisor else _REASSIGN_WHO
    if status not in OPEN_STATUSES:
        return _CLOSED
    awaiting = getattr(request, "awaiting_approval", False)
    if action in (Action.APPROVE, Action.RETURN) and request.kind == "bank_details":
        # Four eyes: a supervisor other than the agent who proposed (and holds) the request decides.
        if not awaiting:
            return _NOT_PROPOSED
        return None if supervisor and request.proposed_by_id != staff.id else _APPROVE_WHO
    statuses = type(request).holder_actions.get(action)
    if statuses is None:
        return _NOT_FOR_TYPE
    if status is S.NEW:
        return _TAKE_FIRST
    if not holder:
        return _HELD_BY_OTHER
    if awaiting:
        return _AWAITING_APPROVAL
    if status not in statuses:
        return f"Cette action n'est pas possible tant que la demande est « {_STAFF_STATUS[status]} »."
    return None


_STAFF_STATUS = {S.NEW: "nouvelle", S.IN_PROGRESS: "en cours de traitement",
                 S.WAITING_MEMBER: "en attente de l'adhérent", S.DONE: "traitée", S.REJECTED: "refusée"}
_GENERIC_ACTIONS = (Action.CLAIM, Action.RELEASE, Action.REASSIGN)


def allowed_actions(request: RequestMixin, staff: StaffUser) -> frozenset[Action]:
    """Every action ``staff`` may take on ``request`` now (what the back office offers)."""
    candidates = [*_GENERIC_ACTIONS, *type(request).holder_actions]
    if request.kind == "bank_details":
        candidates += [Action.APPROVE, Action.RETURN]
    return frozenset(a for a in candidates if _refusal(request, staff, a) is None)


def require(request: RequestMixin, staff: StaffUser, action: Action) -> None:
    """Raise InvalidTransition with the reason when ``staff`` may not take ``action`` on ``request`` now."""
    reason = _refusal(request, staff, action)
    if reason is not None:
        raise InvalidTransition(reason)


def staff_text(text: str | None, *, field: str, missing: str) -> str:
    """Text an agent writes to a member (reason, question, reply): required, at most MAX_STAFF_TEXT characters."""
    text = (text or "").strip()
    if not text:
        raise DomainError(missing, field=field)
    if len(text) > MAX_STAFF_TEXT:
        raise DomainError(f"Le texte ne doit pas dépasser {MAX_STAFF_TEXT} caractères.", field=field)
    return text


def next_reference(session: Session, prefix: str, year: int) -> str:
    """Hand out the next human reference, e.g. ``PEC-2026-000123`` (atomic under concurrency)."""
    dialect = session.get_bind().dialect.name
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    stmt = insert(ReferenceCounter).values(prefix=prefix, year=year, last_value=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["prefix", "year"], set_={"last_value": ReferenceCounter.last_value + 1}
    ).returning(ReferenceCounter.last_value)
    value = session.execute(stmt).scalar_one()
    return f"{prefix}-{year}-{value:06d}"


def start_request(session: Session, request: RequestMixin, *, now: datetime) -> None:
    """Give a new request its reference, due date and first history line, then add it."""
    request.reference = next_reference(session, request.reference_prefix, local_today(now).year)
    request.status = RequestStatus.NEW
    request.created_at = now
    request.updated_at = now
    request.due_on = due_date(request.kind, now)
    session.add(request)
    session.flush()
    session.add(RequestEvent(request_kind=request.kind, request_id=request.id, at=now,
                             to_status=RequestStatus.NEW, note="Demande reçue"))


def transition(
    session: Session,
    request: RequestMixin,
    to: RequestStatus,
    *,
    staff: StaffUser | None,
    now: datetime,
    note: str = "",
    by_member: bool = False,
) -> None:
    """Move ``request`` to status ``to`` if the workflow allows it, with history and audit.

    ``staff`` made the change, or the member (``by_member``), or else the system.

    Waiting for the member pauses the clock: when the request leaves that status, its due date moves on
    by the working days it waited.
    """
    if to not in ALLOWED[request.status]:
        raise InvalidTransition(f"Impossible de passer de « {request.status.label} » à « {to.label} ».")
    previous = request.status
    request.status = to
    request.updated_at = now
    if previous is RequestStatus.WAITING_MEMBER and request.waiting_since is not None:
        request.due_on = resumed_due_date(request.due_on, request.waiting_since, now)
        request.waiting_since = None
    if to is RequestStatus.WAITING_MEMBER:
        request.waiting_since = now
    if to in (RequestStatus.DONE, RequestStatus.REJECTED):
        request.closed_at = now
    if to is RequestStatus.NEW:
        request.assigned_to_id = None
        request.claimed_at = None
    session.add(RequestEvent(request_kind=request.kind, request_id=request.id, at=now,
                             staff_id=staff.id if staff else None, from_status=previous, to_status=to,
                             note=note))
    record(session, f"request.{to.value}", **_actor(request, staff, by_member), subject=request,
           member_id=request.member_id, now=now, reference=request.reference, from_status=previous.value)


def _actor(request: RequestMixin, staff: StaffUser | None, by_member: bool) -> dict:
    if staff is not None:
        return {"actor_type": "staff", "actor_id": staff.id}
    if by_member:
        return {"actor_type": "member", "actor_id": request.member_id}
    return {"actor_type": "system", "actor_id": None}


def note_event(session: Session, request: RequestMixin, *, staff: StaffUser | None, now: datetime, note: str,
               action: str, **details) -> None:
    """A history line and an audit event for an action that keeps the status (reply, classify, propose...)."""
    request.updated_at = now
    session.add(RequestEvent(request_kind=request.kind, request_id=request.id, at=now,
                             staff_id=staff.id if staff else None, note=note))
    record(session, f"request.{action}", **_actor(request, staff, staff is None), subject=request,
           member_id=request.member_id, now=now, reference=request.reference, **details)


def history(session: Session, request: RequestMixin) -> list[RequestEvent]:
    """The history lines of ``request``, oldest first."""
    return list(session.scalars(
        select(RequestEvent)
        .where(RequestEvent.request_kind == request.kind, RequestEvent.request_id == request.id)
        .order_by(RequestEvent.at, RequestEvent.id)
    ))
