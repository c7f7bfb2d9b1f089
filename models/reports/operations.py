"""Use cases of exports: each export is audited (who, what, which filters); XLSX exports are jobs whose file
is downloaded by the person who asked for it, until its link expires."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..audit.operations import record
from ..errors import DomainError
from ..files import storage
from ..outbox.entities import Channel, OutboxStatus
from ..requests.entities import RequestStatus
from ..staff.entities import StaffRole, StaffUser
from .entities import ExportJob, ExportStatus
from .queries import EXPORT_KINDS, REQUEST_TYPE_LABELS, ExportFilters

#: Who may export (member data leaves the building): managers and admins.
EXPORT_ROLES = (StaffRole.MANAGER, StaffRole.ADMIN)
FORMATS = ("csv", "xlsx")
#: The longest period an export may cover, in days (about ten years: the whole history).
MAX_PERIOD_DAYS = 3700


def parse_filters(kind: str, start: str | None, end: str | None, types: list[str], statuses: list[str],
                  *, today: date) -> ExportFilters:
    """The filters typed in the export form, checked; a DomainError names the field that is wrong."""
    if kind not in EXPORT_KINDS:
        raise DomainError("Choisissez ce que vous voulez exporter.", field="kind")
    days = []
    for name, value in (("start", start), ("end", end)):
        if not value:
            days.append(None)
            continue
        try:
            days.append(date.fromisoformat(value))
        except ValueError:
            raise DomainError("Saisissez une date au format JJ/MM/AAAA.", field=name) from None
    first, last = days
    if first and last and first > last:
        raise DomainError("La date de fin doit suivre la date de début.", field="end")
    if (first or last) and ((last or today) - (first or date(2000, 1, 1))).days > MAX_PERIOD_DAYS:
        raise DomainError("La période ne peut dépasser dix ans.", field="start")
    allowed_types = {"requests": set(REQUEST_TYPE_LABELS), "outbox": {c.value for c in Channel},
                     "audit": None}[kind]
    allowed_statuses = {"requests": {s.value for s in RequestStatus}, "outbox": {s.value for s in OutboxStatus},
                        "audit": set()}[kind]
    if allowed_types is not None and not set(types) <= allowed_types:
        raise DomainError("Type inconnu.", field="types")
    if kind == "audit":
        types = [t.strip()[:50] for t in types if t.strip()]
    if not set(statuses) <= allowed_statuses:
        raise DomainError("Statut inconnu.", field="statuses")
    return ExportFilters(kind=kind, start=first, end=last, types=tuple(types), statuses=tuple(statuses))


def _require_exporter(staff: StaffUser) -> None:
    if staff.role not in EXPORT_ROLES or not staff.active:
        raise DomainError("Seuls les responsables et les administrateurs exportent des données.")


def record_export(session: Session, staff: StaffUser, filters: ExportFilters, *, export_format: str,
                  now: datetime, ip: str | None = None) -> None:
    """Audit an export that leaves at once (CSV): who, what, which filters."""
    _require_exporter(staff)
    record(session, "report.exported", actor_type="staff", actor_id=staff.id, ip=ip, now=now,
           format=export_format, **filters.describe())


def request_export(session: Session, staff: StaffUser, filters: ExportFilters, *, now: datetime,
                   link_hours: int, ip: str | None = None) -> ExportJob:
    """Ask for an export built by a job (XLSX): the job row, audited; the caller enqueues it after commit.

    The download link answers ``link_hours`` after the request, then the file is removed."""
    _require_exporter(staff)
    job = ExportJob(kind=filters.kind, format="xlsx", filters=filters.describe(), status=ExportStatus.QUEUED,
                    requested_by_id=staff.id, created_at=now, expires_at=now + timedelta(hours=link_hours),
                    download_name=filters.file_name("xlsx"))
    session.add(job)
    session.flush()
    record(session, "report.export_requested", actor_type="staff", actor_id=staff.id, subject=job, ip=ip, now=now,
           format="xlsx", **filters.describe())
    return job


def staff_export(session: Session, staff: StaffUser, job_id: int) -> ExportJob | None:
    """The export ``job_id`` if ``staff`` asked for it (nobody else sees it); None otherwise."""
    return session.scalar(select(ExportJob).where(ExportJob.id == job_id, ExportJob.requested_by_id == staff.id))


def download_export(session: Session, staff: StaffUser, job: ExportJob, *, now: datetime,
                    ip: str | None = None) -> str:
    """The path of the file of a finished export, for the person who asked for it, audited.

    Refused (DomainError) once the link has expired, or while the file is not ready."""
    _require_exporter(staff)
    if job.requested_by_id != staff.id:
        raise DomainError("Cet export ne vous appartient pas.")
    if job.expired(now):
        record(session, "report.download_refused", actor_type="staff", actor_id=staff.id, subject=job, ip=ip,
               now=now, reason="expired")
        raise DomainError("Ce lien de téléchargement a expiré : relancez l'export.")
    if job.status is not ExportStatus.DONE or not job.file_name:
        raise DomainError("Le fichier n'est pas encore prêt.")
    record(session, "report.downloaded", actor_type="staff", actor_id=staff.id, subject=job, ip=ip, now=now,
           kind=job.kind)
    return str(storage.export_path(job.file_name))


def new_export_file_name(job: ExportJob) -> str:
    """A name nobody can guess for the file of ``job``."""
    return f"export-{job.id}-{secrets.token_hex(16)}.{job.format}"


def purge_expired_exports(session: Session, *, now: datetime) -> int:
    """Remove the files of exports whose link has expired; returns how many."""
    expired = session.scalars(select(ExportJob).where(ExportJob.expires_at <= now, ExportJob.file_name.isnot(None)))
    count = 0
    for job in expired:
        storage.export_path(job.file_name).unlink(missing_ok=True)
        job.file_name = None
        count += 1
    return count
