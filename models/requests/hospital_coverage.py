"""Hospital coverage requests: who may ask, what is checked, how the letter reaches the hospital."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import groupby

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, joinedload

from ..audit.operations import record
from ..content.entities import NoCoverageEstablishment
from ..db import DriverRead
from ..contracts.entities import Beneficiary, BeneficiaryRole, Coverage
from ..errors import DomainError, ValidationFailed
from ..formats import canonical_email, canonical_finess, normalise_text
from ..i18n import Message
from ..members.entities import Member
from ..outbox.operations import notify_member, queue_email, queue_fax
from ..staff.entities import StaffUser
from .entities import Action, HospitalCoverageRequest, RequestStatus
from .operations import FORM_TOKEN_RE, already_submitted
from .workflow import local_today, require, staff_text, start_request, transition
from .queries import member_hospital_coverage_request

FAX_OR_EMAIL_MESSAGE = Message(
    "Il est nécessaire de saisir au moins le fax ou l'email afin de pouvoir envoyer la demande")
REQUIRED_MESSAGE = Message("Ce champ est obligatoire.")
NOT_IN_FAMILY_MESSAGE = Message("Choisissez une personne de votre contrat.")
NOT_COVERED_MESSAGE = Message("Cette personne n'est pas couverte par votre contrat à cette date.")
PAST_DATE_MESSAGE = Message("La date de début d'hospitalisation ne peut pas être dans le passé.")
TOO_FAR_MESSAGE = Message("La date de début d'hospitalisation doit être dans moins d'un an.")
FINESS_LENGTH_MESSAGE = Message("Le N° Finess doit comporter 9 caractères.")
FINESS_KEY_MESSAGE = Message("Ce N° Finess n'est pas valide (clé de contrôle incorrecte).")
FAX_FORMAT_MESSAGE = Message("Saisissez un numéro de fax français à 10 chiffres.")
EMAIL_FORMAT_MESSAGE = Message("Saisissez une adresse email valide.")
NO_COVERAGE_MESSAGE = Message("Pour cet établissement, la prise en charge n'est pas nécessaire : la présentation "
                              "de votre carte Mutuelle est suffisante.")
MAX_DAYS_AHEAD = 366
SUBMITTED_ACTION = "hospital_coverage.submitted"
_MAX_ID = 2**31 - 1


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
    #: Random token of the form page; a second submission with the same token returns the first request.
    form_token: str = ""


class NoCoverageNeeded(DomainError):
    """The establishment is on the list where the member card suffices; the member must confirm."""

    def __init__(self, establishment: NoCoverageEstablishment):
        super().__init__(NO_COVERAGE_MESSAGE, field="establishment_name")
        self.establishment = establishment


def family_beneficiaries(session: Session, member: Member, *, with_coverages: bool = False) -> list[Beneficiary]:
    """Every person of the member's family, principal insured first (``with_coverages``: their coverage periods
    read in the same query, instead of one query per person)."""
    statement = select(Beneficiary).where(Beneficiary.member_id == member.id).order_by(Beneficiary.id)
    if with_coverages:
        statement = statement.options(joinedload(Beneficiary.coverages))
    return list(session.scalars(statement).unique())


def covered_beneficiaries(session: Session, member: Member, on: date) -> list[Beneficiary]:
    """The people of the member's family covered on ``on``."""
    return [b for b in family_beneficiaries(session, member, with_coverages=True) if b.is_covered_on(on)]


@dataclass(frozen=True)
class SelectablePerson:
    """A person the form offers: id, name, role, and coverage periods (start, end or None) by start date."""

    id: int
    full_name: str
    role: BeneficiaryRole
    periods: tuple[tuple[date, date | None], ...]


#: Built once, read straight on the driver (models.db.DriverRead: the form page's one read besides the sign-in check).
_SELECTABLE_PEOPLE = DriverRead(
    select(Beneficiary.id, Beneficiary.first_name, Beneficiary.last_name, Beneficiary.role, Coverage.start_on,
           Coverage.end_on)
    .join(Coverage, Coverage.beneficiary_id == Beneficiary.id)
    .where(Beneficiary.member_id == bindparam("member_id"))
    .order_by(Beneficiary.id, Coverage.start_on, Coverage.id))


def selectable_beneficiaries_reads() -> list[tuple[DriverRead, dict]]:
    """What :func:`selectable_beneficiaries` reads (each read with its parameters but ``member_id``: models.db.DriverRead.first_with)."""
    return [(_SELECTABLE_PEOPLE, {})]


def selectable_beneficiaries(session: Session, member: Member, today: date) -> list[SelectablePerson]:
    """The people who may be chosen on the form: covered on at least one day a request may start on.

    One query of the shown columns (no NIR read). The exact check against the start date is done on submission
    (and by the page's script).
    """
    last = today + timedelta(days=MAX_DAYS_AHEAD)
    rows = _SELECTABLE_PEOPLE.rows(session, {"member_id": member.id})
    people = []
    for (id_, first, last_name, role), periods in groupby(rows, key=lambda row: tuple(row[:4])):
        periods = tuple((start, end) for *_person, start, end in periods)
        if any(start <= last and (end is None or end >= today) for start, end in periods):
            # The name as Beneficiary.full_name writes it (Zoé RIMON).
            people.append(SelectablePerson(id_, f"{first} {last_name.upper()}", role, periods))
    return people


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
    """A French fax number as 10 digits (0XXXXXXXXX), or ValueError.

    Accepts spaces, dots, hyphens, and the international forms +33 4..., +33 (0)4..., 0033 4....
    """
    digits = re.sub(r"[\s.\-()\u00a0/]", "", value)
    for prefix in ("+330", "00330", "+33", "0033"):
        if digits.startswith(prefix):
            digits = "0" + digits[len(prefix):]
            break
    if not re.fullmatch(r"0[1-59]\d{8}", digits, re.ASCII):
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
        fail("establishment_name", Message("%(count)d caractères au maximum.", count=200))
    clean["establishment_name"] = name

    clean["finess"] = None
    if data.finess.strip():
        try:
            clean["finess"] = canonical_finess(data.finess)
        except ValueError as exc:
            fail("finess", FINESS_LENGTH_MESSAGE if str(exc) == "format" else FINESS_KEY_MESSAGE)

    if data.start_on is None:
        fail("start_on", REQUIRED_MESSAGE)
    elif data.start_on < today:
        fail("start_on", PAST_DATE_MESSAGE)
    elif data.start_on > today + timedelta(days=MAX_DAYS_AHEAD):
        fail("start_on", TOO_FAR_MESSAGE)
    clean["start_on"] = data.start_on

    beneficiary = None
    if data.beneficiary_id is None:
        fail("beneficiary_id", REQUIRED_MESSAGE)
    else:
        in_range = 0 < data.beneficiary_id <= _MAX_ID
        beneficiary = session.get(Beneficiary, data.beneficiary_id) if in_range else None
        if beneficiary is None or beneficiary.member_id != member.id:
            fail("beneficiary_id", NOT_IN_FAMILY_MESSAGE)
            beneficiary = None
        elif data.start_on is not None and not beneficiary.is_covered_on(data.start_on):
            fail("beneficiary_id", NOT_COVERED_MESSAGE)
    clean["beneficiary"] = beneficiary

    fax, email = data.admission_fax.strip(), data.admission_email.strip()
    clean["admission_fax"] = clean["admission_email"] = None
    if not fax and not email:
        fail("admission_fax", FAX_OR_EMAIL_MESSAGE)
    if fax:
        try:
            clean["admission_fax"] = canonical_fax(fax)
        except ValueError:
            fail("admission_fax", FAX_FORMAT_MESSAGE)
    if email:
        try:
            clean["admission_email"] = canonical_email(email)
        except ValueError:
            fail("admission_email", EMAIL_FORMAT_MESSAGE)

    if errors:
        raise ValidationFailed(errors)
    return clean


def submit_hospital_coverage(
    session: Session, member: Member, data: HospitalCoverageInput, *, now: datetime, ip: str | None = None
) -> HospitalCoverageRequest:
    """A member asks MESE to send a coverage letter to a hospital or clinic.

    Checks every field and raises ValidationFailed with the messages per field (nothing is
    written when one is wrong); when the establishment needs no coverage, raises
    NoCoverageNeeded unless the member confirmed. Otherwise adds the request (reference, due
    date, history), an audit event and the acknowledgement e-mail to the member in the outbox.
    Idempotent per form: a second submission with the same ``form_token`` (double click, reload)
    returns the request of the first one and writes nothing.
    """
    token = data.form_token if FORM_TOKEN_RE.match(data.form_token or "") else ""
    if token:
        existing = already_submitted(session, member, HospitalCoverageRequest, SUBMITTED_ACTION, token, now)
        if existing is not None:
            return existing
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
    details = {"reference": request.reference}
    if token:
        details["form_token"] = token
    record(session, SUBMITTED_ACTION, actor_type="member", actor_id=member.id, subject=request,
           member_id=member.id, ip=ip, now=now, **details)
    notify_member(session, member, template="hospital_coverage_received", related=request.reference,
                  context={"request": request, "beneficiary": clean["beneficiary"]})
    return request


def coverage_letter_attachment(request: HospitalCoverageRequest) -> dict:
    """The outbox attachment spec of the coverage letter PDF of ``request`` (rendered by the job)."""
    return {"render": "coverage_letter", "request_id": request.id,
            "filename": f"prise-en-charge-{request.reference}.pdf"}


def approve_hospital_coverage(
    session: Session, request: HospitalCoverageRequest, *, staff: StaffUser, now: datetime
) -> None:
    """An agent approves: the letter goes to the admission service by fax and/or e-mail, the member is told."""
    require(request, staff, Action.APPROVE)
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
    notify_member(session, member, template="hospital_coverage_approved", context=context,
                  related=request.reference)


def reject_hospital_coverage(
    session: Session, request: HospitalCoverageRequest, *, staff: StaffUser, reason: str, now: datetime
) -> None:
    """The agent handling the request refuses it with a reason; the member is told why."""
    require(request, staff, Action.REJECT)
    reason = staff_text(reason, field="reason", missing="Indiquez le motif du refus.")
    transition(session, request, RequestStatus.REJECTED, staff=staff, now=now, note=reason)
    request.resolution_note = reason
    notify_member(session, request.member, template="hospital_coverage_rejected", related=request.reference,
                  context={"request": request, "beneficiary": request.beneficiary, "reason": reason})


def open_member_request(session: Session, member: Member, reference: str, *, ip: str | None,
                        now: datetime) -> HospitalCoverageRequest | None:
    """One of the member's own requests by its reference; any other reference is None for the member and an
    audit event for MESE (another family's reference is worth knowing about)."""
    found = member_hospital_coverage_request(session, member, reference)
    if found is None:
        elsewhere = session.scalar(select(HospitalCoverageRequest.id).where(
            HospitalCoverageRequest.reference == reference.strip().upper()[:40])) is not None
        record(session, "member.refused", actor_type="member", actor_id=member.id, member_id=member.id, ip=ip,
               now=now, reason="not_found", reference=reference[:40], other_family=elsewhere)
    return found
