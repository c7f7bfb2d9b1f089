"""Activer la télétransmission: a member asks for a beneficiary, with the attestation; done activates it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from ..errors import DomainError
from ..i18n import Message
from ..members.entities import Member
from ..staff.entities import StaffUser
from .entities import OPEN_STATUSES, Action, TeletransmissionRequest
from .operations import already_submitted, attach_files, checked_files, close, family_member, submitted, \
    valid_form_token
from .workflow import start_request

SUBMITTED_ACTION = "teletransmission.submitted"
ALREADY_ACTIVE_MESSAGE = Message("La télétransmission est déjà activée pour cette personne.")
ALREADY_ASKED_MESSAGE = Message("Une demande d'activation est déjà en cours pour cette personne.")


@dataclass(frozen=True)
class TeletransmissionInput:
    """The beneficiary and the document the request needs (the attestation of rights, "attestation de droits")."""

    beneficiary_id: int | None
    files: Sequence[tuple[str, bytes]] = field(default_factory=list)
    form_token: str = ""
    confirm_duplicates: bool = False


#: Built once (values as parameters): a statement object keeps its SQLAlchemy cache key, computed again with a
#: new statement on every page.
_OPEN_REQUEST = (select(TeletransmissionRequest).where(
    TeletransmissionRequest.beneficiary_id == bindparam("beneficiary_id"),
    TeletransmissionRequest.status.in_(OPEN_STATUSES)).limit(1))


def open_request_for(session: Session, beneficiary_id: int) -> TeletransmissionRequest | None:
    """The open tele-transmission request of a beneficiary, if any."""
    return session.scalar(_OPEN_REQUEST, {"beneficiary_id": beneficiary_id})


def submit_teletransmission(session: Session, member: Member, data: TeletransmissionInput, *, now: datetime,
                            ip: str | None = None) -> TeletransmissionRequest:
    """A member asks MESE to activate tele-transmission for one beneficiary, with the attestation of rights.

    Refused when it is already active or already asked; nothing is written when a file is refused.
    """
    token = valid_form_token(data.form_token)
    existing = already_submitted(session, member, TeletransmissionRequest, SUBMITTED_ACTION, token, now)
    if existing is not None:
        return existing
    beneficiary = family_member(session, member, data.beneficiary_id)
    if beneficiary.teletransmission_active:
        raise DomainError(ALREADY_ACTIVE_MESSAGE, field="beneficiary_id")
    if open_request_for(session, beneficiary.id) is not None:
        raise DomainError(ALREADY_ASKED_MESSAGE, field="beneficiary_id")
    files = checked_files(session, member, data.files, now=now, required=True,
                          confirm_duplicates=data.confirm_duplicates)
    request = TeletransmissionRequest(member_id=member.id, beneficiary_id=beneficiary.id)
    start_request(session, request, now=now)
    attach_files(session, request, files, now=now)
    submitted(session, member, request, action=SUBMITTED_ACTION, token=token, now=now, ip=ip, files=len(files))
    return request


def activate_teletransmission(session: Session, request: TeletransmissionRequest, *, staff: StaffUser,
                              now: datetime) -> None:
    """The agent has set up the exchange with the health insurance fund: done, and the beneficiary's is active."""
    close(session, request, staff=staff, now=now, note="Télétransmission activée", action=Action.CLOSE)
    request.beneficiary.teletransmission_active = True
