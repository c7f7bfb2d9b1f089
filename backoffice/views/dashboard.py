"""The managers' dashboard: backlog and deadlines of each queue, flow per day, processing time, work per agent."""

from __future__ import annotations

from datetime import date, timedelta

from flask import request
from flask_admin import expose

from models.base import utcnow
from models.reports.dashboard import ALL, ALL_LABEL, dashboard
from models.reports.queries import REQUEST_TYPE_LABELS
from models.requests.workflow import local_today

from ..extensions import db
from .base import SUPERVISORS, StaffBaseView

#: Days shown when no period is chosen, and the longest period one may choose.
DEFAULT_DAYS, MAX_DAYS = 30, 366


def _day(value: str | None, default: date) -> tuple[date, str | None]:
    if not value:
        return default, None
    try:
        return date.fromisoformat(value), None
    except ValueError:
        return default, "Saisissez une date au format JJ/MM/AAAA."


class DashboardView(StaffBaseView):
    """Tableau de bord (managers and admins): charts, each with its table beside it."""

    allowed_roles = SUPERVISORS

    @expose("/")
    def index(self):
        today = local_today(utcnow())
        end, end_error = _day(request.args.get("au"), today)
        start, start_error = _day(request.args.get("du"), end - timedelta(days=DEFAULT_DAYS - 1))
        errors = {"du": start_error, "au": end_error}
        if not any(errors.values()):
            if start > end:
                errors["au"] = "La date de fin doit suivre la date de début."
            elif (end - start).days >= MAX_DAYS:
                errors["du"] = f"La période ne peut dépasser {MAX_DAYS} jours."
        kind = request.args.get("file", ALL)
        if kind != ALL and kind not in REQUEST_TYPE_LABELS:
            errors["file"] = "Choisissez une file de la liste."
        queues = [(ALL, ALL_LABEL), *REQUEST_TYPE_LABELS.items()]
        if any(errors.values()):
            return self.render("backoffice/reports/dashboard.html", errors=errors, figures=None, queues=queues,
                               values=request.args, kind=ALL), 400
        figures = dashboard(db.session, start=start, end=end, today=today, kind=kind)
        return self.render("backoffice/reports/dashboard.html", errors=errors, figures=figures, queues=queues,
                           values={"du": start.isoformat(), "au": end.isoformat(), "file": kind}, kind=kind,
                           chart_data=_chart_data(figures), today=today)


def _number(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def _chart_data(figures) -> dict:
    """What dashboard.js draws (the same figures as the tables)."""
    states = figures.states[:-1]
    return {
        "states": {"labels": [s.label for s in states], "new": [s.new for s in states],
                   "in_progress": [s.in_progress for s in states], "waiting": [s.waiting for s in states],
                   "overdue": [s.overdue for s in states]},
        "days": {"labels": [d.strftime("%d/%m") for d, _r, _c in figures.days],
                 "received": [r for _d, r, _c in figures.days], "closed": [c for _d, _r, c in figures.days]},
        "timings": {"labels": [t.label for t in figures.timings],
                    "median": [_number(t.median) for t in figures.timings],
                    "p90": [_number(t.p90) for t in figures.timings]},
        "agents": {"labels": [a.name for a in figures.agents], "closed": [a.closed for a in figures.agents],
                   "open": [a.open_now for a in figures.agents]},
    }
