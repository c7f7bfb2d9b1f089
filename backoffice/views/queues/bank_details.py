"""The queue of bank-details changes, four eyes: the agent who checks the RIB proposes, a manager approves."""

from __future__ import annotations

from datetime import date

from flask import request
from flask_admin import expose
from flask_admin.contrib.sqla.filters import BaseSQLAFilter

from models.requests.bank_details import (
    approve_bank_change, current_bank_account, propose_bank_change, return_bank_change,
)
from models.requests.entities import OPEN_STATUSES, BankDetailChangeRequest

from ...extensions import db
from .base import RequestQueueView


def _iban_cell(view, context, model, name) -> str:
    return model.masked_iban


def _proposal_cell(view, context, model, name) -> str:
    if model.awaiting_approval:
        return f"À valider (proposé par {model.proposed_by.full_name})"
    return model.proposed_by.full_name if model.proposed_by else ""


class AwaitingApprovalFilter(BaseSQLAFilter):
    """Validation: the changes proposed by an agent that wait for a second person."""

    def __init__(self, model):
        super().__init__(model.proposed_by_id, "Validation", options=[("waiting", "À valider")])
        self.model = model

    def validate(self, value) -> bool:
        return value == "waiting"

    def apply(self, query, value, alias=None):
        model = self.model
        return query.filter(model.status.in_(OPEN_STATUSES), model.proposed_by_id.isnot(None),
                            model.approved_by_id.is_(None))

    def operation(self) -> str:
        return "est"


class BankDetailsQueueView(RequestQueueView):
    """Changements de coordonnées bancaires: check the RIB, propose with a date; another person approves."""

    type_template = "backoffice/queues/_bank_details.html"
    done_label = "Validée"
    column_list = ["reference", "member.number", "beneficiary", "holder", "iban", "status", "proposed_by", "due_on",
                   "assigned_to"]
    column_details_list = ["reference", "status", "created_at", "due_on", "member.number", "member", "beneficiary",
                           "holder", "iban", "bic", "confirmed_by", "assigned_to", "proposed_by", "proposed_at",
                           "effective_on", "approved_by", "approved_at", "closed_at", "resolution_note"]
    column_export_list = ["reference", "created_at", "member.number", "holder", "status", "proposed_by", "approved_by",
                          "effective_on", "closed_at"]
    type_labels = {"beneficiary": "Compte de", "holder": "Titulaire", "iban": "Nouvel IBAN", "bic": "BIC",
                   "confirmed_by": "Confirmé par l'adhérent avec", "proposed_by": "Proposé par",
                   "proposed_at": "Proposé le", "effective_on": "Date d'effet", "approved_by": "Validé par",
                   "approved_at": "Validé le"}
    type_load_only = ("beneficiary_id", "holder", "iban", "proposed_by_id", "approved_by_id")
    type_related = {"beneficiary": ("first_name", "last_name"), "proposed_by": ("full_name",)}

    def __init__(self, session, **kwargs):
        self.column_formatters = {**self.column_formatters, "iban": _iban_cell, "proposed_by": _proposal_cell,
                                  "beneficiary": lambda v, c, m, n: m.beneficiary.full_name if m.beneficiary
                                  else f"{m.member.full_name} (adhérent)",
                                  "confirmed_by": lambda v, c, m, n: {"sms": "un code SMS",
                                                                      "totp": "son application"}.get(m.confirmed_by)}
        super().__init__(BankDetailChangeRequest, session, **kwargs)

    def type_extra(self, model) -> dict:
        current = current_bank_account(db.session, model.member, model.beneficiary_id, model.created_at)
        return {"current_account": current, "awaiting": model.awaiting_approval}

    def type_filters(self, model) -> list:
        return [AwaitingApprovalFilter(model)]

    @expose("/<int:request_id>/proposer/", methods=("POST",))
    def propose(self, request_id: int):
        try:
            effective_on = date.fromisoformat(request.form.get("effective_on", ""))
        except ValueError:
            effective_on = None
        return self.act_on(
            request_id, lambda item, me, now: propose_bank_change(db.session, item, staff=me,
                                                                  effective_on=effective_on, now=now),
            "Changement proposé pour la demande {reference} : il attend la validation d'un responsable.")

    @expose("/<int:request_id>/valider/", methods=("POST",))
    def approve(self, request_id: int):
        return self.act_on(request_id,
                           lambda item, me, now: approve_bank_change(db.session, item, staff=me, now=now),
                           "Changement validé (demande {reference}) : le nouveau compte prend effet à sa date.")

    @expose("/<int:request_id>/renvoyer/", methods=("POST",))
    def send_back(self, request_id: int):
        note = request.form.get("note", "")
        return self.act_on(request_id,
                           lambda item, me, now: return_bank_change(db.session, item, staff=me, note=note, now=now),
                           "Proposition renvoyée à l'agent (demande {reference}).")
