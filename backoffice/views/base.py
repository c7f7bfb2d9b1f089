"""The one place where back-office access is decided, with audit of member data and safe exports.

Every view of the back office inherits StaffModelView, StaffBaseView or StaffIndexView
(tests/backoffice/test_access.py walks ``admin._views`` to keep it so).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import abort, flash, g, redirect, request, url_for
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_admin.helpers import get_redirect_target, is_safe_url
from flask_admin.model import typefmt
from flask_admin.model.helpers import get_mdict_item_or_list
from flask_login import current_user
from sqlalchemy import asc, desc

from models.audit.operations import record
from models.base import utcnow
from models.errors import DomainError
from models.formats import PARIS, date_fr
from models.staff.entities import StaffRole, StaffUser
from web import client_ip

from ..auth.views import staff_signed_in
from ..extensions import current_config, db

ALL_STAFF = (StaffRole.AGENT, StaffRole.MANAGER, StaffRole.ADMIN)
SUPERVISORS = (StaffRole.MANAGER, StaffRole.ADMIN)
ADMINS = (StaffRole.ADMIN,)
#: A cell starting with one of these is a formula for Excel or LibreOffice (CSV/formula injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def current_staff() -> StaffUser:
    """The signed-in staff member (the real object, not Flask-Login's proxy)."""
    return current_user._get_current_object()


def formula_safe(value: Any) -> Any:
    """``value`` prefixed with a quote when a spreadsheet would run it as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def datetime_fr(value: datetime | None) -> str:
    """An instant as 31/12/2026 14:05, Paris time (empty for None)."""
    return value.astimezone(PARIS).strftime("%d/%m/%Y %H:%M") if value else ""


def _date_fr(view, value: date, *_args) -> str:
    return date_fr(value)


def _datetime_fr(view, value: datetime, *_args) -> str:
    return datetime_fr(value)


def _bool_fr(view, value: bool, *_args) -> str:
    return "Oui" if value else "Non"


MAX_ID = 2**31 - 1
#: Deepest page of a list one may ask for (further pages are answered 400, never a database error).
MAX_PAGE = 100_000


def primary_key(value) -> int | None:
    """``value`` as a row id (1 to 2**31-1, the INTEGER range), or None when it cannot be one."""
    text = str(value)
    if not text.isascii() or not text.isdigit():
        return None
    pk = int(text)
    return pk if 0 < pk <= MAX_ID else None


def _clip(value: Any, limit: int = 100) -> str:
    return str(value)[:limit]


def record_refusal(reason: str, **details) -> None:
    """Audit a refused access by the signed-in staff member, in its own transaction (kept whatever follows)."""
    with db.sessionmaker() as audit_session:
        record(audit_session, "backoffice.refused", actor_type="staff", actor_id=current_user.id, ip=client_ip(),
               now=utcnow(), reason=reason, endpoint=request.endpoint, method=request.method, **details)
        audit_session.commit()


class ChoiceFilter(FilterEqual):
    """Equality with a value picked from ``options``; any other value is ignored (with a message), not queried."""

    def validate(self, value) -> bool:
        return value in {str(key) for key, _label in self.options or ()}


class IdFilter(FilterEqual):
    """Equality on an integer id column; a value that is no id (letters, out of range) is ignored."""

    def validate(self, value) -> bool:
        return primary_key(value) is not None

    def clean(self, value) -> int:
        return int(value)


class StaffAccessMixin:
    """Access rule of every back-office page: signed-in active staff, both factors, allowed role."""

    #: Roles that may open the view.
    allowed_roles: tuple[StaffRole, ...] = ALL_STAFF

    def is_accessible(self) -> bool:
        return staff_signed_in() and current_user.role in self.allowed_roles

    def inaccessible_callback(self, name, **kwargs):
        if not staff_signed_in():
            path = request.full_path.rstrip("?") if request.method == "GET" else None
            return redirect(url_for("auth.login", next=path))
        record_refusal("role", role=current_user.role.value)
        abort(403)


class StaffIndexView(StaffAccessMixin, AdminIndexView):
    """Home page of the back office (its content: backoffice.views.queues.base.QueuesHomeView)."""


class StaffBaseView(StaffAccessMixin, BaseView):
    """A back-office page that is not a list of records (reports, tools)."""


class StaffModelView(StaffAccessMixin, ModelView):
    """A list of records with the back office's rules.

    - rows a staff member may see are decided once, in ``scope()``, and applied by
      ``get_query``, ``get_count_query`` and ``get_one`` alike;
    - opening the details of a record holding member data writes an audit event;
    - exports are for managers and admins, capped by ``EXPORT_MAX_ROWS``, formula-safe and audited;
    - nothing is deleted from the back office unless a view says so.
    """

    #: Roles that may export the list (member data leaves the building: supervisors only).
    export_roles: tuple[StaffRole, ...] = SUPERVISORS
    #: Whether this list offers an export at all.
    exportable = True
    #: Whether the records show a member's personal data (audited on every details view).
    holds_member_data = False

    can_delete = False
    can_view_details = True
    export_types = ["csv", "xlsx"]
    page_size = 20
    column_default_sort = [("id", True)]
    column_display_actions = True
    column_type_formatters = {**typefmt.BASE_FORMATTERS, date: _date_fr, datetime: _datetime_fr, bool: _bool_fr}
    column_type_formatters_detail = column_type_formatters
    column_type_formatters_export = {**typefmt.EXPORT_FORMATTERS, date: _date_fr, datetime: _datetime_fr,
                                     bool: _bool_fr}

    # -- rows ------------------------------------------------------------------------------
    def scope(self, query):
        """Restrict ``query`` to the rows the current staff member may see (default: all)."""
        return query

    def get_query(self):
        return self.scope(super().get_query())

    def get_count_query(self):
        return self.scope(super().get_count_query())

    def get_one(self, id):
        pk = primary_key(id)
        found = None if pk is None else self.get_query().filter(self.model.id == pk).one_or_none()
        if found is None:
            record_refusal("not_found_or_out_of_scope", view=self.endpoint, record_id=_clip(id, 20))
        return found

    def get_for_update(self, id):
        """The record ``id`` if visible to the current staff member, locked until commit (or None)."""
        pk = primary_key(id)
        found = None if pk is None else (self.get_query().filter(self.model.id == pk)
                                         .with_for_update(of=self.model).populate_existing().one_or_none())
        if found is None:
            record_refusal("not_found_or_out_of_scope", view=self.endpoint, record_id=_clip(id, 20))
        return found

    # -- lists -----------------------------------------------------------------------------
    def _get_list_extra_args(self):
        args = super()._get_list_extra_args()
        if not 0 <= args.page <= MAX_PAGE or not 0 <= (args.page_size or 0) <= 1000:
            abort(400)
        return args

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        count, data = super().get_list(page, sort_column, sort_desc, search, filters, execute=execute,
                                       page_size=page_size)
        if execute and self.holds_member_data:
            g.member_data_listed = {"view": self.endpoint, "page": page, "search": _clip(search) if search else None,
                                    "filters": [[_clip(name), _clip(value)] for _idx, name, value in filters or []],
                                    "rows": len(data)}
        return count, data

    @expose("/")
    def index_view(self):
        response = super().index_view()
        listed = g.pop("member_data_listed", None)
        if listed is not None:  # one event per page view of member data: who, which view, filters, rows
            self.audit("backoffice.listed", **listed)
            db.session.commit()
        return response

    @expose("/action/", methods=("POST",))
    def action_view(self):
        # The page to come back to is checked before the action runs: never commit, then fail to redirect.
        target = request.form.get("url")
        if target is not None and not (target.isprintable() and len(target) <= 2000 and is_safe_url(target)):
            abort(400)
        return super().action_view()

    def _apply_sorting(self, query, joins, sort_column, sort_desc):
        query, joins = super()._apply_sorting(query, joins, sort_column, sort_desc)
        if sort_column is not None:
            # A stable page order needs a unique tiebreaker after the column the user chose.
            query = query.order_by(desc(self.model.id) if sort_desc else asc(self.model.id))
        return query, joins

    def _get_list_filter_args(self):
        # Flask-Admin's parsing of "flt<position>_<filter>=value", except that a field left empty means
        # "no filter": the filter form offers every filter at once (admin/model/layout.html).
        if not self._filters:
            return None
        filters = []
        for arg, value in request.args.items():
            if not arg.startswith("flt") or "_" not in arg or value == "":
                continue
            position, key = arg[3:].split("_", 1)
            if key in self._filter_args:
                index, flt = self._filter_args[key]
                if flt.validate(value):
                    filters.append((position, (index, str(flt.name), value)))
                else:
                    flash(self.get_invalid_value_msg(value, flt), "error")
        return [f for _position, f in sorted(filters, key=lambda f: f[0])]

    # -- details and audit -----------------------------------------------------------------
    #: Attributes that name a record in a page heading, the first one present wins.
    title_attributes = ("reference", "title", "full_name", "name", "label", "version")

    def record_title(self, model) -> str:
        """How the h1 of a details or edit page names ``model``."""
        for attribute in self.title_attributes:
            value = getattr(model, attribute, None)
            if value:
                return str(value)
        return f"n° {model.id}"

    def member_id_of(self, model) -> int | None:
        """The member whose data ``model`` shows, for the audit trail."""
        return getattr(model, "member_id", None)

    def audit(self, action: str, model=None, **details) -> None:
        """Add an audit event by the current staff member (the caller commits)."""
        record(db.session, action, actor_type="staff", actor_id=current_user.id, subject=model,
               member_id=self.member_id_of(model) if model is not None else None, ip=client_ip(), now=utcnow(),
               **details)

    def details_extra(self, model) -> dict[str, Any]:
        """More template arguments of the details page (history, messages...)."""
        return {}

    @expose("/details/")
    def details_view(self):
        return_url = get_redirect_target() or self.get_url(".index_view")
        if not self.can_view_details:
            return redirect(return_url)
        model = self.get_one(get_mdict_item_or_list(request.args, "id"))
        if model is None:
            flash("Cet enregistrement n'existe pas ou ne vous est pas accessible.", "error")
            return redirect(return_url)
        if self.holds_member_data:
            self.audit("backoffice.viewed", model, view=self.endpoint)
            db.session.commit()
        template = self.details_modal_template if self.details_modal and request.args.get("modal") \
            else self.details_template
        return self.render(template, model=model, details_columns=self._details_columns,
                           get_value=self.get_detail_value, return_url=return_url, **self.details_extra(model))

    # -- exports ---------------------------------------------------------------------------
    @property
    def can_export(self) -> bool:
        return self.exportable and staff_signed_in() and current_user.role in self.export_roles

    @property
    def export_max_rows(self) -> int:
        return current_config().export_max_rows

    def get_export_value(self, model, name):
        return formula_safe(super().get_export_value(model, name))

    @expose("/export/<export_type>/")
    def export(self, export_type: str):
        if self.can_export and export_type in self.export_types:
            self.audit("backoffice.exported", view=self.endpoint, format=export_type,
                       filters=sorted(k for k in request.args if k.startswith("flt")),
                       search=bool(request.args.get("search")))
            db.session.commit()
        return super().export(export_type)

    # -- changes made through forms --------------------------------------------------------
    def on_model_change(self, form, model, is_created: bool) -> None:
        db.session.flush()
        self.audit(f"{self.endpoint}.{'created' if is_created else 'updated'}", model)

    def handle_view_exception(self, exc: Exception) -> bool:
        if isinstance(exc, DomainError):
            flash(exc.message, "error")
            return True
        return super().handle_view_exception(exc)

    # -- helpers for actions ---------------------------------------------------------------
    @staticmethod
    def action_ids(ids) -> list[int]:
        """Flask-Admin gives the ticked rows as strings; keep the well-formed ones as ints."""
        return [pk for pk in map(primary_key, ids) if pk is not None]
