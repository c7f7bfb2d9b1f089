"""The queue of hospital coverage requests: list, next request, details, approve, reject, release."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, flash, redirect, request
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from flask_login import current_user
from sqlalchemy import func, or_, select

from models.base import utcnow
from models.errors import DomainError
from models.outbox.console import messages_for_request
from models.requests.entities import OPEN_STATUSES, HospitalCoverageRequest, RequestStatus
from models.requests.hospital_coverage import approve_hospital_coverage, reject_hospital_coverage
from models.requests.workflow import claim_next, history
from models.staff.entities import StaffRole
from models.staff.queue import SUPERVISORS, claim_request, release_request, staff_names

from ...extensions import db
from ..base import StaffModelView, current_staff
from ..outbox import CHANNEL_LABELS
from ..outbox import STATUS_LABELS as OUTBOX_STATUS_LABELS

#: Labels for staff (RequestStatus.label speaks to the member: "En attente de votre part").
STATUS_LABELS = {
    RequestStatus.NEW: "Nouvelle",
    RequestStatus.IN_PROGRESS: "En cours de traitement",
    RequestStatus.WAITING_MEMBER: "En attente de l'adhérent",
    RequestStatus.DONE: "Acceptée",
    RequestStatus.REJECTED: "Refusée",
}
STATUS_OPTIONS = (
    [("open", "Ouvertes (nouvelles, en cours, en attente)")]
    + [(status.value, label) for status, label in STATUS_LABELS.items()]
    + [("all", "Toutes")]
)
MAX_REASON_LENGTH = 2000


class StatusFilter(BaseSQLAFilter):
    """Status picked from a list: SQL equality (or IN for the open statuses), served by the queue index."""

    def __init__(self, column, name: str):
        super().__init__(column, name, options=STATUS_OPTIONS)

    def validate(self, value) -> bool:
        return value in {key for key, _label in STATUS_OPTIONS}

    def apply(self, query, value, alias=None):
        if value == "open":
            return query.filter(self.column.in_(OPEN_STATUSES))
        if value == "all":
            return query
        return query.filter(self.column == RequestStatus(value))

    def operation(self) -> str:
        return "est"


def _status_label(view, context, model, name) -> str:
    return STATUS_LABELS[model.status]


class HospitalCoverageQueueView(StaffModelView):
    """Prises en charge hospitalières: agents take, approve, reject or release requests."""

    holds_member_data = True
    can_create = False
    can_edit = False
    simple_list_pager = True
    list_template = "backoffice/queues/hospital_coverage_list.html"
    details_template = "backoffice/queues/hospital_coverage_details.html"

    column_list = ["reference", "member.number", "beneficiary", "establishment_name", "start_on", "status",
                   "due_on", "assigned_to"]
    column_details_list = ["reference", "status", "created_at", "due_on", "member.number", "member",
                           "beneficiary", "establishment_name", "finess", "start_on", "admission_fax",
                           "admission_email", "no_coverage_notice_shown", "assigned_to", "claimed_at", "closed_at",
                           "resolution_note"]
    column_export_list = ["reference", "created_at", "member.number", "beneficiary", "establishment_name", "finess",
                          "start_on", "status", "due_on", "assigned_to", "closed_at"]
    column_labels = {
        "reference": "Référence", "member.number": "N° adhérent", "member": "Adhérent", "beneficiary": "Patient",
        "establishment_name": "Établissement", "finess": "N° FINESS", "start_on": "Date d'entrée",
        "status": "Statut", "due_on": "Échéance", "assigned_to": "Agent", "created_at": "Reçue le",
        "admission_fax": "Fax du service des admissions", "admission_email": "E-mail du service des admissions",
        "no_coverage_notice_shown": "Avertissement « pas de prise en charge nécessaire » affiché",
        "claimed_at": "Prise en charge le", "closed_at": "Clôturée le", "resolution_note": "Motif communiqué",
    }
    column_formatters = {"status": _status_label, "member": lambda v, c, m, n: m.member.full_name}
    column_formatters_export = {"status": _status_label}
    column_sortable_list = ["reference", "start_on", "due_on"]
    # Oldest first, like the "next request" button; the (status, created_at, id) index serves it.
    column_default_sort = [("created_at", False), ("id", False)]
    column_searchable_list = ["reference"]
    column_select_related_list = [HospitalCoverageRequest.member, HospitalCoverageRequest.beneficiary,
                                  HospitalCoverageRequest.assigned_to]

    def __init__(self, session, **kwargs):
        self.column_filters = [StatusFilter(HospitalCoverageRequest.status, "Statut")]
        super().__init__(HospitalCoverageRequest, session, **kwargs)

    # -- rows ------------------------------------------------------------------------------
    def scope(self, query):
        """Agents see the open requests and those they handled; managers and admins see all."""
        if current_user.role is StaffRole.AGENT:
            model = self.model
            return query.filter(or_(model.status.in_(OPEN_STATUSES), model.assigned_to_id == current_user.id))
        return query

    def search_placeholder(self) -> str:
        return "Référence (PEC-2026-000123)"

    def _apply_search(self, query, count_query, joins, count_joins, search):
        # Exact reference through its unique index, never ILIKE '%…%' over the whole table.
        reference = search.strip().upper()
        query = query.filter(self.model.reference == reference)
        if count_query is not None:
            count_query = count_query.filter(self.model.reference == reference)
        return query, count_query, joins, count_joins

    def _get_list_filter_args(self):
        filters = super()._get_list_filter_args()
        if filters or any(k.startswith("flt") and v for k, v in request.args.items()) or request.args.get("search"):
            return filters
        # By default the queue shows open requests only: a narrow, indexed list.
        index = next(i for i, f in enumerate(self._filters) if isinstance(f, StatusFilter))
        return [(index, str(self._filters[index].name), "open")]

    # -- details ---------------------------------------------------------------------------
    def details_extra(self, model: HospitalCoverageRequest) -> dict:
        events = history(db.session, model)
        me = current_staff()
        mine = model.assigned_to_id == me.id
        return {
            "history": events,
            "staff_names": staff_names(db.session, events),
            "messages": messages_for_request(db.session, model),
            "can_claim": model.status is RequestStatus.NEW,
            "can_approve": model.status is RequestStatus.IN_PROGRESS and mine,
            "can_reject": model.status in (RequestStatus.IN_PROGRESS, RequestStatus.WAITING_MEMBER) and mine,
            "can_release": model.status is RequestStatus.IN_PROGRESS and (mine or me.role in SUPERVISORS),
            "max_reason_length": MAX_REASON_LENGTH,
            "status_labels": STATUS_LABELS,
            "channel_labels": CHANNEL_LABELS,
            "outbox_status_labels": OUTBOX_STATUS_LABELS,
        }

    # -- one request -----------------------------------------------------------------------
    def _act_on(self, request_id: int, operation: Callable[[HospitalCoverageRequest], str]):
        """Lock the request, run ``operation`` (a use case), commit once, say what happened."""
        item = self.get_for_update(request_id)
        if item is None:
            abort(404)
        try:
            message = operation(item)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash(message, "success")
        return redirect(self.get_url(".details_view", id=request_id))

    @expose("/suivante/", methods=("GET", "POST"))
    def take_next(self):
        """Prendre la demande suivante: the oldest new request, never the one a colleague is taking."""
        if request.method == "GET":
            waiting = db.session.scalar(select(func.count()).select_from(self.model)
                                        .where(self.model.status == RequestStatus.NEW))
            return self.render("backoffice/queues/take_next.html", waiting=waiting)
        item = claim_next(db.session, self.model, staff=current_staff(), now=utcnow())
        if item is None:
            db.session.rollback()
            flash("Aucune nouvelle demande en attente.", "info")
            return redirect(self.get_url(".index_view"))
        request_id = item.id
        reference = item.reference
        db.session.commit()
        flash(f"La demande {reference} vous est attribuée.", "success")
        return redirect(self.get_url(".details_view", id=request_id))

    @expose("/<int:request_id>/prendre/", methods=("POST",))
    def claim(self, request_id: int):
        def run(item):
            claim_request(db.session, item, staff=current_staff(), now=utcnow())
            return f"La demande {item.reference} vous est attribuée."
        return self._act_on(request_id, run)

    @expose("/<int:request_id>/accepter/", methods=("POST",))
    def approve(self, request_id: int):
        def run(item):
            approve_hospital_coverage(db.session, item, staff=current_staff(), now=utcnow())
            return f"Demande {item.reference} acceptée : la prise en charge part à l'établissement."
        return self._act_on(request_id, run)

    @expose("/<int:request_id>/refuser/", methods=("POST",))
    def reject(self, request_id: int):
        reason = request.form.get("reason", "")

        def run(item):
            if len(reason) > MAX_REASON_LENGTH:
                raise DomainError(f"Le motif ne doit pas dépasser {MAX_REASON_LENGTH} caractères.", field="reason")
            reject_hospital_coverage(db.session, item, staff=current_staff(), reason=reason, now=utcnow())
            return f"Demande {item.reference} refusée : l'adhérent est informé du motif."
        return self._act_on(request_id, run)

    @expose("/<int:request_id>/remettre/", methods=("POST",))
    def release(self, request_id: int):
        def run(item):
            release_request(db.session, item, staff=current_staff(), now=utcnow())
            return f"La demande {item.reference} est remise dans la file."
        return self._act_on(request_id, run)

    # -- several requests at once (list actions) -------------------------------------------
    def _act_on_many(self, ids, operation: Callable[[HospitalCoverageRequest], None], done: str) -> None:
        count, errors = 0, []
        for request_id in self.action_ids(ids):
            item = self.get_for_update(request_id)
            if item is None:
                continue
            try:
                with db.session.begin_nested():
                    operation(item)
            except DomainError as exc:
                errors.append(f"{item.reference} : {exc.message}")
            else:
                count += 1
        db.session.commit()
        if count:
            flash(done.format(count=count), "success")
        for error in errors:
            flash(error, "error")

    @action("approve", "Accepter", "Accepter les demandes sélectionnées ? La prise en charge partira "
                                   "à chaque établissement.")
    def action_approve(self, ids):
        self._act_on_many(ids, lambda item: approve_hospital_coverage(db.session, item, staff=current_staff(),
                                                                      now=utcnow()),
                          "{count} demande(s) acceptée(s).")

    @action("release", "Remettre dans la file", "Remettre les demandes sélectionnées dans la file ?")
    def action_release(self, ids):
        self._act_on_many(ids, lambda item: release_request(db.session, item, staff=current_staff(), now=utcnow()),
                          "{count} demande(s) remise(s) dans la file.")
