"""Long exports: an XLSX file built by a job (openpyxl write-only, flat memory), its progress written as it goes.

In Redis mode the job runs in ``mese worker`` from its own queue (``<RQ_QUEUE>-exports``), so that a long export
never holds back e-mails and SMS; in embedded mode it runs in the process right after the request is committed.
The job takes the export's id, never its rows, and is safe to run again: a finished export is left alone.
"""

from __future__ import annotations

import logging
import os

from openpyxl import Workbook
from rq import Queue
from rq.serializers import JSONSerializer
from sqlalchemy import update

from models.base import utcnow
from models.config import ModelsConfig
from models.db import get_engine, session_factory
from models.files import storage
from models.reports.entities import ExportJob, ExportStatus
from models.reports.operations import new_export_file_name, purge_expired_exports
from models.reports.queries import (
    EXPORT_KINDS, ExportFilters, count_rows, export_query, first_request_day, header, iter_rows,
)
from models.requests.workflow import local_today

from . import runtime
from .config import JobsConfig
from .relay import relay_connection

log = logging.getLogger(__name__)
#: Rows written between two updates of an export's progress.
PROGRESS_EVERY = 5000


def export_queue(jobs_config: JobsConfig, connection=None) -> Queue:
    """The RQ queue of exports (JSON jobs holding an export's id)."""
    return Queue(f"{jobs_config.queue_name}-exports", connection=connection or relay_connection(jobs_config.redis_url),
                 serializer=JSONSerializer)


def enqueue_export(jobs_config: JobsConfig, models_config: ModelsConfig, job_id: int, *, timeout: int) -> None:
    """Start the export ``job_id``: queued for the worker (Redis mode), or built now in this process."""
    if jobs_config.embedded:
        build_export(job_id, models_config=models_config)
        return
    export_queue(jobs_config).enqueue(build_export, job_id, job_id=f"export-{job_id}", job_timeout=timeout,
                                      result_ttl=3600, failure_ttl=7 * 86400, description=f"export {job_id}")


def _set(Session, job_id: int, **values) -> None:
    with Session() as session, session.begin():
        session.execute(update(ExportJob).where(ExportJob.id == job_id).values(**values))


def build_export(job_id: int, *, models_config: ModelsConfig | None = None) -> None:
    """Write the XLSX of export ``job_id`` (every cell formula-safe), with its progress; failures are recorded."""
    models_config = models_config or runtime.current()[1]
    Session = session_factory(models_config)
    now = utcnow()
    with Session() as session, session.begin():
        job = session.get(ExportJob, job_id, with_for_update=True)
        if job is None or job.status in (ExportStatus.DONE, ExportStatus.FAILED):
            return
        purge_expired_exports(session, now=now)
        filters = ExportFilters.from_description(job.filters)
        query = export_query(filters, postgresql=False, today=local_today(now),
                             first_day=first_request_day(session) if filters.kind == "requests" else None)
        job.status, job.started_at, job.rows_done = ExportStatus.RUNNING, now, 0
        job.rows_total = count_rows(session, query)
        job.file_name = file_name = new_export_file_name(job)
    path = storage.export_path(file_name)
    temporary = path.with_suffix(".part")
    try:
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(EXPORT_KINDS[filters.kind][:31])
        sheet.append(header(query))
        written = 0
        with get_engine(models_config).connect() as connection:
            for cells in iter_rows(connection, query):
                sheet.append(cells)
                written += 1
                if written % PROGRESS_EVERY == 0:
                    _set(Session, job_id, rows_done=written)
        workbook.save(temporary)
        os.replace(temporary, path)
    except Exception as exc:
        log.exception("export %s failed", job_id)
        temporary.unlink(missing_ok=True)
        _set(Session, job_id, status=ExportStatus.FAILED, finished_at=utcnow(), file_name=None,
             error=f"{type(exc).__name__}: {exc}"[:500])
        return
    _set(Session, job_id, status=ExportStatus.DONE, finished_at=utcnow(), rows_done=written)
