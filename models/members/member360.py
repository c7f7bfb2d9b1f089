"""Member 360 of the back office: finding a member (number, name and birth date, NIR), their whole file on one
page, showing a NIR or an IBAN in full for a stated reason, lifting a sign-in lock; every look audited."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer, load_only

from ..audit.entities import AuditEvent
from ..audit.operations import record
from ..contracts.entities import BankAccount, Beneficiary, Contract
from ..crypto import blind_index
from ..errors import ValidationFailed
from ..formats import canonical_nir, nir_with_key, normalise_text
from ..outbox.entities import OutboxMessage
from ..requests.entities import REQUEST_MODELS, RequestMixin
from ..staff.entities import StaffRole, StaffUser
from .entities import Member

#: Who may search members (agents too: they look a member up to work the queues).
SEARCH_ROLES = (StaffRole.AGENT, StaffRole.MANAGER, StaffRole.ADMIN)
#: Who may open a member's whole file, show a number in full and lift a lock (supervisors only: the file holds
#: bank history, messages and sign-in history that queue work does not need).
FILE_ROLES = (StaffRole.MANAGER, StaffRole.ADMIN)
#: Most rows a search returns, and most rows of each part of a file.
SEARCH_LIMIT = 50
FILE_LIMIT = 50
#: Shortest and longest reason for showing a number in full.
REASON_MIN, REASON_MAX = 10, 300

#: Audit actions of a member's sign-ins and lock, with how the file names them.
SIGN_IN_ACTIONS = {
    "signin.succeeded": "Connexion réussie",
    "signin.password_ok": "Mot de passe correct (second facteur attendu)",
    "signin.failed": "Échec de connexion",
    "signin.code_failed": "Code de connexion erroné",
    "signin.refused": "Connexion refusée (compte bloqué ou en attente)",
    "signin.locked": "Compte bloqué après trop d'échecs",
    "signin.signed_out": "Déconnexion",
    "password.reset": "Mot de passe réinitialisé",
    "member.unlocked": "Compte débloqué par MESE",
}
#: Reasons of failed or refused sign-ins, as the file names them.
SIGN_IN_REASONS = {"wrong_password": "mot de passe erroné", "no_password": "espace pas encore activé",
                   "locked": "compte bloqué", "delayed": "délai d'attente en cours"}
#: Columns a search row reads: only what the list shows (never the NIR or the TOTP secret).
_ROW_COLUMNS = ("id", "number", "civility", "first_name", "last_name", "birth_date", "postcode", "city", "locked_at")


@dataclass(frozen=True)
class MemberSearch:
    """What the search form asked for; ``kind`` is the key used: number, name or nir."""

    kind: str
    number: str = ""
    last_name: str = ""
    birth_date: date | None = None
    nir: str = ""


def _clean(value: str | None, limit: int) -> str:
    text = unicodedata.normalize("NFKC", value or "")
    return "" if any(unicodedata.category(c) == "Cc" for c in text) else " ".join(text.split())[:limit]


def parse_search(*, number: str = "", last_name: str = "", birth_date: str = "", nir: str = "") -> MemberSearch | None:
    """The search typed in the form, or None when it is empty; raises ValidationFailed (per field) when a key is
    unusable. The number wins over the NIR, the NIR over name and birth date."""
    number = re.sub(r"\s+", "", _clean(number, 40))
    last_name, birth_text, nir = _clean(last_name, 100), _clean(birth_date, 20), _clean(nir, 40)
    if number:
        if not re.fullmatch(r"[0-9A-Za-z]{1,20}", number, re.ASCII):
            raise ValidationFailed({"number": ["Le numéro d'adhérent ne contient que des chiffres et des lettres."]})
        return MemberSearch("number", number=number.upper())
    if nir:
        try:
            return MemberSearch("nir", nir=canonical_nir(nir))
        except ValueError:
            raise ValidationFailed({"nir": ["Ce NIR n'est pas valide : 13 ou 15 caractères, clé comprise."]}) from None
    if not last_name and not birth_text:
        return None
    errors: dict[str, list[str]] = {}
    if not normalise_text(last_name):
        errors["last_name"] = ["Indiquez le nom (avec la date de naissance)."]
    born = None
    if not birth_text:
        errors["birth_date"] = ["Indiquez la date de naissance (avec le nom)."]
    else:
        try:
            born = date.fromisoformat(birth_text) if "-" in birth_text else \
                datetime.strptime(birth_text, "%d/%m/%Y").date()
        except ValueError:
            errors["birth_date"] = ["Date de naissance non valide : JJ/MM/AAAA."]
        if born is not None and not date(1900, 1, 1) <= born <= date(2100, 1, 1):
            errors["birth_date"] = ["Date de naissance non valide : JJ/MM/AAAA."]
    if errors:
        raise ValidationFailed(errors)
    return MemberSearch("name", last_name=last_name, birth_date=born)


def search_members(session: Session, search: MemberSearch) -> list[Member]:
    """Members matching ``search``, each key through its index: the unique number, (birth date, last name), the
    NIR's blind index (the NIR itself is never compared nor read). Only the listed columns are loaded."""
    columns = load_only(*(getattr(Member, name) for name in _ROW_COLUMNS), raiseload=True)
    query = select(Member).options(columns)
    if search.kind == "number":
        query = query.where(Member.number == search.number)
    elif search.kind == "nir":
        query = query.where(Member.nir_index == blind_index(search.nir))
    else:
        # Few members share a birth date (about 4 in 100,000): the index on (birth_date, last_name) finds them,
        # and the name is then compared without accents nor case (first name allowed after the last name).
        query = query.where(Member.birth_date == search.birth_date)
    found = list(session.scalars(query.order_by(Member.last_name, Member.id).limit(
        SEARCH_LIMIT if search.kind != "name" else 1000)))
    if search.kind == "name":
        wanted = normalise_text(search.last_name)
        found = [m for m in found if normalise_text(f"{m.last_name} {m.first_name}").startswith(wanted)
                 or normalise_text(f"{m.first_name} {m.last_name}").startswith(wanted)][:SEARCH_LIMIT]
    return found


def record_search(session: Session, search: MemberSearch, rows: int, *, staff: StaffUser, ip: str | None,
                  now: datetime) -> None:
    """Audit a search: who, which key was used and how many members came back (never the NIR or name typed)."""
    record(session, "member360.searched", ip=ip, now=now, kind=search.kind, rows=rows, **_staff_actor(staff))


# -- the file -------------------------------------------------------------------------------------------


@dataclass
class MemberFile:
    """Everything the member 360 page shows of one member."""

    member: Member
    contracts: list[Contract]
    beneficiaries: list[Beneficiary]
    bank_accounts: list[BankAccount]
    requests: list[RequestMixin]
    messages: list[OutboxMessage]
    sign_ins: list[AuditEvent]
    unmask_choices: list[tuple[str, str]] = field(default_factory=list)


def find_member_for_file(session: Session, member_id: int, *, for_update: bool = False) -> Member | None:
    """The member ``member_id`` without their password hash or TOTP secret (never read), or None;
    ``for_update`` locks the row until commit."""
    query = select(Member).where(Member.id == member_id).options(
        defer(Member.password_hash, raiseload=True), defer(Member.totp_secret, raiseload=True))
    return session.scalar(query.with_for_update() if for_update else query)


def member_file(session: Session, member: Member, *, limit: int = FILE_LIMIT) -> MemberFile:
    """The member's contracts, family, bank accounts (current and replaced), requests of every type, messages
    sent (never a body: it may hold a code) and sign-in history, newest first, ``limit`` of each at most."""
    contracts = list(session.scalars(select(Contract).where(Contract.member_id == member.id)
                                     .order_by(Contract.subscribed_on, Contract.id)))
    beneficiaries = list(session.scalars(select(Beneficiary).where(Beneficiary.member_id == member.id)
                                         .order_by(Beneficiary.id)))
    accounts = list(session.scalars(select(BankAccount).where(BankAccount.member_id == member.id)
                                    .order_by(BankAccount.valid_from.desc(), BankAccount.id.desc()).limit(limit)))
    requests: list[RequestMixin] = []
    for model in REQUEST_MODELS.values():
        requests += session.scalars(
            select(model).where(model.member_id == member.id)
            .options(load_only(model.id, model.reference, model.status, model.created_at, model.due_on,
                               model.closed_at, raiseload=True))
            .order_by(model.created_at.desc(), model.id.desc()).limit(limit))
    requests.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    messages = list(session.scalars(
        select(OutboxMessage).where(OutboxMessage.member_id == member.id)
        .options(load_only(OutboxMessage.id, OutboxMessage.created_at, OutboxMessage.channel, OutboxMessage.recipient,
                           OutboxMessage.subject, OutboxMessage.template, OutboxMessage.related,
                           OutboxMessage.status, OutboxMessage.sent_at, raiseload=True))
        .order_by(OutboxMessage.id.desc()).limit(limit)))
    sign_ins = list(session.scalars(
        select(AuditEvent).where(AuditEvent.member_id == member.id, AuditEvent.action.in_(list(SIGN_IN_ACTIONS)))
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)))
    found = MemberFile(member, contracts, beneficiaries, accounts, requests[:limit * 2], messages, sign_ins)
    found.unmask_choices = _unmask_choices(found)
    return found


def _unmask_choices(found: MemberFile) -> list[tuple[str, str]]:
    choices = [("nir", f"NIR de l'adhérent ({found.member.masked_nir})")]
    choices += [(f"beneficiary:{b.id}", f"NIR de {b.full_name} ({b.masked_nir})")
                for b in found.beneficiaries if b.nir and b.role.value != "principal"]
    choices += [(f"iban:{a.id}", f"IBAN {a.masked_iban} ({a.holder})") for a in found.bank_accounts]
    return choices


def sign_in_label(event: AuditEvent) -> str:
    """How the file names one event of the sign-in history, with its reason when it has one."""
    label = SIGN_IN_ACTIONS.get(event.action, event.action)
    details = event.details or {}
    reason = SIGN_IN_REASONS.get(details.get("reason"), details.get("reason"))
    if event.action == "signin.code_failed" and details.get("channel"):
        reason = "application" if details["channel"] == "totp" else "SMS"
    return f"{label} ({reason})" if reason else label


# -- audited looks and actions --------------------------------------------------------------------------


def _staff_actor(staff: StaffUser) -> dict[str, Any]:
    return {"actor_type": "staff", "actor_id": staff.id, "role": staff.role.value}


def record_opening(session: Session, member: Member, *, staff: StaffUser, ip: str | None, now: datetime) -> None:
    """Audit one opening of the member's file: who (and their role at the time), which member."""
    record(session, "member360.viewed", subject=member, member_id=member.id, ip=ip, now=now, **_staff_actor(staff))


def recent_files(session: Session, staff: StaffUser, *, limit: int = 20) -> list[tuple[datetime, Member]]:
    """The files ``staff`` opened lately, newest first, each member once (index on the audit's actor and date)."""
    events = session.execute(
        select(AuditEvent.member_id, AuditEvent.at).where(AuditEvent.actor_id == staff.id,
                                                          AuditEvent.actor_type == "staff",
                                                          AuditEvent.action == "member360.viewed")
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit * 5)).all()
    latest: dict[int, datetime] = {}
    for member_id, at in events:
        if member_id is not None and member_id not in latest:
            latest[member_id] = at
    ids = list(latest)[:limit]
    columns = load_only(*(getattr(Member, name) for name in _ROW_COLUMNS), raiseload=True)
    members = {m.id: m for m in session.scalars(select(Member).options(columns).where(Member.id.in_(ids)))} \
        if ids else {}
    return [(latest[i], members[i]) for i in ids if i in members]


@dataclass(frozen=True)
class Unmasked:
    """A number shown in full, once: what it is and its value."""

    label: str
    value: str


def unmask(session: Session, found: MemberFile, *, target: str, reason: str, staff: StaffUser, ip: str | None,
           now: datetime) -> Unmasked:
    """The NIR or IBAN ``target`` of the file in full, audited with the reason; raises ValidationFailed when the
    reason is missing or too short, or the target is not one of this member's numbers."""
    if staff.role not in FILE_ROLES:
        raise ValidationFailed({"target": ["Votre rôle ne permet pas d'afficher un numéro en clair."]})
    reason = _clean(reason, REASON_MAX + 1)
    errors: dict[str, list[str]] = {}
    if len(reason) < REASON_MIN:
        errors["reason"] = [f"Indiquez le motif de cet affichage (au moins {REASON_MIN} caractères)."]
    elif len(reason) > REASON_MAX:
        errors["reason"] = [f"Le motif tient en {REASON_MAX} caractères au plus."]
    shown = _target_value(found, target or "")
    if shown is None:
        errors["target"] = ["Choisissez le numéro à afficher."]
    if errors:
        raise ValidationFailed(errors)
    kind, target_id, label, value = shown
    record(session, "member360.unmasked", subject=found.member, member_id=found.member.id, ip=ip, now=now,
           target=kind, target_id=target_id, reason=reason, **_staff_actor(staff))
    return Unmasked(label, value)


def _target_value(found: MemberFile, target: str) -> tuple[str, int, str, str] | None:
    kind, _, raw_id = target.partition(":")
    if kind == "nir" and not raw_id:
        return "nir", found.member.id, f"NIR de {found.member.full_name}", nir_with_key(found.member.nir)
    if not raw_id.isascii() or not raw_id.isdigit():
        return None
    pk = int(raw_id)
    if kind == "beneficiary":
        person = next((b for b in found.beneficiaries if b.id == pk and b.nir), None)
        return None if person is None else ("beneficiary_nir", pk, f"NIR de {person.full_name}",
                                            nir_with_key(person.nir) if len(person.nir) == 13 else person.nir)
    if kind == "iban":
        account = next((a for a in found.bank_accounts if a.id == pk), None)
        return None if account is None else ("iban", pk, f"IBAN de {account.holder}",
                                            " ".join(account.iban[i:i + 4] for i in range(0, len(account.iban), 4)))
    return None


def unlock_member(session: Session, member: Member, *, staff: StaffUser, ip: str | None, now: datetime) -> bool:
    """A supervisor lifts the lock and the growing delays of a member's sign-in (as a password reset does);
    audited. False when the account was neither locked nor delayed."""
    if member.locked_at is None and not member.failed_login_count:
        return False
    was_locked = member.locked_at is not None
    member.failed_login_count = 0
    member.last_failed_login_at = None
    member.locked_at = None
    record(session, "member.unlocked", subject=member, member_id=member.id, ip=ip, now=now, was_locked=was_locked,
           **_staff_actor(staff))
    return True
