"""The queue of tele-transmission requests: once set up with the fund, "done" activates it."""

from __future__ import annotations

from models.requests.entities import TeletransmissionRequest
from models.requests.teletransmission import activate_teletransmission

from ...extensions import db
from .base import RequestQueueView


class TeletransmissionQueueView(RequestQueueView):
    """Télétransmission: the agent checks the attestation, activates, asks or refuses."""

    type_template = "backoffice/queues/_teletransmission.html"
    done_label = "Activée"
    column_list = ["reference", "member.number", "beneficiary", "status", "due_on", "assigned_to"]
    column_details_list = ["reference", "status", "created_at", "due_on", "member.number", "member", "beneficiary",
                           "beneficiary.organism_number", "assigned_to", "claimed_at", "closed_at", "resolution_note"]
    column_export_list = ["reference", "created_at", "member.number", "beneficiary", "status", "due_on", "assigned_to",
                          "closed_at"]
    type_labels = {"beneficiary.organism_number": "N° Organisme de rattachement"}
    type_load_only = ("beneficiary_id",)

    def __init__(self, session, **kwargs):
        super().__init__(TeletransmissionRequest, session, **kwargs)

    def close_operation(self, item, staff, now) -> None:
        activate_teletransmission(db.session, item, staff=staff, now=now)
