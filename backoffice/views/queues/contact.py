"""The queue of messages sent with "Contacter la mutuelle": reply by e-mail (read in Mes demandes), done."""

from __future__ import annotations

from flask import request
from flask_admin import expose
from sqlalchemy import select

from models.content.entities import ContactReason
from models.content.queries import contact_reasons
from models.requests import operations
from models.requests.entities import ContactRequest

from ...extensions import db
from .base import ChoiceFilter, RequestQueueView


def _reasons() -> list[tuple[str, str]]:
    return [(str(r.id), r.name)
            for r in db.session.scalars(select(ContactReason).order_by(ContactReason.position, ContactReason.id))]


class ContactQueueView(RequestQueueView):
    """Messages des adhérents: the agent replies, then marks the request done."""

    type_template = "backoffice/queues/_contact.html"
    column_list = ["reference", "member.number", "beneficiary", "reason", "status", "due_on", "assigned_to"]
    column_details_list = ["reference", "status", "created_at", "due_on", "member.number", "member", "beneficiary",
                           "reason", "message", "assigned_to", "claimed_at", "closed_at"]
    column_export_list = ["reference", "created_at", "member.number", "reason", "status", "due_on", "assigned_to",
                          "closed_at"]
    type_labels = {"reason": "Motif", "message": "Message de l'adhérent"}
    type_load_only = ("beneficiary_id", "reason_id")
    type_related = {"beneficiary": ("first_name", "last_name"), "reason": ("name",)}

    def __init__(self, session, **kwargs):
        super().__init__(ContactRequest, session, **kwargs)

    def type_filters(self, model) -> list:
        return [ChoiceFilter(model.reason_id, "Motif", _reasons)]

    def type_extra(self, model) -> dict:
        return {"reasons": contact_reasons(db.session)}

    @expose("/<int:request_id>/repondre/", methods=("POST",))
    def reply(self, request_id: int):
        text = request.form.get("text", "")
        return self.act_on(request_id,
                           lambda item, me, now: operations.reply(db.session, item, staff=me, text=text, now=now),
                           "Réponse envoyée : l'adhérent la lit dans « Mes demandes ».")
