"""The three web applications the back-office benchmark serves with gunicorn, side by side on the same database.

- ``product``: the back office as shipped (``/backoffice``), its settings from the environment;
- ``plain``: a plain Flask page per list rendering the same 20 rows from an in-memory list (the rendering floor);
- ``modelview``: a plain Flask-Admin ``ModelView`` of each table, as Flask-Admin makes it out of the box
  (``/admin``), with an equality filter on the status and a search on the reference to compare with.

    gunicorn -w 2 'bench.apps:product'      # DATABASE_URL=... COOKIE_SECURE=false ...
"""

from __future__ import annotations

import os

from flask import Flask
from markupsafe import escape
from sqlalchemy import text
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

#: The lists compared: name -> (table, SQL of the 20 rows of its first page as the product shows them).
LISTS = {
    "hospital_coverage": ("hospital_coverage_request", """
        SELECT r.reference, m.number, b.first_name || ' ' || upper(b.last_name), r.establishment_name,
               to_char(r.start_on, 'DD/MM/YYYY'), r.status, to_char(r.due_on, 'DD/MM/YYYY'), s.full_name
        FROM hospital_coverage_request r JOIN member m ON m.id = r.member_id
        JOIN beneficiary b ON b.id = r.beneficiary_id LEFT JOIN staff_user s ON s.id = r.assigned_to_id
        WHERE r.status IN ('new', 'in_progress', 'waiting_member') ORDER BY r.created_at, r.id LIMIT 20"""),
    "documents": ("document_submission", """
        SELECT r.reference, m.number, b.first_name || ' ' || upper(b.last_name), 'Santé', 'Facture', r.status,
               to_char(r.due_on, 'DD/MM/YYYY'), s.full_name
        FROM document_submission r JOIN member m ON m.id = r.member_id
        LEFT JOIN beneficiary b ON b.id = r.beneficiary_id LEFT JOIN staff_user s ON s.id = r.assigned_to_id
        WHERE r.status IN ('new', 'in_progress', 'waiting_member') ORDER BY r.created_at, r.id LIMIT 20"""),
    "contact": ("contact_request", """
        SELECT r.reference, m.number, b.first_name || ' ' || upper(b.last_name), 'Remboursements', r.status,
               to_char(r.due_on, 'DD/MM/YYYY'), s.full_name
        FROM contact_request r JOIN member m ON m.id = r.member_id
        LEFT JOIN beneficiary b ON b.id = r.beneficiary_id LEFT JOIN staff_user s ON s.id = r.assigned_to_id
        WHERE r.status IN ('new', 'in_progress', 'waiting_member') ORDER BY r.created_at, r.id LIMIT 20"""),
    "bank_details": ("bank_detail_change_request", """
        SELECT r.reference, m.number, m.first_name || ' ' || upper(m.last_name) || ' (adhérent)', r.holder,
               'XXXX.XXXXXXXX.XXXXXXXX.XXXX.123', r.status, '', to_char(r.due_on, 'DD/MM/YYYY'), s.full_name
        FROM bank_detail_change_request r JOIN member m ON m.id = r.member_id
        LEFT JOIN staff_user s ON s.id = r.assigned_to_id
        WHERE r.status IN ('new', 'in_progress', 'waiting_member') ORDER BY r.created_at, r.id LIMIT 20"""),
    "teletransmission": ("teletransmission_request", """
        SELECT r.reference, m.number, b.first_name || ' ' || upper(b.last_name), r.status,
               to_char(r.due_on, 'DD/MM/YYYY'), s.full_name
        FROM teletransmission_request r JOIN member m ON m.id = r.member_id
        JOIN beneficiary b ON b.id = r.beneficiary_id LEFT JOIN staff_user s ON s.id = r.assigned_to_id
        WHERE r.status IN ('new', 'in_progress', 'waiting_member') ORDER BY r.created_at, r.id LIMIT 20"""),
    "outbox": ("outbox_message", """
        SELECT to_char(created_at, 'DD/MM/YYYY HH24:MI'), channel, recipient, subject, related, status, attempts,
               last_error, to_char(next_attempt_at, 'DD/MM/YYYY HH24:MI'), to_char(sent_at, 'DD/MM/YYYY HH24:MI')
        FROM outbox_message ORDER BY id DESC LIMIT 20"""),
    "audit": ("audit_event", """
        SELECT to_char(at, 'DD/MM/YYYY HH24:MI'), actor_type, actor_id, action, subject_type, subject_id, member_id,
               ip, details::text
        FROM audit_event ORDER BY at DESC, id DESC LIMIT 20"""),
    "staff": ("staff_user", """
        SELECT email, full_name, role, CASE WHEN active THEN 'Oui' ELSE 'Non' END, failed_login_count, '',
               to_char(last_login_at, 'DD/MM/YYYY HH24:MI'), to_char(password_set_at, 'DD/MM/YYYY HH24:MI')
        FROM staff_user ORDER BY full_name, id LIMIT 20"""),
    "exports": ("export_job", """
        SELECT 'Voir l''export n° ' || id, to_char(created_at, 'DD/MM/YYYY HH24:MI'), kind, status, rows_done,
               to_char(expires_at, 'DD/MM/YYYY HH24:MI')
        FROM export_job ORDER BY id DESC LIMIT 20"""),
}

_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ name }} · MESE back office</title>
<link href="/backoffice/static/admin/bootstrap/bootstrap4/css/bootstrap.min.css" rel="stylesheet">
<link href="/backoffice/assets/css/backoffice.css" rel="stylesheet"></head>
<body class="bo"><a class="skip-link" href="#contenu">Aller au contenu</a>
<header class="bo-header navbar navbar-dark"><a class="navbar-brand" href="/backoffice/">MESE back office</a>
<nav aria-label="Menu du back office"><ul class="navbar-nav">{% for label in menu %}<li class="nav-item">
<a class="nav-link" href="/backoffice/{{ loop.index }}">{{ label }}</a></li>{% endfor %}</ul></nav></header>
<main id="contenu" class="container-fluid bo-main"><h1 class="bo-title">{{ name }}</h1>
<p class="bo-count" id="bo-list-caption">Page 1</p>
<div class="table-responsive bo-scroll" role="region" aria-labelledby="bo-list-caption" tabindex="0">
<table class="table table-striped table-bordered table-hover model-list"><caption class="sr-only">{{ name }}</caption>
<thead><tr><th scope="col"><span class="sr-only">Actions</span></th>{% for c in columns %}<th scope="col">{{ c }}</th>
{% endfor %}</tr></thead><tbody>
{%- for row in rows %}<tr><td><a class="icon bo-row-action" href="/backoffice/details/?id={{ loop.index }}"
title="Voir le détail"><span class="sr-only">Voir le détail</span></a></td>{% for cell in row %}<td>{{ cell }}</td>
{% endfor %}</tr>{% endfor %}</tbody></table></div>
<nav aria-label="Pages de la liste"><ul class="pagination"><li class="page-item active"><span class="page-link"
aria-current="page">Page 1</span></li><li class="page-item"><a class="page-link" href="?page=1">Page suivante ›</a>
</li></ul></nav></main></body></html>"""
_MENU = ["Accueil", "Files d'attente", "Pilotage", "Contenus", "Administration", "Mes sessions"]


def _plain() -> Flask:
    from sqlalchemy import create_engine

    engine = create_engine(os.environ["DATABASE_URL"])
    rows = {}
    with engine.connect() as connection:  # read once: the page renders from memory
        for name, (_table, sql) in LISTS.items():
            rows[name] = [["" if v is None else str(v) for v in row] for row in connection.execute(text(sql))]
    engine.dispose()
    app = Flask("plain")
    page = app.jinja_env.from_string(_PAGE)

    @app.route("/plain/<name>")
    def plain(name: str):
        if name not in rows:
            raise NotFound()
        width = len(rows[name][0]) if rows[name] else 1
        return page.render(name=escape(name), menu=_MENU, rows=rows[name], columns=[f"Colonne {i + 1}"
                                                                                     for i in range(width)])

    return app


def _modelview() -> Flask:
    from flask_admin import Admin
    from flask_admin.contrib.sqla import ModelView
    from flask_admin.contrib.sqla.filters import FilterEqual
    from flask_babel import Babel
    from flask_sqlalchemy_lite import SQLAlchemy

    from models.audit.entities import AuditEvent
    from models.outbox.entities import OutboxMessage
    from models.reports.entities import ExportJob
    from models.requests.entities import REQUEST_MODELS
    from models.staff.entities import StaffUser

    from models import crypto

    crypto.configure(os.environ["FIELD_ENCRYPTION_KEY"])
    app = Flask("modelview")
    app.config.update(SECRET_KEY="bench", SQLALCHEMY_ENGINES={"default": os.environ["DATABASE_URL"]})
    db = SQLAlchemy(app)
    Babel(app)
    admin = Admin(app, url="/admin")
    with app.app_context():
        for model in [*REQUEST_MODELS.values(), OutboxMessage, AuditEvent]:
            searchable = ["reference"] if hasattr(model, "reference") else ["related"] if model is OutboxMessage \
                else ["action"]
            filters = [FilterEqual(model.status if hasattr(model, "status") else model.action, "status")]
            view = type(f"{model.__name__}View", (ModelView,), {"column_filters": filters,
                                                                "column_searchable_list": searchable})
            admin.add_view(view(model, db, endpoint=model.__tablename__))
        admin.add_view(type("StaffView", (ModelView,), {"column_filters": ["active"],
                                                        "column_searchable_list": ["email"]})(StaffUser, db,
                                                                                            endpoint="staff_user"))
        admin.add_view(ModelView(ExportJob, db, endpoint="export_job"))
    return app


def _product():
    from backoffice import create_app

    return DispatcherMiddleware(NotFound(), {"/backoffice": create_app()})


def _product_memory():
    """The back office with each list's first page read once and kept in memory, and no audit of list reads: what
    a page of the product costs without its data (sign-in check, Flask-Admin page, template). For the analysis of
    the figures only: the product always reads and audits."""
    from backoffice import create_app
    from backoffice.views.base import StaffModelView

    app = create_app()
    for view in app.extensions["admin"][0]._views:
        view.holds_member_data = False
    pages, original = {}, StaffModelView.list_page

    def list_page(self, *args, **kwargs):
        if self.endpoint not in pages:
            pages[self.endpoint] = original(self, *args, **kwargs)
        return pages[self.endpoint]

    StaffModelView.list_page = list_page
    return DispatcherMiddleware(NotFound(), {"/backoffice": app})


def _product_every_read():
    """The back office writing the audit event of every list read, even an identical one seconds after the last
    (models.audit.operations.RecentReads with no window): what a page costs when its read is written. For the
    analysis of the figures only: the product leaves out identical repeats within a minute."""
    from backoffice import create_app
    from backoffice.extensions import RECENT_READS_KEY
    from models.audit.operations import RecentReads

    app = create_app()
    app.extensions[RECENT_READS_KEY] = RecentReads(seconds=0)
    return DispatcherMiddleware(NotFound(), {"/backoffice": app})


def _member() -> Flask:
    """The member area as shipped (``/``), its settings from the environment (bench/member_pages_bench.py)."""
    from member_app import create_app

    return create_app()


_MEMBER_PLAIN_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ member.first_name }} · MESE</title><link rel="stylesheet" href="/static/css/member.css"></head>
<body><main id="contenu"><h1>Bonjour {{ member.first_name }} {{ member.last_name }}</h1>
<p>Identifiant {{ member.number }}</p></main></body></html>"""


def _member_plain() -> Flask:
    """A plain Flask page reading one row (a member) by primary key through a pooled engine, then rendering a
    small template: the floor a member page is compared with."""
    from sqlalchemy import create_engine

    engine = create_engine(os.environ["DATABASE_URL"], pool_pre_ping=False)
    app = Flask("member_plain")
    page = app.jinja_env.from_string(_MEMBER_PLAIN_PAGE)

    @app.route("/plain/<int:member_id>")
    def plain(member_id: int):
        with engine.connect() as connection:
            row = connection.execute(text("SELECT first_name, last_name, number FROM member WHERE id = :id"),
                                     {"id": member_id}).mappings().first()
        if row is None:
            raise NotFound()
        return page.render(member=row)

    return app


def __getattr__(name: str):
    # Built on first use, so that gunicorn builds only the application it serves.
    builders = {"product": _product, "plain": _plain, "modelview": _modelview, "product_memory": _product_memory,
                "product_every_read": _product_every_read, "member": _member, "member_plain": _member_plain}
    if name not in builders:
        raise AttributeError(name)
    app = builders[name]()
    globals()[name] = app
    return app
