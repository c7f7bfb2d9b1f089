"""Changement de coordonnées bancaires: confirmed by a code before it is sent, approved by four eyes.

The member types the holder, the IBAN (any SEPA IBAN; the BIC is derived when the bank is known, else
asked) and joins the RIB; a code (SMS, or the authenticator app) confirms it; only then is the request
sent and the member told by e-mail. In the back office the agent who checks the RIB proposes the change
with a date; a manager other than that agent approves it: a new version of the bank account then takes
effect on that date and the old one is kept, ended the day before. Until then the old account stays in use.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from ..audit.operations import record
from ..contracts.entities import BankAccount
from ..errors import DomainError, ValidationFailed
from ..files.storage import store_bytes
from ..formats import PARIS, bic_for_iban, canonical_bic, canonical_iban, date_fr
from ..i18n import Message
from ..members import security
from ..members.entities import CodePurpose, Member, SecondFactor
from ..outbox.operations import notify_member
from ..staff.entities import StaffUser
from .entities import Action, BankDetailChangeRequest, PendingBankChange, RequestFile, RequestStatus
from .operations import REQUIRED_MESSAGE, checked_files, family_member, submitted, valid_form_token
from .workflow import local_today, note_event, require, start_request, transition

SUBMITTED_ACTION = "bank_details.submitted"
#: Time the member has to type the code once the form is accepted.
CONFIRMATION_MINUTES = 15
MAX_DAYS_AHEAD = 366

IBAN_MESSAGE = Message("Cet IBAN n'est pas valide : vérifiez-le (clé de contrôle incorrecte ou longueur fausse).")
SEPA_MESSAGE = Message("Cet IBAN n'appartient pas à un pays de la zone SEPA : nous ne pouvons pas l'utiliser.")
BIC_NEEDED_MESSAGE = Message("Nous ne connaissons pas la banque de cet IBAN : indiquez son BIC.")
BIC_MESSAGE = Message("Ce BIC n'est pas valide : il comporte 8 ou 11 caractères (par exemple CMCIFR2A).")
HOLDER_MESSAGE = Message("%(count)d caractères au maximum.", count=140)
SAME_ACCOUNT_MESSAGE = Message("Ce compte est déjà celui que nous utilisons.")
ONE_FILE_MESSAGE = Message("Joignez un seul fichier : votre RIB.")
NO_CONFIRMATION_MESSAGE = Message("Nous ne pouvons pas vous envoyer de code de confirmation : appelez le Service "
                                  "Adhérents MESE au 04 76 60 56 36.")
EXPIRED_MESSAGE = Message("Le délai pour confirmer ce changement est dépassé : saisissez de nouveau vos "
                          "coordonnées bancaires.")
CODE_MESSAGES = {
    security.CodeCheck.WRONG: Message("Code incorrect. Vérifiez les 6 chiffres et réessayez."),
    security.CodeCheck.EXPIRED: Message("Ce code a expiré : demandez un nouveau code."),
    security.CodeCheck.EXHAUSTED: Message("Trop d'essais pour ce code : demandez un nouveau code."),
    security.CodeCheck.MISSING: Message("Aucun code valable : demandez un nouveau code."),
    security.CodeCheck.REPLAYED: Message("Ce code a déjà servi : attendez le code suivant de votre application."),
}


@dataclass(frozen=True)
class BankChangeInput:
    """What the member typed: whose account (None: the member's own), holder, IBAN, BIC and the RIB file."""

    beneficiary_id: int | None
    holder: str
    iban: str
    bic: str = ""
    files: Sequence[tuple[str, bytes]] = field(default_factory=list)
    form_token: str = ""


@dataclass(frozen=True)
class BankChangeToConfirm:
    """A change accepted by the form, waiting for its code: ``token`` stays in the member's session."""

    pending: PendingBankChange
    token: str
    #: "sms" (a code was just sent) or "totp" (the authenticator app gives it).
    method: str


class CodeRefused(DomainError):
    """The confirmation code is wrong, expired or used up; ``outcome`` says which."""

    def __init__(self, outcome: security.CodeCheck):
        super().__init__(CODE_MESSAGES[outcome], field="code")
        self.outcome = outcome


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def current_bank_account(session: Session, member: Member, beneficiary_id: int | None,
                         at: datetime) -> BankAccount | None:
    """The account in use at ``at`` for the member's own reimbursements (or a beneficiary's)."""
    owner = BankAccount.beneficiary_id == beneficiary_id if beneficiary_id else BankAccount.beneficiary_id.is_(None)
    return session.scalar(
        select(BankAccount).where(BankAccount.member_id == member.id, owner, BankAccount.valid_from <= at,
                                  or_(BankAccount.valid_to.is_(None), BankAccount.valid_to > at))
        .order_by(BankAccount.valid_from.desc(), BankAccount.id.desc()).limit(1))


def _validate(session: Session, member: Member, data: BankChangeInput, now: datetime) -> dict:
    errors: dict[str, list[str]] = {}
    clean: dict = {}
    try:
        clean["beneficiary"] = family_member(session, member, data.beneficiary_id, required=False)
    except DomainError as exc:
        errors["beneficiary_id"] = [exc.message]
    holder = " ".join((data.holder or "").split())
    if not holder:
        errors["holder"] = [REQUIRED_MESSAGE]
    elif len(holder) > 140:
        errors["holder"] = [HOLDER_MESSAGE]
    clean["holder"] = holder
    clean["iban"] = clean["bic"] = None
    if not (data.iban or "").strip():
        errors["iban"] = [REQUIRED_MESSAGE]
    else:
        try:
            clean["iban"] = canonical_iban(data.iban, sepa_only=True)
        except ValueError as exc:
            errors["iban"] = [SEPA_MESSAGE if str(exc) == "sepa" else IBAN_MESSAGE]
    if clean["iban"]:
        clean["bic"] = bic_for_iban(clean["iban"])
        if clean["bic"] is None:
            if not (data.bic or "").strip():
                errors["bic"] = [BIC_NEEDED_MESSAGE]
            else:
                try:
                    clean["bic"] = canonical_bic(data.bic)
                except ValueError:
                    errors["bic"] = [BIC_MESSAGE]
        beneficiary = clean.get("beneficiary")
        current = current_bank_account(session, member, beneficiary.id if beneficiary else None, now)
        if current is not None and current.iban == clean["iban"]:
            errors["iban"] = [SAME_ACCOUNT_MESSAGE]
    if errors:
        raise ValidationFailed(errors)
    return clean


def prepare_bank_change(session: Session, member: Member, data: BankChangeInput, *,
                        policy: security.SignInPolicy, now: datetime, ip: str | None = None) -> BankChangeToConfirm:
    """Check the form and the RIB, keep the change aside and send the code that will confirm it.

    Nothing is sent to MESE yet. A member has one change waiting at a time: a new one replaces it.
    Raises ValidationFailed (fields), UploadRejected (the RIB), DomainError or CodeNotSent.
    """
    clean = _validate(session, member, data, now)
    if len(data.files) > 1:
        raise DomainError(ONE_FILE_MESSAGE, field="files")
    rib = checked_files(session, member, data.files, now=now, required=True, confirm_duplicates=True)[0]
    uses_app = member.second_factor is SecondFactor.TOTP
    if not uses_app and not (member.mobile and member.mobile_verified):
        raise DomainError(NO_CONFIRMATION_MESSAGE, field="iban")
    session.execute(delete(PendingBankChange).where(PendingBankChange.member_id == member.id))
    stored = store_bytes(session, rib.data, filename=rib.filename, content_type=rib.content_type,
                         member_id=member.id, now=now)
    session.flush()
    token = secrets.token_urlsafe(32)
    beneficiary = clean["beneficiary"]
    pending = PendingBankChange(
        member_id=member.id, beneficiary_id=beneficiary.id if beneficiary else None, holder=clean["holder"],
        iban=clean["iban"], bic=clean["bic"], rib_file_id=stored.id, token_hash=_token_hash(token),
        form_token=valid_form_token(data.form_token), created_at=now,
        expires_at=now + timedelta(minutes=CONFIRMATION_MINUTES))
    session.add(pending)
    if not uses_app:
        security.send_code(session, member, attempt=token, purpose=CodePurpose.BANK_DETAILS, destination=member.mobile,
                           policy=policy, ip=ip, now=now)
    record(session, "bank_details.prepared", actor_type="member", actor_id=member.id, member_id=member.id, ip=ip,
           now=now, method="totp" if uses_app else "sms")
    return BankChangeToConfirm(pending=pending, token=token, method="totp" if uses_app else "sms")


def pending_bank_change(session: Session, member: Member, token: str | None, now: datetime) -> PendingBankChange | None:
    """The member's change waiting for its code, if ``token`` is its token and it has not expired."""
    if not token:
        return None
    return session.scalar(select(PendingBankChange).where(
        PendingBankChange.member_id == member.id, PendingBankChange.token_hash == _token_hash(token),
        PendingBankChange.expires_at > now))


def resend_bank_code(session: Session, member: Member, token: str, *, policy: security.SignInPolicy, now: datetime,
                     ip: str | None = None) -> None:
    """Send a new SMS code for the waiting change (the previous one stops working); raises CodeNotSent."""
    pending = pending_bank_change(session, member, token, now)
    if pending is None:
        raise DomainError(EXPIRED_MESSAGE, field="code")
    if member.second_factor is SecondFactor.TOTP or not member.mobile:
        return
    security.send_code(session, member, attempt=token, purpose=CodePurpose.BANK_DETAILS, destination=member.mobile,
                       policy=policy, ip=ip, now=now)


def confirm_bank_change(session: Session, member: Member, token: str, code: str, *,
                        policy: security.SignInPolicy, now: datetime, ip: str | None = None) -> BankDetailChangeRequest:
    """The right code sends the change to MESE: the request is created with its RIB, the member is e-mailed.

    A wrong code counts as a failed sign-in (like any code). Raises CodeRefused or DomainError (expired).
    """
    pending = pending_bank_change(session, member, token, now)
    if pending is None:
        raise DomainError(EXPIRED_MESSAGE, field="code")
    if member.second_factor is SecondFactor.TOTP:
        outcome = security.check_totp(session, member, code, policy=policy, ip=ip, now=now)
        method = "totp"
    else:
        outcome = security.check_code(session, member, code, attempt=token, purpose=CodePurpose.BANK_DETAILS,
                                      policy=policy, ip=ip, now=now)
        method = "sms"
    if outcome is not security.CodeCheck.OK:
        raise CodeRefused(outcome)
    request = BankDetailChangeRequest(member_id=member.id, beneficiary_id=pending.beneficiary_id, holder=pending.holder,
                                      iban=pending.iban, bic=pending.bic, confirmed_by=method)
    start_request(session, request, now=now)
    session.add(RequestFile(request_kind=request.kind, request_id=request.id, member_id=member.id,
                            file_id=pending.rib_file_id, added_at=now))
    submitted(session, member, request, action=SUBMITTED_ACTION, token=pending.form_token, now=now, ip=ip,
              method=method)
    session.delete(pending)
    return request


# -- back office: four eyes ---------------------------------------------------------------------------


def propose_bank_change(session: Session, request: BankDetailChangeRequest, *, staff: StaffUser,
                        effective_on: date | None, now: datetime) -> None:
    """The agent who checked the RIB proposes the change, to take effect on ``effective_on`` (today or later)."""
    require(request, staff, Action.PROPOSE)
    today = local_today(now)
    if effective_on is None or effective_on < today or effective_on > today + timedelta(days=MAX_DAYS_AHEAD):
        raise DomainError("Indiquez une date d'effet entre aujourd'hui et dans un an.", field="effective_on")
    request.proposed_by_id, request.proposed_at, request.effective_on = staff.id, now, effective_on
    note_event(session, request, staff=staff, now=now, action="proposed",
               note=f"Changement proposé, à compter du {date_fr(effective_on)} : en attente de validation",
               effective_on=effective_on.isoformat())


def return_bank_change(session: Session, request: BankDetailChangeRequest, *, staff: StaffUser, note: str,
                       now: datetime) -> None:
    """The approver sends the proposal back to the agent, with what to check again."""
    require(request, staff, Action.RETURN)
    note = (note or "").strip()[:2000] or "Proposition renvoyée à l'agent"
    request.proposed_by_id = request.proposed_at = request.effective_on = None
    note_event(session, request, staff=staff, now=now, action="proposal_returned", note=f"Renvoyée : {note}")


def approve_bank_change(session: Session, request: BankDetailChangeRequest, *, staff: StaffUser,
                        now: datetime) -> BankAccount:
    """A second staff member approves: a new version of the account takes effect on the proposed date.

    The previous account of the same person stays in use until then (its version ends at that instant).
    """
    require(request, staff, Action.APPROVE)
    start = datetime.combine(request.effective_on, time(0), tzinfo=PARIS)
    valid_from = max(start, now)
    previous = session.scalars(select(BankAccount).where(
        BankAccount.member_id == request.member_id,
        BankAccount.beneficiary_id == request.beneficiary_id if request.beneficiary_id
        else BankAccount.beneficiary_id.is_(None),
        or_(BankAccount.valid_to.is_(None), BankAccount.valid_to > valid_from)).with_for_update()).all()
    for account in previous:
        account.valid_to = max(valid_from, account.valid_from)
    account = BankAccount(member_id=request.member_id, beneficiary_id=request.beneficiary_id, holder=request.holder,
                          iban=request.iban, bic=request.bic, valid_from=valid_from)
    session.add(account)
    session.flush()
    request.approved_by_id, request.approved_at, request.bank_account_id = staff.id, now, account.id
    transition(session, request, RequestStatus.DONE, staff=staff, now=now,
               note=f"Changement validé : nouveau compte à compter du {date_fr(request.effective_on)}")
    notify_member(session, request.member, template="bank_details_changed", related=request.reference,
                  context={"request": request})
    return account
