"""The one place where back-office access is decided, with audit of member data and safe exports.

Every view of the back office inherits StaffModelView, StaffBaseView or StaffIndexView
(tests/backoffice/test_access.py walks ``admin._views`` to keep it so).
"""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from flask import abort, current_app, flash, g, redirect, request, session, url_for
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_admin.helpers import get_redirect_target, is_safe_url
from flask_admin.model import typefmt
from flask_admin.model.helpers import get_mdict_item_or_list
from flask_login import current_user
from markupsafe import Markup, escape
from sqlalchemy import and_, asc, bindparam, desc, inspect, literal_column, select, union_all
from sqlalchemy.orm import defer, joinedload, load_only, raiseload

from models import pagination
from models.audit.operations import record, record_at_once
from models.crypto import EncryptedString
from models.db import DriverRead
from models.base import utcnow
from models.errors import DomainError
from models.formats import PARIS, date_fr
from models.staff.entities import StaffRole, StaffUser
from web import client_ip, csp_nonce, csrf_token, escape_text
from web.kept import Kept

from ..auth.views import staff_signed_in
from ..extensions import RECENT_READS_KEY, current_config, db

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


#: The rendered menu of each (role, page, mount point): see StaffAccessMixin.menu_html.
_MENUS: Kept[Markup] = Kept(500)
#: Rendered parts of list pages: see StaffAccessMixin.cached_html.
_FRAGMENTS: Kept[Markup] = Kept(500)
#: How long a rendered part of a list page is reused (the options of its filters may change meanwhile).
FRAGMENT_SECONDS = 30
#: URLs that depend on nothing but the mount point (static files, pages without arguments): see StaffAccessMixin.
_FIXED_URLS: dict[tuple, str] = {}
#: Query parameters of a list page's cursor: the page after (or before) the row it names.
AFTER, BEFORE = "apres", "avant"


@dataclass
class ListPage:
    """One page of a list: its rows, whether pages come before and after, and the cursors that reach them."""

    rows: list
    has_next: bool
    has_previous: bool
    next_cursor: str | None = None
    previous_cursor: str | None = None


#: Rendered list pages without their rows: see StaffModelView.list_frame.
_FRAMES: Kept["ListFrame"] = Kept(200)
#: Marks a place to fill in a list frame: random for each process, so that no data can be taken for one.
_SLOT_MARK = f"slot{secrets.token_hex(12)}Z"
_SLOTS = re.compile(re.escape(_SLOT_MARK) + r"([a-z]+)Z")


def _slot(name: str) -> str:
    return f"{_SLOT_MARK}{name}Z"


def _holds_no_slot(html: Markup) -> bool:
    # Never keep a part holding a list frame's slot (a CSRF token, a nonce): it is being drawn for a frame.
    return _SLOT_MARK not in html


class _FrameUser:
    """The signed-in staff member as the frame of a list page sees them: a name filled in per request."""

    is_authenticated = True
    full_name = Markup(_slot("user"))


@dataclass
class ListFrame:
    """A list page without what belongs to one request: its text between the slots, and the slots' names."""

    texts: list[str]
    slots: list[str]
    actions: bool
    details_url: str | None
    edit_url: str | None

    def fill(self, view: "StaffModelView", listed: ListPage) -> str:
        """The page of ``listed`` for the signed-in staff member (escaped, as the template would)."""
        values = {"nonce": csp_nonce(), "csrf": str(escape(csrf_token())),
                  "user": str(escape(current_staff().full_name)),
                  "rows": view.rows_html(listed.rows, self.actions, self.details_url, self.edit_url),
                  "next": listed.next_cursor or "", "previous": listed.previous_cursor or ""}
        texts, out = self.texts, [self.texts[0]]
        for index, name in enumerate(self.slots, 1):
            out.append(values[name])
            out.append(texts[index])
        return "".join(out)


#: Statements of list pages: see StaffModelView.list_plan.
_PLANS: Kept["ListPlan"] = Kept(500)


@dataclass
class ListPlan:
    """The statement of a page of a list, built once (a list in several parts merges them in it)."""

    build: Any
    statement: Any
    extra: list[str]

    def __post_init__(self) -> None:
        # Statements of table columns, run on the driver where they can (models.db.DriverRead.fits): no ORM or
        # Core result step to go through.
        self.rows_read = DriverRead(self.statement) if DriverRead.fits(self.statement) else None

    def rows(self, cursor: pagination.Cursor | None) -> list:
        """The page's plain rows after (or before) ``cursor``."""
        values = {f"cursor_{i}": value for i, value in enumerate(cursor.values)} if cursor else {}
        connection = db.session.connection()
        found = (self.rows_read.all(connection, values) if self.rows_read is not None
                 else connection.execute(self.statement, values))
        return [self.build(row, self.extra) for row in found]


def _encrypted_columns(model) -> list:
    """The encrypted columns of ``model`` (NIR, IBAN, TOTP secret): a list never decrypts what it does not show."""
    return [getattr(model, c.key) for c in inspect(model).column_attrs
            if isinstance(c.columns[0].type, EncryptedString)]


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


def _plain_behaviour(model) -> dict[str, Any]:
    """The Python properties and ``__str__`` of ``model`` and its bases: what a list's formatters may read
    besides columns (``full_name``, ``masked_iban``...)."""
    found: dict[str, Any] = {}
    for klass in reversed(model.__mro__[:-1]):
        for name, value in vars(klass).items():
            if isinstance(value, property) or name == "__str__":
                found[name] = value
    return found


def row_class(model) -> type:
    """The class of a list's plain rows of ``model``: the columns read as attributes, the model's properties,
    no ORM state (building 20 ORM objects and their loaders costs more than the rest of the page's data)."""
    return type(f"{model.__name__}Row", (), {**_plain_behaviour(model), "__module__": __name__,
                                             "__doc__": f"A row of a list of {model.__name__} (no ORM state)."})


def _table_column(attribute):
    """The table column behind a model's column attribute."""
    return attribute.property.columns[0]


def _path_value(row, path: list[str]):
    """``row.a.b`` for the path ["a", "b"], None when a step is None (Flask-Admin's rec_getattr)."""
    for attribute in path:
        row = getattr(row, attribute, None)
        if row is None:
            return None
    return row


def _cell_text(value: Any) -> str:
    """``value`` as markupsafe.escape writes it (HTML it gives of itself, else its text escaped), as a plain str:
    no Markup object per cell."""
    if type(value) is str:
        return escape_text(value)
    html = getattr(value, "__html__", None)
    return str(html()) if html is not None else escape_text(str(value))


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

    def menu_html(self, caller) -> Markup:
        """The menu (the block ``caller`` renders, a Jinja ``{% call %}``), rendered once per role and page, then
        reused: it depends on nothing else, and every page of the back office shows it."""
        key = (current_user.role if staff_signed_in() else None, self.endpoint, request.script_root)
        return _MENUS.get(key, lambda: Markup(caller()), keep=_holds_no_slot)

    def cached_html(self, name: str, caller) -> Markup:
        """The block ``caller`` renders (a Jinja ``{% call %}``), kept ``FRAGMENT_SECONDS`` for the same page,
        role and query string: for the parts of a list page that depend on nothing else (search and filter
        forms, column headers with their sort links)."""
        key = (name, self.endpoint, request.script_root, current_user.role if staff_signed_in() else None,
               request.query_string, int(time.monotonic() // FRAGMENT_SECONDS))
        return _FRAGMENTS.get(key, lambda: Markup(caller()), keep=_holds_no_slot)

    def static_url(self, **values) -> str:
        """The URL of one of Flask-Admin's static files (``filename``, ``v``), built once per mount point."""
        return self.fixed_url(self.admin.endpoint + ".static", **values)

    def fixed_url(self, endpoint: str, **values) -> str:
        """``url_for(endpoint, **values)``, built once per mount point: for URLs that depend on nothing else
        (static files, forms' targets), several on every page."""
        if endpoint.startswith("."):  # relative to this view: the key must name the view
            endpoint = self.endpoint + endpoint
        key = (request.script_root, endpoint, *sorted(values.items()))
        url = _FIXED_URLS.get(key)
        if url is None:
            url = _FIXED_URLS[key] = url_for(endpoint, **values)
        return url


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
    #: The model's own columns a list row reads, besides its id (None: every column except the encrypted ones
    #: the list does not show).
    list_load_only: tuple[str, ...] | None = None
    #: Related rows a list row reads (joined in the same query), with the columns it reads of each.
    list_related: dict[str, tuple[str, ...]] = {}

    def _get_list_extra_args(self):
        args = super()._get_list_extra_args()
        if not 0 <= args.page <= MAX_PAGE or not 0 <= (args.page_size or 0) <= 1000:
            abort(400)
        # The page cursors are not carried over to other links of the list (sort, filters, search).
        for key in (AFTER, BEFORE):
            args.extra_args.pop(key, None)
        return args

    def list_load_options(self) -> list:
        """Loader options of a list's rows: only what the list shows, never an encrypted column it does not
        (built once per view: they depend on its columns only)."""
        options = self.__dict__.get("_list_options")
        if options is None:
            options = self._list_options = self._build_list_load_options()
        return options

    def _build_list_load_options(self) -> list:
        shown = {name for name, _label in self._list_columns}
        if self.list_load_only is not None:
            own = [getattr(self.model, name) for name in ("id", *self.list_load_only)]
            # Columns left out are deferred (read on access, which tests would notice: no NIR is readable
            # in them); marking each one "raise" would cost a callable per column and row.
            options = [load_only(*own), raiseload("*")]
            for name, columns in self.list_related.items():
                relation = getattr(self.model, name)
                target = relation.property.mapper.class_
                options.append(joinedload(relation).load_only(*(getattr(target, c) for c in ("id", *columns))))
            return options
        options = [defer(column, raiseload=True) for column in _encrypted_columns(self.model)
                   if column.key not in shown]
        for relation in self.column_select_related_list or ():
            target = relation.property.mapper.class_
            options.append(joinedload(relation).options(
                *(defer(column, raiseload=True) for column in _encrypted_columns(target))))
        return options

    def list_parts(self, query, filters) -> list:
        """The list as queries whose rows, put together, are the list (default: the query in the staff member's
        scope). A view splits it where one query would make the database read far more than a page."""
        return [self.scope(query)]

    def list_order(self, sort_column, sort_desc) -> tuple[list, bool] | None:
        """The list's order as columns all sorted one way, ending with the id (its pages then follow the
        index of that order), or None when it cannot be (sort on a related column, mixed directions)."""
        if sort_column is not None:
            field = self._sortable_columns.get(sort_column)
            if field is None or isinstance(field, list) or self._sortable_joins.get(sort_column):
                return None
            return ([field, self.model.id] if field.key != "id" else [field]), bool(sort_desc)
        order = self.column_default_sort or [("id", True)]
        if not isinstance(order, list):
            order = [order]
        order = [(item, False) if isinstance(item, str) else item for item in order]
        if "." in "".join(name for name, _desc in order) or len({bool(d) for _n, d in order}) != 1:
            return None
        columns = [getattr(self.model, name) for name, _desc in order]
        if columns[-1].key != "id":
            columns.append(self.model.id)
        return columns, bool(order[0][1])

    def _filtered_query(self, search, filters):
        """The list's query, unscoped, with its search and filters (Flask-Admin's joins for them)."""
        query, joins = super(StaffModelView, self).get_query(), {}
        if self._search_supported and search:
            query, _count, joins, _ = self._apply_search(query, None, joins, {}, search)
        if filters and self._filters:
            query, _count, joins, _ = self._apply_filters(query, None, joins, {}, filters)
        return query, joins

    def list_page(self, page: int, sort_column, sort_desc, search, filters, page_size: int,
                  cursor: pagination.Cursor | None = None) -> ListPage:
        """One page of the list: no count of the table; the next page follows the index of the list's order."""
        order = self.list_order(sort_column, sort_desc)
        if order is None:  # a small list sorted on a related column: Flask-Admin's sort, pages by OFFSET
            query, joins = self._filtered_query(search, filters)
            query, joins = self._apply_sorting(self.scope(query), joins, sort_column, sort_desc)
            rows = query.options(*self.list_load_options()).offset(page * page_size).limit(page_size + 1).all()
            return ListPage(rows[:page_size], has_next=len(rows) > page_size, has_previous=page > 0)
        columns, descending = order
        offset = 0 if cursor else page * page_size
        if self.list_load_only is None:
            query, _joins = self._filtered_query(search, filters)
            parts = [self._keyset(part, columns, descending, cursor) for part in self.list_parts(query, filters)]
            if len(parts) == 1:
                rows = parts[0].options(*self.list_load_options()).offset(offset).limit(page_size + 1).all()
            else:
                rows = self._union_page(parts, columns, descending, cursor, offset, page_size + 1)
        else:
            plan = self.list_plan(sort_column, sort_desc, search, filters, offset, page_size + 1, cursor,
                                  columns, descending)
            rows = plan.rows(cursor)
        more = len(rows) > page_size
        rows = rows[:page_size]
        if cursor and cursor.before:
            rows.reverse()
            has_previous, has_next = more, True
        else:
            has_previous, has_next = bool(cursor) or page > 0, more
        keys = [column.key for column in columns]
        return ListPage(rows, has_next=has_next, has_previous=has_previous,
                        next_cursor=pagination.encode_cursor([getattr(rows[-1], k) for k in keys]) if rows else None,
                        previous_cursor=pagination.encode_cursor([getattr(rows[0], k) for k in keys])
                        if rows else None)

    def list_plan(self, sort_column, sort_desc, search, filters, offset: int, limit: int,
                  cursor: pagination.Cursor | None, columns: list, descending: bool) -> ListPlan:
        """The statements of a page of the list, built once for the same staff member, sort, search, filters and
        page (the cursor's values are parameters): building them costs more than running them."""
        # The statements are a function of this key alone: the rows a staff member may see depend on their id
        # and role (scope, list_parts, the "me" filter), the due-date filter on today's date (a plan holds no
        # database's SQL: models.db.DriverRead compiles it per dialect). A view whose rows depend on anything else
        # must not read plain rows (list_load_only).
        staff = current_staff()
        key = (self.endpoint, staff.id, staff.role, sort_column, bool(sort_desc), search,
               tuple(tuple(f) for f in filters or ()), offset, limit, None if cursor is None else cursor.before,
               datetime.now(PARIS).date())
        return _PLANS.get(key, lambda: self._build_plan(search, filters, offset, limit, cursor, columns, descending))

    def _build_plan(self, search, filters, offset: int, limit: int, cursor: pagination.Cursor | None,
                    columns: list, descending: bool) -> ListPlan:
        if cursor is not None:  # the cursor's values as parameters of the statement
            cursor = pagination.Cursor(tuple(bindparam(f"cursor_{i}", type_=_table_column(column).type)
                                             for i, column in enumerate(columns)), cursor.before)
        query, _joins = self._filtered_query(search, filters)
        parts = [self._keyset(part, columns, descending, cursor) for part in self.list_parts(query, filters)]
        if len(parts) == 1:
            statement, extra = self._rows_statement(parts[0], columns, offset, limit, descending, cursor)
            return ListPlan(self._row_reader()[3], statement, extra)
        # Several parts: each part's first rows through its own index, merged, and the page's rows loaded by their
        # ids, in one statement (one round trip; the ids were a statement of their own).
        keys = [column.label(f"k{i}") for i, column in enumerate(columns)]
        union = union_all(*(select(part.with_entities(*keys).limit(offset + limit).subquery()) for part in parts))
        merged = union.subquery()
        ordered = [merged.c[f"k{i}"] for i in range(len(columns))]
        ids = (select(ordered[-1].label("id")).order_by(*pagination.ordering(ordered, descending, cursor))
               .offset(literal_column(str(int(offset)))).limit(literal_column(str(int(limit)))))
        statement, extra = self._rows_statement(None, columns, 0, None, descending, cursor, page=ids.subquery())
        return ListPlan(self._row_reader()[3], statement, extra)

    @staticmethod
    def _keyset(query, columns, descending: bool, cursor: pagination.Cursor | None):
        if cursor is not None:
            query = query.filter(pagination.after(columns, descending, cursor))
        return query.order_by(*pagination.ordering(columns, descending, cursor))

    def _union_page(self, parts, columns, descending, cursor, offset: int, limit: int) -> list:
        """A page of several parts: each part's first rows through its own index, merged, then loaded."""
        keys = [column.label(f"k{i}") for i, column in enumerate(columns)]
        union = union_all(*(select(part.with_entities(*keys).limit(offset + limit).subquery()) for part in parts))
        merged = union.subquery()
        ordered = [merged.c[f"k{i}"] for i in range(len(columns))]
        ids = [row[-1] for row in db.session.execute(
            select(*ordered).order_by(*pagination.ordering(ordered, descending, cursor)).offset(offset).limit(limit))]
        found = {row.id: row for row in super(StaffModelView, self).get_query().filter(self.model.id.in_(ids))
                 .options(*self.list_load_options())}
        return [found[i] for i in ids if i in found]

    def _row_reader(self):
        reader = self.__dict__.get("_reader")
        if reader is None:
            reader = self._reader = self._build_row_reader()
        return reader

    def _rows_statement(self, query, order_columns, offset: int, limit: int | None, descending: bool = False,
                        cursor: pagination.Cursor | None = None, page=None):
        """The statement of the plain rows of ``query`` (filtered and ordered by ``order_columns``), or of the
        rows whose ids ``page`` (a subquery with an ``id`` column) selects, with the keys of the order columns it
        reads besides the list's own.

        One statement: the page of the list's own table first (LIMIT and OFFSET written in the SQL, so that
        PostgreSQL keeps one plan for it), then its related rows joined to those few rows."""
        own, columns, joins, _build = self._row_reader()
        # Table columns, not the model's attributes: a statement of table columns skips the ORM's compile and
        # result steps.
        order = [_table_column(column) for column in order_columns]
        extra = [column for column in order if column.key not in own]
        if page is None:
            page = query.with_entities(self.model.id)
            # LIMIT and OFFSET written in the SQL text (trusted integers), so the statement runs as compiled.
            if offset:
                page = page.offset(literal_column(str(int(offset))))
            if limit is not None:
                page = page.limit(literal_column(str(int(limit))))
            page = page.subquery()
        table = self.model.__table__
        source = table.join(page, page.c.id == table.c.id)
        for alias, _columns, on in joins:
            source = source.outerjoin(alias, on)
        statement = select(*columns, *(column for _alias, related, _on in joins for column in related), *extra)
        statement = statement.select_from(source).order_by(*pagination.ordering(order, descending, cursor))
        return statement, [column.key for column in extra]

    def _build_row_reader(self):
        """The columns of a list's own table its plain rows read, the related rows joined to them (each with the
        columns read and its ON clause, written once), and the function making a row object of a result row."""
        joins, related = [], []
        for name, wanted in self.list_related.items():
            relation = getattr(self.model, name)
            mapper = relation.property.mapper
            keys = ("id", *wanted)
            alias = mapper.local_table.alias()
            on = and_(*(alias.c[remote.key] == local for local, remote in relation.property.local_remote_pairs))
            joins.append((alias, [alias.c[_table_column(getattr(mapper.class_, key)).key] for key in keys], on))
            related.append((name, keys, row_class(mapper.class_)))
        own = tuple(dict.fromkeys(("id", *self.list_load_only)))
        columns = [_table_column(getattr(self.model, key)) for key in own]
        main = row_class(self.model)
        width = len(own)

        def build(values, extra):
            row = main.__new__(main)
            attributes = row.__dict__
            attributes.update(zip(own, values))
            at = width
            for name, keys, kind in related:
                part = values[at:at + len(keys)]
                at += len(keys)
                if part[0] is None:
                    attributes[name] = None
                else:
                    item = kind.__new__(kind)
                    item.__dict__.update(zip(keys, part))
                    attributes[name] = item
            attributes.update(zip(extra, values[at:]))
            return row

        return own, columns, joins, build

    def get_list(self, page, sort_column, sort_desc, search, filters, execute=True, page_size=None):
        if not execute:  # Flask-Admin's own export (small lists): its query
            return super().get_list(page, sort_column, sort_desc, search, filters, execute=False,
                                    page_size=page_size)
        listed = self.list_page(page or 0, sort_column, sort_desc, search, filters, page_size or self.page_size)
        return None, listed.rows

    def cell_writers(self) -> list:
        """For each column of the list, the function writing a row's cell, escaped: what Flask-Admin's
        ``_get_list_value`` gives (column formatter or attribute, choices, type formatter), with each column's
        way of reading its value and each type's formatter looked up once, not for every cell."""
        writers = self.__dict__.get("_cell_writers")
        if writers is None:
            writers = self._cell_writers = self._build_cell_writers()
        return writers

    def _build_cell_writers(self) -> list:
        formatters, choices = self.column_formatters, self._column_choices_map
        by_type: dict[type, Any] = {}
        view = self

        def type_formatter(kind: type):
            found = by_type[kind] = next(
                (f for t, f in self.column_type_formatters.items() if issubclass(kind, t)), None)
            return found

        def writer(read, name: str, choice: dict | None):
            if choice:
                return lambda row: _cell_text(choice.get(value := read(row)) or value)

            def write(row) -> str:
                value = read(row)
                kind = type(value)
                fmt = by_type[kind] if kind in by_type else type_formatter(kind)
                return _cell_text(value if fmt is None else fmt(view, value, name))
            return write

        writers = []
        for name, _label in self._list_columns:
            formatter = formatters.get(name)
            if formatter is not None:
                read = lambda row, f=formatter, n=name: f(view, None, row, n)  # noqa: E731
            else:
                path = name.split(".")
                read = ((lambda row, a=path[0]: getattr(row, a, None)) if len(path) == 1
                        else (lambda row, p=path: _path_value(row, p)))
            writers.append(writer(read, name, choices.get(name)))
        return writers

    def rows_html(self, rows, actions, details_url: str | None, edit_url: str | None) -> Markup:
        """The ``<tr>`` of a list page's rows, every value escaped (``cell_writers``): what a Jinja loop would
        write, in a fraction of its time."""
        details = escape(details_url) if details_url else None
        edit = escape(edit_url) if edit_url else None
        links = self.column_display_actions
        writers = self.cell_writers()
        out = []
        for index, row in enumerate(rows, 1):
            pk = escape(row.id)
            out.append("\n    <tr>")
            if actions:
                out.append(f'<td><input type="checkbox" name="rowid" class="action-checkbox" value="{pk}" '
                           f'aria-label="Sélectionner la ligne {index}"></td>')
            if links:
                out.append('<td class="list-buttons-column">')
                if details:
                    out.append(f'<a class="icon bo-row-action" href="{details}&amp;id={pk}" title="Voir le détail">'
                               '<span class="fa fa-eye" aria-hidden="true"></span>'
                               '<span class="sr-only">Voir le détail</span></a>')
                if edit:
                    out.append(f'<a class="icon bo-row-action" href="{edit}&amp;id={pk}" title="Modifier">'
                               '<span class="fa fa-pencil" aria-hidden="true"></span>'
                               '<span class="sr-only">Modifier</span></a>')
                out.append("</td>")
            out.append("<td>" + "</td><td>".join([write(row) for write in writers]) + "</td></tr>"
                       if writers else "</tr>")
        return Markup("".join(out))

    @expose("/")
    def index_view(self):
        view_args = self._get_list_extra_args()
        sort = self._get_column_by_idx(view_args.sort)
        sort_column = sort[0] if sort is not None else None
        page_size = self.get_safe_page_size(view_args.page_size)
        cursor = (pagination.decode_cursor(request.args.get(AFTER), width=self._cursor_width(sort_column))
                  or pagination.decode_cursor(request.args.get(BEFORE), width=self._cursor_width(sort_column),
                                              before=True))
        if cursor is None and (request.args.get(AFTER) or request.args.get(BEFORE)):
            abort(400)
        listed = self.list_page(view_args.page, sort_column, view_args.sort_desc, view_args.search,
                                view_args.filters, page_size, cursor)
        if listed.rows and "_flashes" not in session:
            response = self.list_frame(view_args, listed, page_size).fill(self, listed)
        else:  # an empty page or a message to show: the template as it comes
            response = self.render_list(view_args, listed, page_size)
        if self.holds_member_data:  # an event per read of member data: who, which view, filters, rows
            self.audit_list_read(view=self.endpoint, page=view_args.page,
                                 search=_clip(view_args.search) if view_args.search else None,
                                 filters=[[_clip(name), _clip(value)] for _i, name, value in view_args.filters or []],
                                 rows=len(listed.rows))
        return response

    def list_template_args(self, view_args, listed: ListPage, page_size: int) -> dict[str, Any]:
        """What the list template is given, but its rows."""
        actions, actions_confirmation = self.get_actions_list()
        return_url = self._get_list_url(view_args)
        return dict(
            data=listed.rows, count=None, list_columns=self._list_columns, page=view_args.page, page_size=page_size,
            default_page_size=self.page_size, sort_column=view_args.sort, sort_desc=view_args.sort_desc,
            sort_url=lambda column, invert=False: self._get_list_url(view_args.clone(
                page=None, sort=column, sort_desc=1 if invert and not view_args.sort_desc else None)),
            pager=self._pager(view_args, listed), search_supported=self._search_supported,
            clear_search_url=self._get_list_url(view_args.clone(page=None, search=None, filters=None)),
            search=view_args.search, search_placeholder=self.search_placeholder(), filters=self._filters,
            filter_groups=self._get_filter_groups(), active_filters=view_args.filters,
            filter_args=self._get_filters(view_args.filters), actions=actions,
            actions_confirmation=actions_confirmation, action_form=None,  # the list template writes it out
            return_url=return_url, extra_args=view_args.extra_args,
            details_url=self.get_url(".details_view", url=return_url) if self.can_view_details else None,
            edit_url=self.get_url(".edit_view", url=return_url) if self.can_edit else None,
            export_links=self.export_links(view_args) if self.can_export else [])

    def render_list(self, view_args, listed: ListPage, page_size: int) -> str:
        """The list page rendered by its template."""
        args = self.list_template_args(view_args, listed, page_size)
        return self.render(self.list_template, rows=listed.rows, rows_html=self.rows_html(
            listed.rows, args["actions"], args["details_url"], args["edit_url"]), **args)

    def list_frame(self, view_args, listed: ListPage, page_size: int) -> ListFrame:
        """The list page without its rows nor what belongs to this request (nonce, CSRF token, the staff member's
        name, the pager's cursors), rendered by the list template once per page, role and list state and kept
        ``FRAGMENT_SECONDS``: the parts of a list page that depend on nothing else (``cached_html``)."""
        # Safe to share: a frame holds no row (no member data) and nothing of a staff member's own (their name,
        # CSRF token and the nonce are slots); what it shows depends on the role (menu, exports, actions), the
        # list's state (page, sort, search, filters; the query string where export links copy it) and the
        # options of the filters, read again after FRAGMENT_SECONDS.
        key = (self.endpoint, request.script_root, current_user.role, view_args.page, view_args.page_size,
               view_args.sort, bool(view_args.sort_desc), view_args.search,
               tuple(tuple(f) for f in view_args.filters or ()), tuple(sorted(view_args.extra_args.items())),
               None if self.report_kind or not self.can_export else request.query_string,
               listed.has_previous, listed.has_next, listed.previous_cursor is None, listed.next_cursor is None,
               int(time.monotonic() // FRAGMENT_SECONDS))
        return _FRAMES.get(key, lambda: self._render_frame(view_args, listed, page_size))

    def _render_frame(self, view_args, listed: ListPage, page_size: int) -> ListFrame:
        slotted = ListPage(listed.rows, listed.has_next, listed.has_previous,
                           next_cursor=_slot("next") if listed.next_cursor is not None else None,
                           previous_cursor=_slot("previous") if listed.previous_cursor is not None else None)
        args = self.list_template_args(view_args, slotted, page_size)
        nonce = g.pop("csp_nonce", None)
        g.csp_nonce = _slot("nonce")
        try:
            html = self.render(self.list_template, rows=True, rows_html=Markup(_slot("rows")),
                               csrf_token=lambda: _slot("csrf"), current_user=_FrameUser, **args)
        finally:
            del g.csp_nonce
            if nonce is not None:
                g.csp_nonce = nonce
        pieces = _SLOTS.split(html)
        return ListFrame(texts=pieces[0::2], slots=pieces[1::2], actions=bool(args["actions"]),
                         details_url=args["details_url"], edit_url=args["edit_url"])

    def audit_list_read(self, **details) -> None:
        """Write and commit the audit event of a list read, unless the same read was written moments ago
        (models.audit.operations.RecentReads)."""
        reads, ip = current_app.extensions[RECENT_READS_KEY], client_ip()
        key = reads.key("backoffice.listed", actor_type="staff", actor_id=current_user.id, ip=ip, **details)
        if reads.is_repeat(key):
            return
        record_at_once(db.session, "backoffice.listed", actor_type="staff", actor_id=current_user.id, ip=ip,
                       now=utcnow(), **details)
        # The page is rendered: its rows are let go before the commit rather than expired one by one.
        db.session.expunge_all()
        db.session.commit()
        reads.written(key)

    def _cursor_width(self, sort_column) -> int:
        order = self.list_order(sort_column, False)
        return len(order[0]) if order else 0

    def _pager(self, view_args, listed: ListPage) -> dict[str, str | None]:
        """Links of the pager: first page, previous and next (keyset cursors; OFFSET for lists without one)."""
        page = view_args.page or 0
        base = view_args.extra_args

        def link(number: int, cursor_key: str | None, cursor: str | None) -> str:
            extra = dict(base, **({cursor_key: cursor} if cursor_key and cursor else {}))
            return self._get_list_url(view_args.clone(page=number or None, extra_args=extra))

        keyset = listed.next_cursor is not None or listed.previous_cursor is not None
        return {
            "first": link(0, None, None) if listed.has_previous else None,
            "previous": (link(max(page - 1, 0), BEFORE if keyset else None, listed.previous_cursor)
                         if listed.has_previous and page > 1 else (link(0, None, None) if listed.has_previous
                                                                   else None)),
            "next": link(page + 1, AFTER if keyset else None, listed.next_cursor) if listed.has_next else None,
            "number": str(page + 1),
        }

    #: What the Exports page exports for this list (requests, outbox, audit), whole and streamed; None: the
    #: list is small and keeps Flask-Admin's own export, capped by EXPORT_MAX_ROWS.
    report_kind: str | None = None

    def report_args(self) -> dict[str, str]:
        """The Exports page's form, filled in for this list."""
        return {"kind": self.report_kind}

    def export_links(self, view_args) -> list[tuple[str, str]]:
        """Export links above the list: (label, URL)."""
        if self.report_kind:
            return [("Exporter (CSV ou XLSX)", url_for("exports.index", **self.report_args()))]
        return [(f"Exporter en {export_type.upper()}", self.get_url(".export", export_type=export_type,
                                                                    **request.args))
                for export_type in self.export_types]

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
        if self.report_kind and self.can_export:  # a big list: the Exports page, never a capped in-memory export
            return redirect(url_for("exports.index", **self.report_args()))
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
