"""Mes contrats (Santé), the contract page and its beneficiaries, the guarantees, Cotisations, bank details."""

from __future__ import annotations

import io

from flask import Blueprint, abort, render_template, send_file
from flask_login import current_user, login_required

from models.base import utcnow
from models.contracts import queries
from models.contracts.entities import ContributionStatus
from models.formats import money
from models.files.storage import read_bytes
from models.requests.workflow import local_today

from ..extensions import db
from ..i18n import current_language, translate

bp = Blueprint("contracts", __name__)


@bp.get("/mon-contrat")
@login_required
def index():
    """Mes contrats > Santé: one card per contract."""
    return render_template("member/contracts/index.html",
                           contracts=queries.member_contracts(db.session, current_user.id))


@bp.get("/mon-contrat/<int:contract_id>")
@login_required
def detail(contract_id: int):
    """The contract, its beneficiaries and, for each, social security, tele-transmission and bank account."""
    page = queries.contract_page(db.session, current_user.id, contract_id, at=utcnow())
    if page is None:
        abort(404)
    return render_template("member/contracts/detail.html", page=page, contract=page.contract)


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
def contributions():
    """Cotisations: amount and schedule of an individual contract; the payslip sentence for a collective one."""
    return render_template("member/contracts/contributions.html",
                           schedules=queries.contribution_schedules(db.session, current_user.id),
                           today=local_today(utcnow()), money=lambda cents: money(cents, current_language()),
                           status_labels={s.value: translate(queries.contribution_label(s))
                                          for s in ContributionStatus})


@bp.get("/coordonnees-bancaires")
@login_required
def bank_details():
    """Coordonnées bancaires: the account of the member and of each beneficiary, masked; the change request."""
    return render_template("member/contracts/bank_details.html",
                           people=queries.family_people(db.session, current_user.id, at=utcnow(),
                                                        teletransmission=False),
                           changes=queries.open_bank_changes(db.session, current_user.id))
