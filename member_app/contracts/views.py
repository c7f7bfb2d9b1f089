"""Mes contrats (Santé), the contract page and its beneficiaries, the guarantees, Cotisations, bank details."""

from __future__ import annotations

import io

from flask import Blueprint, abort, render_template, send_file
from flask_login import current_user, login_required
from markupsafe import Markup

from models.base import utcnow
from models.contracts import queries
from models.formats import date_fr, money
from models.files.storage import read_bytes
from models.requests.workflow import local_today

from ..ahead import reads_ahead, request_now
from ..extensions import db
from ..i18n import current_language
from ..layout import fill, part

bp = Blueprint("contracts", __name__)


@bp.get("/mon-contrat")
@login_required
@reads_ahead(lambda now: queries.member_contracts_reads())
def index():
    """Mes contrats > Santé: one card per contract."""
    contracts = queries.member_contracts(db.session, current_user.id)
    return render_template("member/contracts/index.html", contracts=contracts,
                           cards=[{"id": c.id, "number": c.number} for c in contracts])


@bp.get("/mon-contrat/<int:contract_id>")
@login_required
@reads_ahead(lambda now, contract_id: queries.contract_page_reads(contract_id, at=now))
def detail(contract_id: int):
    """The contract, its beneficiaries and, for each, social security, tele-transmission and bank account."""
    page = queries.contract_page(db.session, current_user.id, contract_id, at=request_now())
    if page is None:
        abort(404)
    contract = page.contract
    content = part("member/contracts/_detail.html", guarantees=contract.guarantees_file_id is not None) % {
        "id": contract.id, "number": contract.number, "subscribed_on": date_fr(contract.subscribed_on),
        "items": _filled("member/contracts/_person_item.html", page.people, _item_part, _item_values),
        "sections": _filled("member/contracts/_person.html", page.people, _section_part, _section_values)}
    return render_template("member/contracts/detail.html", contract=contract, content=content)


# The contract page's people: each person's part (drawn once per language and kind of person, member_app.layout)
# filled with their values, escaped; a page of a large family writes no template line per person.

def _filled(template: str, people, part_of, values_of) -> Markup:
    """Each of ``people`` written as the part of ``template`` for its kind, filled with its values."""
    return Markup("\n").join(fill(part(template, **part_of(p)), values_of(p)) for p in people)


def _item_part(person) -> dict:
    return {"role": person.beneficiary.role}


def _item_values(person) -> dict:
    return {"id": person.beneficiary.id, "full_name": person.beneficiary.full_name}


def _section_part(person) -> dict:
    return {"role": person.beneficiary.role, "state": person.teletransmission, "account": person.account is not None,
            "own_account": person.own_account, "requested": person.request_reference is not None}


def _section_values(person) -> dict:
    b, account = person.beneficiary, person.account
    values = {"id": b.id, "full_name": b.full_name, "birth_date": date_fr(b.birth_date), "nir": b.masked_nir or "—",
              "organism_number": b.organism_number or "—"}
    if account is not None:
        values["iban"], values["bic"] = account.masked_iban, account.masked_bic
    if person.request_reference is not None:
        values["reference"] = person.request_reference
    return values


@bp.get("/mon-contrat/<int:contract_id>/garanties")
@login_required
def guarantees(contract_id: int):
    """Afficher les garanties de remboursements: the contract's guarantees table, opened in the browser."""
    stored = queries.guarantees_document(db.session, current_user.id, contract_id)
    if stored is None:
        abort(404)
    response = send_file(io.BytesIO(read_bytes(stored)), mimetype="application/pdf", as_attachment=False,
                         download_name=stored.filename, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/cotisations")
@login_required
@reads_ahead(lambda now: queries.contribution_schedules_reads())
def contributions():
    """Cotisations: amount and schedule of an individual contract; the payslip sentence for a collective one."""
    language = current_language()
    return render_template("member/contracts/contributions.html",
                           schedules=queries.contribution_schedules(db.session, current_user.id),
                           today=local_today(utcnow()), money=lambda cents: money(cents, language),
                           lines=lambda instalments: _instalments(instalments, language))


def _instalments(instalments, language: str) -> Markup:
    """The lines of a schedule: the line's part (drawn once per language and status) filled with each instalment's
    values, escaped."""
    return Markup("\n      ").join(fill(
        part("member/contracts/_instalment.html", status=c.status, label=queries.contribution_label(c.status)),
        {"due_on": date_fr(c.due_on), "period_start": date_fr(c.period_start), "period_end": date_fr(c.period_end),
         "amount": money(c.amount_cents, language)}) for c in instalments)


@bp.get("/coordonnees-bancaires")
@login_required
@reads_ahead(lambda now: queries.family_people_reads(at=now, bank_change=True))
def bank_details():
    """Coordonnées bancaires: the account of the member and of each beneficiary, masked; the change request."""
    people = queries.family_people(db.session, current_user.id, at=request_now(), bank_change=True)
    return render_template("member/contracts/bank_details.html", sections=_filled(
        "member/contracts/_account.html", people, _account_part, _account_values))


def _account_part(person) -> dict:
    return {"role": person.beneficiary.role, "account": person.account is not None,
            "own_account": person.own_account, "change": person.bank_change is not None}


def _account_values(person) -> dict:
    b, account = person.beneficiary, person.account
    values = {"id": b.id, "full_name": b.full_name}
    if account is not None:
        values["holder"], values["iban"], values["bic"] = account.holder, account.masked_iban, account.masked_bic
    if person.bank_change is not None:
        values["change"] = person.bank_change
    return values
