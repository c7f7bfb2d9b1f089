"""Hospital coverage requests: who may ask, what is checked, how the letter reaches the hospital."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.operations import record
from ..content.entities import NoCoverageEstablishment
from ..contracts.entities import Beneficiary
from ..errors import DomainError, InvalidTransition, ValidationFailed
from ..formats import canonical_finess, normalise_text
from ..members.entities import Member
from ..outbox.operations import queue_email, queue_fax
from ..staff.entities import StaffUser
from .entities import HospitalCoverageRequest, RequestStatus
from .workflow import local_today, start_request, transition

FAX_OR_EMAIL_MESSAGE = "Il est nécessaire de saisir au moins le fax ou l'email afin de pouvoir envoyer la demande"
REQUIRED_MESSAGE = "Ce champ est obligatoire."
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
MAX_DAYS_AHEAD = 366


@dataclass(frozen=True)
class HospitalCoverageInput:
    """What the member typed on the form."""

    beneficiary_id: int | None
    establishment_name: str
    finess: str
    start_on: date | None
    admission_fax: str
    admission_email: str
    confirm_no_coverage: bool = False


class NoCoverageNeeded(DomainError):
    """The establishment is on the list where the member card suffices; the member must confirm."""

    def __init__(self, establishment: NoCoverageEstablishment):
        super().__init__(
            "Pour cet établissement, la prise en charge n'est pas nécessaire : la présentation de votre "
            "carte Mutuelle est suffisante.",
            field="establishment_name",
        )
        self.establishment = establishment


def family_beneficiaries(session: Session, member: Member) -> list[Beneficiary]:
    """Every person of the member's family, principal insured first."""
    return list(session.scalars(
        select(Beneficiary).where(Beneficiary.member_id == member.id).order_by(Beneficiary.id)
    ))


def covered_beneficiaries(session: Session, member: Member, on: date) -> list[Beneficiary]:
    """The people of the member's family covered on ``on``."""
    return [b for b in family_beneficiaries(session, member) if b.is_covered_on(on)]


def no_coverage_match(session: Session, establishment_name: str) -> NoCoverageEstablishment | None:
    """The list entry saying ``establishment_name`` needs no coverage, or None.

    An exception entry (``needs_coverage``) that matches wins over any other entry.
    """
    words = set(normalise_text(establishment_name).split())
    matches = [
        row for row in session.scalars(select(NoCoverageEstablishment).where(NoCoverageEstablishment.active))
        if row.match_terms and set(normalise_text(row.match_terms).split()) <= words
    ]
    if any(row.needs_coverage for row in matches):
        return None
    return next(iter(matches), None)


def canonical_fax(value: str) -> str:
    """A French fax number as 10 digits (0XXXXXXXXX), or ValueError."""
    digits = re.sub(r"[\s.\-()\u00a0]", "", value)
    if digits.startswith("+33"):
        digits = "0" + digits[3:]
    if not re.fullmatch(r"0[1-59]\d{8}", digits):
        raise ValueError("format")
    return digits


def _validate(session: Session, member: Member, data: HospitalCoverageInput, today: date) -> dict:
    errors: dict[str, list[str]] = {}
    clean: dict = {}

    def fail(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    name = " ".join(data.establishment_name.split())
    if not name:
        fail("establishment_name", REQUIRED_MESSAGE)
    elif len(name) > 200:
        fail("establishment_name", "200 caractères au maximum.")
    clean["establishment_name"] = name

    clean["finess"] = None
    if data.finess.strip():
        try:
            clean["finess"] = canonical_finess(data.finess)
        except ValueError as exc:
            fail("finess", "Le N° Finess doit comporter 9 caractères." if str(exc) == "format"
                 else "Ce N° Finess n'est pas valide (clé de contrôle incorrecte).")

    if data.start_on is None:
        fail("start_on", REQUIRED_MESSAGE)
    elif data.start_on < today:
        fail("start_on", "La date de début d'hospitalisation ne peut pas être dans le passé.")
    elif data.start_on > today + timedelta(days=MAX_DAYS_AHEAD):
        fail("start_on", "La date de début d'hospitalisation doit être dans moins d'un an.")
    clean["start_on"] = data.start_on

    beneficiary = None
    if data.beneficiary_id is None:
        fail("beneficiary_id", REQUIRED_MESSAGE)
    else:
        beneficiary = session.get(Beneficiary, data.beneficiary_id)
        if beneficiary is None or beneficiary.member_id != member.id:
            fail("beneficiary_id", "Choisissez une personne de votre contrat.")
            beneficiary = None
        elif data.start_on is not None and not beneficiary.is_covered_on(data.start_on):
            fail("beneficiary_id", "Cette personne n'est pas couverte par votre contrat à cette date.")
    clean["beneficiary"] = beneficiary

    fax, email = data.admission_fax.strip(), data.admission_email.strip()
    clean["admission_fax"] = clean["admission_email"] = None
    if not fax and not email:
        fail("admission_fax", FAX_OR_EMAIL_MESSAGE)
    if fax:
        try:
            clean["admission_fax"] = canonical_fax(fax)
        except ValueError:
            fail("admission_fax", "Saisissez un numéro de fax français à 10 chiffres.")
    if email:
        if len(email) > 254 or not EMAIL_RE.match(email):
            fail("admission_email", "Saisissez une adresse email valide.")
        else:
            clean["admission_email"] = email.lower()

    if errors:
        raise ValidationFailed(errors)
    return clean


def submit_hospital_coverage(
    session: Session, member: Member, data: HospitalCoverageInput, *, now: datetime, ip: str | None = None
) -> HospitalCoverageRequest:
    """A member asks MESE to send a coverage letter to a hospital or clinic.

    Checks every field (nothing is written when one is wrong); when the establishment needs no
    coverage, raises NoCoverageNeeded unless the member confirmed. Queues the acknowledgement e-mail.
    """
    clean = _validate(session, member, data, local_today(now))
    match = no_coverage_match(session, clean["establishment_name"])
    if match is not None and not data.confirm_no_coverage:
        raise NoCoverageNeeded(match)
    request = HospitalCoverageRequest(
        member_id=member.id,
        beneficiary_id=clean["beneficiary"].id,
        establishment_name=clean["establishment_name"],
        finess=clean["finess"],
        start_on=clean["start_on"],
        admission_fax=clean["admission_fax"],
        admission_email=clean["admission_email"],
        no_coverage_notice_shown=match is not None,
    )
    start_request(session, request, now=now)
    record(session, "hospital_coverage.submitted", actor_type="member", actor_id=member.id, subject=request,
           member_id=member.id, ip=ip, now=now, reference=request.reference)
    if member.email:
        queue_email(session, to=member.email, template="hospital_coverage_received", member_id=member.id,
                    related=request.reference,
                    context={"member": member, "request": request, "beneficiary": clean["beneficiary"]})
    return request


def coverage_letter_attachment(request: HospitalCoverageRequest) -> dict:
    """The outbox attachment spec of the coverage letter PDF of ``request`` (rendered by the job)."""
    return {"render": "coverage_letter", "request_id": request.id,
            "filename": f"prise-en-charge-{request.reference}.pdf"}


def approve_hospital_coverage(
    session: Session, request: HospitalCoverageRequest, *, staff: StaffUser, now: datetime
) -> None:
    """An agent approves: the letter goes to the admission service by fax and/or e-mail, the member is told."""
    if request.status is not RequestStatus.IN_PROGRESS or request.assigned_to_id != staff.id:
        raise InvalidTransition("Prenez d'abord la demande en charge avant de l'accepter.")
    transition(session, request, RequestStatus.DONE, staff=staff, now=now, note="Prise en charge envoyée")
    member, beneficiary = request.member, request.beneficiary
    context = {"member": member, "request": request, "beneficiary": beneficiary}
    attachment = coverage_letter_attachment(request)
    if request.admission_fax:
        queue_fax(session, to=request.admission_fax, template="hospital_coverage_fax", context=context,
                  attachments=[attachment], member_id=member.id, related=request.reference)
    if request.admission_email:
        queue_email(session, to=request.admission_email, template="hospital_coverage_letter", context=context,
                    attachments=[attachment], member_id=member.id, related=request.reference)
    if member.email:
        queue_email(session, to=member.email, template="hospital_coverage_approved", context=context,
                    member_id=member.id, related=request.reference)


def reject_hospital_coverage(
    session: Session, request: HospitalCoverageRequest, *, staff: StaffUser, reason: str, now: datetime
) -> None:
    """An agent refuses with a reason; the member is told why."""
    reason = reason.strip()
    if not reason:
        raise DomainError("Indiquez le motif du refus.", field="reason")
    transition(session, request, RequestStatus.REJECTED, staff=staff, now=now, note=reason)
    request.resolution_note = reason
    if request.member.email:
        queue_email(session, to=request.member.email, template="hospital_coverage_rejected",
                    context={"member": request.member, "request": request, "beneficiary": request.beneficiary,
                             "reason": reason},
                    member_id=request.member_id, related=request.reference)
