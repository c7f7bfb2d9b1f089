"""The queue of hospital coverage requests: accept (the letter goes to the hospital) or reject."""

from __future__ import annotations

from flask_admin import expose
from flask_admin.actions import action

from models.requests.entities import HospitalCoverageRequest
from models.requests.hospital_coverage import approve_hospital_coverage, reject_hospital_coverage

from ...extensions import db
from .base import RequestQueueView


class HospitalCoverageQueueView(RequestQueueView):
    """Prises en charge hospitalières: agents take, accept, reject or release requests."""

    type_template = "backoffice/queues/_hospital_coverage.html"
    done_label = "Acceptée"
    column_list = ["reference", "member.number", "beneficiary", "establishment_name", "start_on", "status",
                   "due_on", "assigned_to"]
    column_details_list = ["reference", "status", "created_at", "due_on", "member.number", "member",
                           "beneficiary", "establishment_name", "finess", "start_on", "admission_fax",
                           "admission_email", "no_coverage_notice_shown", "assigned_to", "claimed_at", "closed_at",
                           "resolution_note"]
    column_export_list = ["reference", "created_at", "member.number", "beneficiary", "establishment_name", "finess",
                          "start_on", "status", "due_on", "assigned_to", "closed_at"]
    type_labels = {
        "beneficiary": "Patient", "establishment_name": "Établissement", "finess": "N° FINESS",
        "start_on": "Date d'entrée", "admission_fax": "Fax du service des admissions",
        "admission_email": "E-mail du service des admissions",
        "no_coverage_notice_shown": "Avertissement « pas de prise en charge nécessaire » affiché",
    }
    column_sortable_list = ["reference", "start_on", "due_on"]
    type_load_only = ("beneficiary_id", "establishment_name", "start_on")

    def __init__(self, session, **kwargs):
        super().__init__(HospitalCoverageRequest, session, **kwargs)

    def reject_operation(self, item, staff, reason: str, now) -> None:
        reject_hospital_coverage(db.session, item, staff=staff, reason=reason, now=now)

    @expose("/<int:request_id>/accepter/", methods=("POST",))
    def approve(self, request_id: int):
        return self.act_on(
            request_id, lambda item, me, now: approve_hospital_coverage(db.session, item, staff=me, now=now),
            "Demande {reference} acceptée : la prise en charge part à l'établissement.")

    @action("approve", "Accepter", "Accepter les demandes sélectionnées ? La prise en charge partira "
                                   "à chaque établissement.")
    def action_approve(self, ids):
        self.act_on_many(ids, lambda item, me, now: approve_hospital_coverage(db.session, item, staff=me, now=now),
                         "{count} demande(s) acceptée(s).")
