"""The queue of documents sent by members: classify, ask the member, done, reject."""

from __future__ import annotations

from flask import request
from flask_admin import expose
from sqlalchemy import select

from models.content.entities import DocumentCategory, DocumentType
from models.content.queries import document_categories
from models.requests.documents import classify_documents
from models.requests.entities import DocumentSubmission

from ...extensions import db
from ..base import primary_key
from .base import ChoiceFilter, RequestQueueView


def _document_types() -> list[tuple[str, str]]:
    rows = db.session.execute(
        select(DocumentType.id, DocumentType.name, DocumentCategory.name).join(DocumentType.category)
        .order_by(DocumentCategory.position, DocumentType.position, DocumentType.id))
    return [(str(id_), f"{category} : {name}") for id_, name, category in rows]


class DocumentQueueView(RequestQueueView):
    """Dépôts de documents: the agent checks the files, corrects the classification, closes or asks."""

    type_template = "backoffice/queues/_documents.html"
    column_list = ["reference", "member.number", "beneficiary", "category", "document_type", "status", "due_on",
                   "assigned_to"]
    column_details_list = ["reference", "status", "created_at", "due_on", "member.number", "member", "beneficiary",
                           "category", "document_type", "comment", "assigned_to", "claimed_at", "closed_at",
                           "resolution_note"]
    column_export_list = ["reference", "created_at", "member.number", "category", "document_type", "status", "due_on",
                          "assigned_to", "closed_at"]
    type_labels = {"category": "Catégorie", "document_type": "Type de document", "comment": "Commentaire"}
    type_load_only = ("beneficiary_id", "category_id", "type_id")
    type_related = {"beneficiary": ("first_name", "last_name"), "category": ("name",), "document_type": ("name",)}

    def __init__(self, session, **kwargs):
        super().__init__(DocumentSubmission, session, **kwargs)

    def type_filters(self, model) -> list:
        return [ChoiceFilter(model.type_id, "Type de document", _document_types)]

    def type_extra(self, model) -> dict:
        return {"categories": document_categories(db.session)}

    @expose("/<int:request_id>/classer/", methods=("POST",))
    def classify(self, request_id: int):
        type_id = primary_key(request.form.get("type_id", ""))
        return self.act_on(
            request_id, lambda item, me, now: classify_documents(db.session, item, staff=me, type_id=type_id, now=now),
            "Classement de la demande {reference} enregistré.")
