"""The audit trail, read-only, for managers and admins."""

from __future__ import annotations

from flask_admin.contrib.sqla.filters import FilterEqual

from models.audit.entities import AuditEvent

from .base import SUPERVISORS, IdFilter, StaffModelView


class AuditEventView(StaffModelView):
    """Journal d'audit: who did what to which record, when and from where."""

    allowed_roles = SUPERVISORS
    #: The trail names members and their addresses: reading it is audited like any list of member data.
    holds_member_data = True
    can_create = False
    can_edit = False
    report_kind = "audit"
    can_view_details = False
    simple_list_pager = True
    column_list = ["at", "actor_type", "actor_id", "action", "subject_type", "subject_id", "member_id", "ip",
                   "details"]
    column_labels = {"at": "Date", "actor_type": "Auteur", "actor_id": "Auteur (id)", "action": "Action",
                     "subject_type": "Objet", "subject_id": "Objet (id)", "member_id": "Adhérent (id)", "ip": "IP",
                     "details": "Détails"}
    # Newest first; each filter has an index in this order (models.audit.entities).
    column_default_sort = [("at", True), ("id", True)]
    column_sortable_list = ["at"]
    list_load_only = ("at", "actor_type", "actor_id", "action", "subject_type", "subject_id", "member_id", "ip",
                      "details")
    column_filters = [
        FilterEqual(AuditEvent.action, "Action"),
        IdFilter(AuditEvent.actor_id, "Auteur (id)"),
        IdFilter(AuditEvent.member_id, "Adhérent (id)"),
        FilterEqual(AuditEvent.subject_type, "Objet"),
    ]

    def __init__(self, session, **kwargs):
        super().__init__(AuditEvent, session, **kwargs)
