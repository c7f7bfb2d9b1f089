"""Exports for managers and admins: requests of every type, outbox deliveries and the audit trail, over any
period, as CSV streamed from the database or XLSX built by a job; the list of one's exports and their links."""

from __future__ import annotations

from flask import Response, abort, flash, jsonify, redirect, request, send_file, stream_with_context
from flask_admin import expose
from markupsafe import Markup
from redis.exceptions import RedisError
from wtforms import DateField, Form, RadioField, SelectMultipleField, StringField, widgets

from jobs.exports import enqueue_export
from models.base import utcnow
from models.errors import DomainError
from models.reports import operations
from models.reports.entities import ExportJob, ExportStatus
from models.reports.queries import (
    CHANNEL_LABELS, EXPORT_KINDS, OUTBOX_STATUS_LABELS, REQUEST_STATUS_LABELS, REQUEST_TYPE_LABELS, ExportFilters,
    export_query, first_request_day, stream_csv,
)
from models.requests.workflow import local_today
from web import client_ip

from ..extensions import current_config, db
from .base import SUPERVISORS, StaffBaseView, StaffModelView, current_staff, datetime_fr

STATUS_TEXT = {ExportStatus.QUEUED: "En attente", ExportStatus.RUNNING: "En cours",
               ExportStatus.DONE: "Prêt", ExportStatus.FAILED: "Échec"}


class CheckboxesField(SelectMultipleField):
    """Several choices ticked in a list of checkboxes."""

    widget = widgets.ListWidget(prefix_label=False)
    option_widget = widgets.CheckboxInput()


class ExportForm(Form):
    """What to export, over which period, in which format (checked by models.reports.operations)."""

    kind = RadioField("Données", choices=list(EXPORT_KINDS.items()), default="requests")
    start = DateField("Du", format="%Y-%m-%d", render_kw={"type": "date"})
    end = DateField("Au (inclus)", format="%Y-%m-%d", render_kw={"type": "date"})
    request_types = CheckboxesField("Types de demande", choices=list(REQUEST_TYPE_LABELS.items()))
    request_statuses = CheckboxesField("Statuts des demandes",
                                       choices=[(s.value, label) for s, label in REQUEST_STATUS_LABELS.items()])
    channels = CheckboxesField("Canaux", choices=[(c.value, label) for c, label in CHANNEL_LABELS.items()])
    outbox_statuses = CheckboxesField("États des envois",
                                      choices=[(s.value, label) for s, label in OUTBOX_STATUS_LABELS.items()])
    action = StringField("Action (journal d'audit)", render_kw={"placeholder": "backoffice.viewed"})
    export_format = RadioField("Format", choices=[("csv", "CSV (immédiat)"),
                                                  ("xlsx", "XLSX (préparé en arrière-plan)")], default="csv")


def _filters(form: ExportForm) -> ExportFilters:
    kind = form.kind.data
    types = {"requests": form.request_types.data, "outbox": form.channels.data,
             "audit": [form.action.data] if form.action.data else []}.get(kind) or []
    statuses = {"requests": form.request_statuses.data, "outbox": form.outbox_statuses.data}.get(kind) or []
    return operations.parse_filters(kind, form.start.raw_data[0] if form.start.raw_data else None,
                                    form.end.raw_data[0] if form.end.raw_data else None, list(types),
                                    list(statuses), today=local_today(utcnow()))


class ExportView(StaffBaseView):
    """Exports (managers and admins): the form, the CSV stream, the XLSX job's page and its download."""

    allowed_roles = SUPERVISORS

    @expose("/", methods=("GET", "POST"))
    def index(self):
        form = ExportForm(request.form if request.method == "POST" else request.args)
        if request.method == "GET":
            return self.render("backoffice/reports/export.html", form=form, error=None)
        try:
            filters = _filters(form)
            if form.export_format.data not in operations.FORMATS:
                raise DomainError("Choisissez le format.", field="export_format")
        except DomainError as exc:
            field = getattr(form, {"types": "request_types", "statuses": "request_statuses"}.get(exc.field, exc.field
                                                                                                  or ""), None)
            if field is not None:
                field.errors = [exc.message]
            return self.render("backoffice/reports/export.html", form=form, error=exc.message), 400
        if form.export_format.data == "csv":
            return self._csv(filters)
        return self._xlsx(filters)

    def _csv(self, filters: ExportFilters):
        me, now = current_staff(), utcnow()
        operations.record_export(db.session, me, filters, export_format="csv", now=now, ip=client_ip())
        engine = db.engine
        query = export_query(filters, postgresql=engine.dialect.name == "postgresql", today=local_today(now),
                             first_day=first_request_day(db.session) if filters.kind == "requests" else None)
        db.session.commit()
        response = Response(stream_with_context(stream_csv(engine, query)), mimetype="text/csv")
        response.headers["Content-Disposition"] = f'attachment; filename="{filters.file_name("csv")}"'
        response.headers["X-Accel-Buffering"] = "no"  # a reverse proxy passes chunks on as they come
        return response

    def _xlsx(self, filters: ExportFilters):
        config = current_config()
        job = operations.request_export(db.session, current_staff(), filters, now=utcnow(),
                                        link_hours=config.export_link_hours, ip=client_ip())
        job_id = job.id
        db.session.commit()
        try:
            enqueue_export(config.jobs, config.models, job_id, timeout=config.export_job_timeout)
        except RedisError:
            job = db.session.get(ExportJob, job_id)
            job.status, job.error = ExportStatus.FAILED, "Le service des exports ne répond pas : réessayez plus tard."
            db.session.commit()
        flash("L'export est en préparation : le lien de téléchargement apparaît ici dès qu'il est prêt.", "info")
        return redirect(self.get_url(".job", job_id=job_id))

    def _own(self, job_id: int) -> ExportJob:
        job = operations.staff_export(db.session, current_staff(), job_id)
        if job is None:
            abort(404)
        return job

    @expose("/<int:job_id>/")
    def job(self, job_id: int):
        """An XLSX export: its progress (updated by js/export-progress.js) and, once ready, its link."""
        job = self._own(job_id)
        return self.render("backoffice/reports/job.html", job=job, status_text=STATUS_TEXT,
                           expired=job.expired(utcnow()), kinds=EXPORT_KINDS)

    @expose("/<int:job_id>/etat")
    def job_state(self, job_id: int):
        """The progress of an export, as JSON for the page that shows it."""
        job = self._own(job_id)
        ready = job.status is ExportStatus.DONE and not job.expired(utcnow())
        return jsonify(status=job.status.value, text=STATUS_TEXT[job.status], progress=job.progress,
                       rows_done=job.rows_done, rows_total=job.rows_total,
                       download=self.get_url(".download", job_id=job.id) if ready else None)

    @expose("/<int:job_id>/fichier")
    def download(self, job_id: int):
        """The file of an export, for the person who asked for it, until its link expires (then 410)."""
        job = self._own(job_id)
        try:
            path = operations.download_export(db.session, current_staff(), job, now=utcnow(), ip=client_ip())
        except DomainError as exc:
            db.session.commit()  # the refusal is audited
            expired = job.expired(utcnow())
            return self.render("backoffice/reports/job.html", job=job, status_text=STATUS_TEXT, expired=expired,
                               kinds=EXPORT_KINDS, error=exc.message), 410 if expired else 409
        db.session.commit()
        return send_file(path, as_attachment=True, download_name=job.download_name, max_age=0,
                         mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def _job_link(view, context, model, name):
    return Markup('<a href="{}">Voir l\'export n° {}</a>').format(view.get_url("exports.job", job_id=model.id),
                                                                  model.id)


def _describe(view, context, model, name) -> str:
    filters = ExportFilters.from_description(model.filters)
    period = " – ".join(d.strftime("%d/%m/%Y") for d in (filters.start, filters.end) if d) or "toute la période"
    narrowing = ", ".join([*filters.types, *filters.statuses])
    return f"{EXPORT_KINDS[filters.kind]}, {period}" + (f" ({narrowing})" if narrowing else "")


class ExportJobView(StaffModelView):
    """Mes exports: one's XLSX exports, newest first, with their state and the page of each."""

    allowed_roles = SUPERVISORS
    exportable = False
    can_create = can_edit = can_view_details = False
    column_display_actions = False
    simple_list_pager = True
    column_list = ["id", "created_at", "filters", "status", "rows_done", "expires_at"]
    column_labels = {"id": "Export", "created_at": "Demandé le", "filters": "Contenu", "status": "État",
                     "rows_done": "Lignes écrites", "expires_at": "Lien valable jusqu'au"}
    column_formatters = {"id": _job_link, "filters": _describe, "status": lambda v, c, m, n: STATUS_TEXT[m.status],
                         "expires_at": lambda v, c, m, n: datetime_fr(m.expires_at)}
    column_default_sort = [("id", True)]
    column_sortable_list = []
    list_load_only = ("created_at", "filters", "status", "rows_done", "expires_at")

    def __init__(self, session, **kwargs):
        super().__init__(ExportJob, session, **kwargs)

    def scope(self, query):
        """Each one sees only the exports they asked for."""
        return query.filter(ExportJob.requested_by_id == current_staff().id)

