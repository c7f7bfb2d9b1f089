"""Use cases shared by every request type: take, give back, reassign, ask the member, answer, close, reject.

Each one checks the rule of :mod:`models.requests.workflow` first (an agent never acts on a request a
colleague holds), writes a history line and an audit event, and queues any e-mail in the outbox.
E-mails to members never carry health details: they name the request and send the member to "Mes demandes".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.entities import AuditEvent
from ..audit.operations import record
from ..contracts.entities import Beneficiary
from ..errors import DomainError, InvalidTransition
from ..files.storage import store_bytes
from ..files.uploads import CheckedFile, check_uploads, recent_duplicates
from ..i18n import Message
from ..members.entities import Member
from ..outbox.operations import notify_member
from ..staff.entities import StaffUser
from .entities import (
    Action, MessageAuthor, RequestFile, RequestMessage, RequestMixin, RequestStatus,
)
from .queries import member_request, reference_exists
from .workflow import note_event, require, staff_text, transition

FORM_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: How long a form token is remembered to recognise a second click on "Envoyer".
FORM_TOKEN_MEMORY = timedelta(days=1)
#: Days within which a file sent again is pointed out to the member.
DUPLICATE_DAYS = 30
MAX_MEMBER_TEXT = 5000
_MAX_ID = 2**31 - 1

REQUIRED_MESSAGE = Message("Ce champ est obligatoire.")
NOT_IN_FAMILY_MESSAGE = Message("Choisissez une personne de votre contrat.")
TOO_LONG_MESSAGE = Message("%(count)d caractères au maximum.", count=MAX_MEMBER_TEXT)
ANSWER_EMPTY_MESSAGE = Message("Écrivez votre réponse ou joignez au moins un fichier.")
NOT_WAITING_MESSAGE = Message("Cette demande n'attend pas de réponse de votre part.")


class DuplicateFiles(DomainError):
    """Files this member already sent within 30 days: pointed out, sent again only if the member confirms."""

    def __init__(self, files: list[CheckedFile]):
        names = ", ".join(f"« {f.filename} »" for f in files)
        super().__init__(Message("Vous nous avez déjà envoyé ce fichier ces %(days)d derniers jours : %(names)s. "
                                 "Si c'est bien voulu, cochez « Envoyer quand même » et joignez-le à nouveau.",
                                 days=DUPLICATE_DAYS, names=names), field="files")
        self.files = files


# -- helpers of the member's forms --------------------------------------------------------------------


def family_member(session: Session, member: Member, beneficiary_id: int | None, *,
                  required: bool = True) -> Beneficiary | None:
    """The beneficiary ``beneficiary_id`` of the member's family, or a DomainError on "beneficiary_id"."""
    if beneficiary_id is None:
        if required:
            raise DomainError(REQUIRED_MESSAGE, field="beneficiary_id")
        return None
    beneficiary = session.get(Beneficiary, beneficiary_id) if 0 < beneficiary_id <= _MAX_ID else None
    if beneficiary is None or beneficiary.member_id != member.id:
        raise DomainError(NOT_IN_FAMILY_MESSAGE, field="beneficiary_id")
    return beneficiary


def member_text(value: str | None, *, field: str, required: bool = True) -> str:
    """Text a member typed: surrounding spaces dropped, required unless told, at most MAX_MEMBER_TEXT."""
    text = (value or "").strip()
    if required and not text:
        raise DomainError(REQUIRED_MESSAGE, field=field)
    if len(text) > MAX_MEMBER_TEXT:
        raise DomainError(TOO_LONG_MESSAGE, field=field)
    return text


def checked_files(session: Session, member: Member, files: Sequence[tuple[str, bytes]], *, now: datetime,
                  required: bool, confirm_duplicates: bool) -> list[CheckedFile]:
    """The member's files once accepted (models.files.uploads decides); raises UploadRejected or DuplicateFiles."""
    checked = check_uploads(list(files), required=required)
    if checked and not confirm_duplicates:
        duplicates = recent_duplicates(session, member.id, checked, days=DUPLICATE_DAYS, now=now)
        if duplicates:
            raise DuplicateFiles(duplicates)
    return checked


def attach_files(session: Session, request: RequestMixin, files: Sequence[CheckedFile], *,
                 message: RequestMessage | None = None, now: datetime) -> list[RequestFile]:
    """Store accepted files and link them to ``request`` (and to the member's answer ``message``)."""
    links = []
    for checked in files:
        stored = store_bytes(session, checked.data, filename=checked.filename, content_type=checked.content_type,
                             member_id=request.member_id, now=now)
        session.flush()
        link = RequestFile(request_kind=request.kind, request_id=request.id, member_id=request.member_id,
                           message_id=message.id if message is not None else None, file_id=stored.id, added_at=now)
        session.add(link)
        links.append(link)
    return links


def valid_form_token(token: str | None) -> str:
    """The form's one-time token if well formed, else an empty string (no idempotency then)."""
    return token if token and FORM_TOKEN_RE.match(token) else ""


def already_submitted(session: Session, member: Member, model: type[RequestMixin], action: str, token: str,
                      now: datetime) -> RequestMixin | None:
    """The request this member already sent from the form carrying ``token`` (double click, reload), if any.

    The member's row is locked first, so two submissions of one form that arrive together are handled
    one after the other and the second finds the first.
    """
    if not token:
        return None
    session.execute(select(Member.id).where(Member.id == member.id).with_for_update())
    events = session.scalars(select(AuditEvent).where(
        AuditEvent.member_id == member.id, AuditEvent.action == action, AuditEvent.at >= now - FORM_TOKEN_MEMORY))
    for event in events:
        if event.details.get("form_token") == token and event.subject_id is not None:
            return session.get(model, event.subject_id)
    return None


def submitted(session: Session, member: Member, request: RequestMixin, *, action: str, token: str, now: datetime,
              ip: str | None, **details) -> None:
    """Audit a member's new request (keeping the form token) and send the acknowledgement e-mail."""
    if token:
        details["form_token"] = token
    record(session, action, actor_type="member", actor_id=member.id, subject=request, member_id=member.id, ip=ip,
           now=now, reference=request.reference, **details)
    notify_member(session, member, template="request_received", related=request.reference,
                  context={"request": request})


def open_member_request(session: Session, member: Member, reference: str, *, ip: str | None,
                        now: datetime) -> RequestMixin | None:
    """One of the family's requests by its reference; any other reference is None for the member and an audit
    event for MESE (another family's reference is worth knowing about)."""
    found = member_request(session, member, reference)
    if found is None:
        record(session, "member.refused", actor_type="member", actor_id=member.id, member_id=member.id, ip=ip,
               now=now, reason="not_found", reference=(reference or "")[:40],
               other_family=reference_exists(session, reference))
    return found


# -- the queue: take, give back, reassign ----------------------------------------------------------


def claim(session: Session, request: RequestMixin, *, staff: StaffUser, now: datetime) -> None:
    """``staff`` takes a new request and starts working on it.

    The caller loads ``request`` locked (``FOR UPDATE``), so two agents clicking together cannot both
    take it: the second one sees it in progress and is refused.
    """
    require(request, staff, Action.CLAIM)
    transition(session, request, RequestStatus.IN_PROGRESS, staff=staff, now=now, note="Prise en charge par un agent")
    request.assigned_to_id = staff.id
    request.claimed_at = now


def claim_next(session: Session, model: type[RequestMixin], *, staff: StaffUser, now: datetime) -> RequestMixin | None:
    """Claim the oldest new request of a queue; two agents never get the same one.

    The row is taken with ``FOR UPDATE SKIP LOCKED``, so concurrent agents each get a different
    request without waiting. Returns None when the queue is empty.
    """
    stmt = (
        select(model)
        .where(model.status == RequestStatus.NEW)
        .order_by(model.created_at, model.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    request = session.scalars(stmt).first()
    if request is None:
        return None
    claim(session, request, staff=staff, now=now)
    session.flush()
    return request


def release(session: Session, request: RequestMixin, *, staff: StaffUser, now: datetime) -> None:
    """Put an in-progress request back in the queue, unassigned (its holder, or a manager for an absent colleague)."""
    require(request, staff, Action.RELEASE)
    transition(session, request, RequestStatus.NEW, staff=staff, now=now, note="Remise dans la file")


def reassign(session: Session, request: RequestMixin, *, staff: StaffUser, to: StaffUser, now: datetime) -> None:
    """A manager gives an open request to ``to`` (a new one is taken in charge for them)."""
    require(request, staff, Action.REASSIGN)
    if not to.active:
        raise InvalidTransition("Cette personne n'a plus accès au back office.")
    if to.id == request.assigned_to_id:
        raise InvalidTransition(f"La demande est déjà attribuée à {to.full_name}.")
    note = f"Réattribuée à {to.full_name}"
    if request.status is RequestStatus.NEW:
        transition(session, request, RequestStatus.IN_PROGRESS, staff=staff, now=now, note=note)
    else:
        note_event(session, request, staff=staff, now=now, note=note, action="reassigned", to_staff=to.id)
    request.assigned_to_id = to.id
    request.claimed_at = now


# -- talking with the member ------------------------------------------------------------------------


def ask_member(session: Session, request: RequestMixin, *, staff: StaffUser, question: str, now: datetime) -> None:
    """The agent asks the member for something: the request waits (its clock paused), the member is e-mailed."""
    require(request, staff, Action.ASK_MEMBER)
    question = staff_text(question, field="question", missing="Écrivez la question posée à l'adhérent.")
    session.add(RequestMessage(request_kind=request.kind, request_id=request.id, member_id=request.member_id, at=now,
                               author=MessageAuthor.STAFF, staff_id=staff.id, body=question))
    transition(session, request, RequestStatus.WAITING_MEMBER, staff=staff, now=now, note="Question posée à l'adhérent")
    notify_member(session, request.member, template="request_question", related=request.reference,
                  context={"request": request})


def answer(session: Session, member: Member, request: RequestMixin, *, text: str,
           files: Sequence[tuple[str, bytes]], now: datetime, ip: str | None = None,
           confirm_duplicates: bool = False) -> RequestMessage:
    """The member answers the agent's question with text and files: the request goes back to that agent.

    Nothing is written when the files are refused or the request is not waiting for the member.
    """
    if request.member_id != member.id:
        raise DomainError(NOT_WAITING_MESSAGE)
    session.refresh(request, with_for_update=True)
    if request.status is not RequestStatus.WAITING_MEMBER:
        raise DomainError(NOT_WAITING_MESSAGE, field="text")
    body = member_text(text, field="text", required=False)
    accepted = checked_files(session, member, files, now=now, required=False, confirm_duplicates=confirm_duplicates)
    if not body and not accepted:
        raise DomainError(ANSWER_EMPTY_MESSAGE, field="text")
    message = RequestMessage(request_kind=request.kind, request_id=request.id, member_id=member.id, at=now,
                             author=MessageAuthor.MEMBER, body=body)
    session.add(message)
    session.flush()
    attach_files(session, request, accepted, message=message, now=now)
    transition(session, request, RequestStatus.IN_PROGRESS, staff=None, by_member=True, now=now,
               note="Réponse de l'adhérent")
    record(session, "request.answered", actor_type="member", actor_id=member.id, subject=request,
           member_id=member.id, ip=ip, now=now, reference=request.reference, files=len(accepted))
    return message


def reply(session: Session, request: RequestMixin, *, staff: StaffUser, text: str, now: datetime) -> None:
    """The agent answers the member in writing; the member reads it in "Mes demandes" and is told by e-mail."""
    require(request, staff, Action.REPLY)
    text = staff_text(text, field="text", missing="Écrivez votre réponse à l'adhérent.")
    session.add(RequestMessage(request_kind=request.kind, request_id=request.id, member_id=request.member_id, at=now,
                               author=MessageAuthor.STAFF, staff_id=staff.id, body=text))
    note_event(session, request, staff=staff, now=now, note="Réponse envoyée à l'adhérent", action="replied")
    notify_member(session, request.member, template="request_reply", related=request.reference,
                  context={"request": request})


# -- closing ------------------------------------------------------------------------------------------


def close(session: Session, request: RequestMixin, *, staff: StaffUser, now: datetime, note: str = "Traitée",
          action: Action = Action.CLOSE) -> None:
    """The holder marks the request done; the member is told by e-mail."""
    require(request, staff, action)
    transition(session, request, RequestStatus.DONE, staff=staff, now=now, note=note)
    notify_member(session, request.member, template="request_done", related=request.reference,
                  context={"request": request})


def reject(session: Session, request: RequestMixin, *, staff: StaffUser, reason: str, now: datetime) -> None:
    """The holder refuses the request with a reason, shown to the member in "Mes demandes"."""
    require(request, staff, Action.REJECT)
    reason = staff_text(reason, field="reason", missing="Indiquez le motif du refus.")
    transition(session, request, RequestStatus.REJECTED, staff=staff, now=now, note=reason)
    request.resolution_note = reason
    notify_member(session, request.member, template="request_rejected", related=request.reference,
                  context={"request": request})
