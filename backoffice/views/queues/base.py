"""What every request queue of the back office shares: list and filters, the next request, one request's page
with its member, files, messages and history, and the actions every type has (take, give back, reassign,
ask the member, reject). Each type's view adds only its own columns and actions.

The rules (who sees what, which action is allowed when) live in models.requests; a view parses the form,
calls one use case, commits once and redirects.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from datetime import timedelta

from flask import abort, flash, has_request_context, redirect, request, send_file
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from markupsafe import Markup
from sqlalchemy import func, select

from models.audit.operations import record
from models.base import utcnow
from models.errors import DomainError
from models.files.storage import read_bytes
from models.outbox.console import messages_for_request
from models.requests import operations, queries
from models.requests.entities import OPEN_STATUSES, RUNNING_STATUSES, Action, RequestStatus
from models.requests.workflow import allowed_actions, history, local_today
from models.staff.entities import StaffUser
from web import client_ip

from ...extensions import db
from ..base import StaffIndexView, StaffModelView, current_staff, primary_key
from ..outbox import CHANNEL_LABELS
from ..outbox import STATUS_LABELS as OUTBOX_STATUS_LABELS

#: Labels for staff (RequestStatus.label speaks to the member: "En attente de votre part").
STATUS_LABELS = {
    RequestStatus.NEW: "Nouvelle",
    RequestStatus.IN_PROGRESS: "En cours de traitement",
    RequestStatus.WAITING_MEMBER: "En attente de l'adhérent",
    RequestStatus.DONE: "Traitée",
    RequestStatus.REJECTED: "Refusée",
}
STATUS_OPTIONS = (
    [("open", "Ouvertes (nouvelles, en cours, en attente)")]
    + [(status.value, label) for status, label in STATUS_LABELS.items()]
    + [("all", "Toutes")]
)
#: Files staff may view in the browser; anything else is only offered as a download.
INLINE_TYPES = {"application/pdf", "image/jpeg", "image/png"}
#: The served file may show itself, never run anything (a PDF's scripts, an SVG, HTML sniffed from bytes).
FILE_POLICY = ("default-src 'none'; script-src 'none'; object-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
               "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class StatusFilter(BaseSQLAFilter):
    """Status picked from a list: SQL equality (or IN for the open statuses), served by the queue index."""

    def __init__(self, column, name: str = "Statut"):
        super().__init__(column, name, options=STATUS_OPTIONS)

    def validate(self, value) -> bool:
        return value in {key for key, _label in STATUS_OPTIONS}

    def apply(self, query, value, alias=None):
        if value == "open":
            return query.filter(queries.status_in(self.column.class_, OPEN_STATUSES))
        if value == "all":
            return query
        return query.filter(self.column == RequestStatus(value))

    @staticmethod
    def statuses(value: str) -> frozenset[RequestStatus] | None:
        """The statuses a value of the filter keeps (None: all)."""
        if value == "open":
            return frozenset(OPEN_STATUSES)
        if value == "all":
            return None
        return frozenset({RequestStatus(value)})

    def operation(self) -> str:
        return "est"


class DueFilter(BaseSQLAFilter):
    """Échéance: late, due today, due within a week (a request waiting for the member has its clock paused)."""

    OPTIONS = [("overdue", "En retard"), ("today", "À traiter aujourd'hui"), ("week", "Dans les 7 jours")]

    def __init__(self, model):
        super().__init__(model.due_on, "Échéance", options=self.OPTIONS)
        self.model = model

    def validate(self, value) -> bool:
        return value in dict(self.OPTIONS)

    def apply(self, query, value, alias=None):
        today = local_today(utcnow())
        query = query.filter(queries.status_in(self.model, RUNNING_STATUSES))
        if value == "overdue":
            return query.filter(self.column < today)
        if value == "today":
            return query.filter(self.column == today)
        return query.filter(self.column <= today + timedelta(days=7))

    def operation(self) -> str:
        return "est"


class AssigneeFilter(BaseSQLAFilter):
    """Agent: me, nobody, or a given staff member."""

    def __init__(self, model):
        super().__init__(model.assigned_to_id, "Agent", options=self._options)

    @staticmethod
    def _options() -> list[tuple[str, str]]:
        fixed = [("me", "Moi"), ("none", "Personne")]
        if not has_request_context():  # options are also read once when the view is registered
            return fixed
        return fixed + [(str(s.id), s.full_name) for s in queries.active_staff(db.session)]

    def validate(self, value) -> bool:
        return value in ("me", "none") or primary_key(value) is not None

    def apply(self, query, value, alias=None):
        if value == "me":
            return query.filter(self.column == current_staff().id)
        if value == "none":
            return query.filter(self.column.is_(None))
        return query.filter(self.column == primary_key(value))

    def operation(self) -> str:
        return "est"


class ChoiceFilter(BaseSQLAFilter):
    """Equality on a foreign key picked from a staff-managed list (document type, contact reason)."""

    def __init__(self, column, name: str, options: Callable[[], list[tuple[str, str]]]):
        super().__init__(column, name, options=lambda: options() if has_request_context() else [])

    def validate(self, value) -> bool:
        return primary_key(value) is not None

    def apply(self, query, value, alias=None):
        return query.filter(self.column == primary_key(value))

    def operation(self) -> str:
        return "est"


def status_label(view, context, model, name) -> str:
    return view.status_names[model.status]


def due_cell(view, context, model, name):
    """The due date; late requests stand out (a request waiting for the member is paused, never late)."""
    text = model.due_on.strftime("%d/%m/%Y")  # digits and slashes only: nothing to escape
    if model.status in RUNNING_STATUSES and model.due_on < local_today(utcnow()):
        return Markup(f'<strong class="text-danger">{text} (en retard)</strong>')
    if model.status is RequestStatus.WAITING_MEMBER:
        return Markup(f'{text} <span class="text-muted">(suspendue)</span>')
    return text


class RequestQueueView(StaffModelView):
    """One queue of requests: list, "Prendre la demande suivante", a request's page and the shared actions."""

    holds_member_data = True
    can_create = False
    can_edit = False
    simple_list_pager = True
    list_template = "backoffice/queues/list.html"
    details_template = "backoffice/queues/details.html"
    #: Template of the type's own actions and details, included in the request's page.
    type_template: str = ""
    #: Label of a request of this type in messages ("La demande ... vous est attribuée").
    column_default_sort = [("created_at", False), ("id", False)]
    column_searchable_list = ["reference"]
    column_sortable_list = ["reference", "due_on"]
    column_formatters = {"status": status_label, "due_on": due_cell,
                         "member": lambda v, c, m, n: m.member.full_name}
    column_formatters_export = {"status": status_label}
    #: Labels shared by every queue; a type adds its own.
    common_labels = {
        "reference": "Référence", "member.number": "N° adhérent", "member": "Adhérent", "beneficiary": "Bénéficiaire",
        "status": "Statut", "due_on": "Échéance", "assigned_to": "Agent", "created_at": "Reçue le",
        "claimed_at": "Prise en charge le", "closed_at": "Clôturée le", "resolution_note": "Motif communiqué",
    }
    type_labels: dict[str, str] = {}
    #: What "done" means for this type ("Acceptée" for a coverage request).
    done_label = "Traitée"

    def __init__(self, model, session, **kwargs):
        self.status_names = {**STATUS_LABELS, RequestStatus.DONE: self.done_label}
        self.column_labels = {**self.common_labels, **self.type_labels}
        self.list_load_only = (*self.common_load_only, *self.type_load_only)
        self.list_related = {**self.common_related, **self.type_related}
        self.column_filters = [StatusFilter(model.status), DueFilter(model), AssigneeFilter(model),
                               *self.type_filters(model)]
        super().__init__(model, session, **kwargs)

    def type_filters(self, model) -> list:
        """Filters of the type (document type, contact reason...)."""
        return []

    report_kind = "requests"

    def report_args(self) -> dict[str, str]:
        return {"kind": "requests", "request_types": self.model.kind}

    # -- rows ------------------------------------------------------------------------------
    #: What a row of every queue reads: its own columns and, joined, a few columns of its member, beneficiary
    #: and agent (never a whole member row: no NIR is decrypted for a list). A type adds its own.
    common_load_only = ("reference", "status", "due_on", "created_at", "member_id", "assigned_to_id")
    type_load_only: tuple[str, ...] = ()
    common_related = {"member": ("number", "first_name", "last_name"), "assigned_to": ("full_name",)}
    type_related: dict[str, tuple[str, ...]] = {"beneficiary": ("first_name", "last_name")}

    def scope(self, query):
        """Agents see the open requests and those they handled; managers and admins see all."""
        return queries.visible_to(query, self.model, current_staff())

    def list_parts(self, query, filters) -> list:
        # The agent's scope as parts the indexes serve (models.requests.queries.visible_parts).
        status = next((value for index, _name, value in filters or () if index == 0), None)
        statuses = StatusFilter.statuses(status) if status else None
        return [query.filter(part) for part in queries.visible_parts(self.model, current_staff(), statuses)]

    def search_placeholder(self) -> str:
        return f"Référence ({self.model.reference_prefix}-2026-000123) ou n° d'adhérent"

    def _apply_search(self, query, count_query, joins, count_joins, search):
        # An exact reference or member number, each through its unique index; never ILIKE '%…%'.
        condition = queries.reference_or_member(self.model, search)
        query = query.filter(condition)
        if count_query is not None:
            count_query = count_query.filter(condition)
        return query, count_query, joins, count_joins

    #: Seconds the options of the filters (staff, types, reasons) are kept before being read again.
    filter_options_seconds = 30

    def _get_filter_groups(self):
        # Lists of staff, types and reasons change while the app runs: read again now and then, not per page.
        now = time.monotonic()
        if now - getattr(self, "_filters_read_at", -1e9) > self.filter_options_seconds:
            self._refresh_filters_cache()
            self._filters_read_at = now
        return super()._get_filter_groups()

    def _get_list_filter_args(self):
        filters = super()._get_list_filter_args()
        if filters or any(k.startswith("flt") and v for k, v in request.args.items()) or request.args.get("search"):
            return filters
        # By default the queue shows open requests only: a narrow, indexed list.
        return [(0, str(self._filters[0].name), "open")]

    # -- one request's page ----------------------------------------------------------------
    def details_extra(self, model) -> dict:
        me = current_staff()
        events = history(db.session, model)
        messages = queries.request_messages(db.session, model)
        actions = allowed_actions(model, me)
        return {
            "history": events,
            "staff_names": queries.staff_names(db.session, [*events, *messages]),
            "member_messages": messages,
            "files": queries.request_files(db.session, model),
            "messages": messages_for_request(db.session, model),
            "actions": actions,
            "Action": Action,
            "staff_choices": queries.active_staff(db.session) if Action.REASSIGN in actions else [],
            "status_labels": self.status_names,
            "channel_labels": CHANNEL_LABELS,
            "outbox_status_labels": OUTBOX_STATUS_LABELS,
            "inline_types": INLINE_TYPES,
            "type_template": self.type_template,
            "today": local_today(utcnow()),
            **self.type_extra(model),
        }

    def type_extra(self, model) -> dict:
        """More arguments of the type's part of the request page."""
        return {}

    @expose("/<int:request_id>/fichiers/<int:file_id>")
    def file(self, request_id: int, file_id: int):
        """A file of a request, for signed-in staff only: shown by the browser, never run, audited."""
        item = self.get_one(request_id)
        stored = queries.request_file(db.session, item, file_id) if item is not None else None
        if stored is None:
            abort(404)
        data = read_bytes(stored)
        self.audit("backoffice.file_viewed", item, view=self.endpoint, file_id=stored.id)
        db.session.commit()
        inline = stored.content_type in INLINE_TYPES
        response = send_file(io.BytesIO(data), mimetype=stored.content_type if inline else "application/octet-stream",
                             as_attachment=not inline, download_name=stored.filename, max_age=0)
        response.headers["Content-Security-Policy"] = FILE_POLICY
        return response

    # -- acting on one request -------------------------------------------------------------
    def act_on(self, request_id: int, operation: Callable, done: str):
        """Lock the request, run ``operation(request, staff, now)`` (a use case), commit once, say what happened."""
        item = self.get_for_update(request_id)
        if item is None:
            abort(404)
        reference = item.reference
        try:
            operation(item, current_staff(), utcnow())
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            db.session.commit()
            flash(done.format(reference=reference), "success")
        return redirect(self.get_url(".details_view", id=request_id))

    @expose("/suivante/", methods=("GET", "POST"))
    def take_next(self):
        """Prendre la demande suivante: the oldest new request, never the one a colleague is taking."""
        if request.method == "GET":
            waiting = db.session.scalar(select(func.count()).select_from(self.model)
                                        .where(self.model.status == RequestStatus.NEW))
            return self.render("backoffice/queues/take_next.html", waiting=waiting)
        item = operations.claim_next(db.session, self.model, staff=current_staff(), now=utcnow())
        if item is None:
            db.session.rollback()
            flash("Aucune nouvelle demande en attente.", "info")
            return redirect(self.get_url(".index_view"))
        request_id, reference = item.id, item.reference
        db.session.commit()
        flash(f"La demande {reference} vous est attribuée.", "success")
        return redirect(self.get_url(".details_view", id=request_id))

    @expose("/<int:request_id>/prendre/", methods=("POST",))
    def claim(self, request_id: int):
        return self.act_on(request_id, lambda item, me, now: operations.claim(db.session, item, staff=me, now=now),
                           "La demande {reference} vous est attribuée.")

    @expose("/<int:request_id>/remettre/", methods=("POST",))
    def release(self, request_id: int):
        return self.act_on(request_id, lambda item, me, now: operations.release(db.session, item, staff=me, now=now),
                           "La demande {reference} est remise dans la file.")

    @expose("/<int:request_id>/reattribuer/", methods=("POST",))
    def reassign(self, request_id: int):
        target = db.session.get(StaffUser, primary_key(request.form.get("staff_id", "")) or 0)

        def run(item, me, now):
            if target is None:
                raise DomainError("Choisissez la personne à qui attribuer la demande.", field="staff_id")
            operations.reassign(db.session, item, staff=me, to=target, now=now)
        return self.act_on(request_id, run, "La demande {reference} est réattribuée.")

    @expose("/<int:request_id>/question/", methods=("POST",))
    def ask_member(self, request_id: int):
        question = request.form.get("question", "")
        return self.act_on(
            request_id, lambda item, me, now: operations.ask_member(db.session, item, staff=me, question=question,
                                                                    now=now),
            "Question envoyée : la demande {reference} attend la réponse de l'adhérent.")

    @expose("/<int:request_id>/refuser/", methods=("POST",))
    def reject(self, request_id: int):
        reason = request.form.get("reason", "")
        return self.act_on(request_id, lambda item, me, now: self.reject_operation(item, me, reason, now),
                           "Demande {reference} refusée : l'adhérent est informé du motif.")

    def reject_operation(self, item, staff, reason: str, now) -> None:
        """The type's refusal use case (the coverage queue has its own)."""
        operations.reject(db.session, item, staff=staff, reason=reason, now=now)

    @expose("/<int:request_id>/terminer/", methods=("POST",))
    def close(self, request_id: int):
        return self.act_on(request_id, self.close_operation, "Demande {reference} traitée : l'adhérent est informé.")

    def close_operation(self, item, staff, now) -> None:
        """The type's "done" use case."""
        operations.close(db.session, item, staff=staff, now=now)

    # -- several requests at once (list actions) -------------------------------------------
    def act_on_many(self, ids, operation: Callable, done: str) -> None:
        """Run ``operation(request, staff, now)`` on each ticked request; report refused ones, apply the others."""
        count, errors = 0, []
        for request_id in self.action_ids(ids):
            item = self.get_for_update(request_id)
            if item is None:
                continue
            try:
                with db.session.begin_nested():
                    operation(item, current_staff(), utcnow())
            except DomainError as exc:
                errors.append(f"{item.reference} : {exc.message}")
            else:
                count += 1
        db.session.commit()
        if count:
            flash(done.format(count=count), "success")
        for error in errors:
            flash(error, "error")

    @action("release", "Remettre dans la file", "Remettre les demandes sélectionnées dans la file ?")
    def action_release(self, ids):
        self.act_on_many(ids, lambda item, me, now: operations.release(db.session, item, staff=me, now=now),
                         "{count} demande(s) remise(s) dans la file.")


class QueuesHomeView(StaffIndexView):
    """Home page of the back office: every queue's new, in progress, due today and late requests, and mine."""

    @expose()
    def index(self):
        me, today = current_staff(), local_today(utcnow())
        queues = [(view, queries.queue_overview(db.session, view.model, staff=me, today=today))
                  for view in self.admin._views if isinstance(view, RequestQueueView)]
        response = self.render(self._template, queues=queues, today=today)
        mine = sum(len(overview.mine) for _view, overview in queues)
        if mine:  # "Mes demandes en cours" shows members' requests: a list read, audited like the others
            record(db.session, "backoffice.listed", actor_type="staff", actor_id=me.id, ip=client_ip(), now=utcnow(),
                   view="admin", search=None, filters=[], page=0, rows=mine)
            db.session.commit()
        return response
