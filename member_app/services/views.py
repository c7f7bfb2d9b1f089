"""Services et outils: Téléconsultation MaQuestionMédicale, the search of a health professional, Mon assistance,
Réseau Kalixia and Prévention santé. Their addresses and texts are staff's (models.content.services)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request
from flask_login import current_user, login_required
from markupsafe import Markup

from models.base import utcnow
from models.contracts.cover import active_contract_kinds_reads
from models.content.services import (
    KALIXIA_PARTNERS, TeleconsultationAccess, member_assistance, professional_search_url, service_links,
    teleconsultation_reads, teleconsultation_rows,
)
from models.errors import ValidationFailed
from models.formats import date_fr
from models.requests.deadlines import local_today

from ..ahead import reads_ahead
from ..extensions import db
from ..forms import FreshForm, show_errors
from ..i18n import translate
from ..layout import fill, part
from .forms import ProfessionalSearchForm

bp = Blueprint("services", __name__)
FIND_PROFESSIONAL = "member/services/find_professional.html"
_SEARCH_FORM = FreshForm(ProfessionalSearchForm, "member/services/_find_professional_form.html")


@bp.get("/teleconsultation")
@login_required
@reads_ahead(lambda now: teleconsultation_reads(local_today(now)))
def teleconsultation():
    """Téléconsultation MaQuestionMédicale: the family's table, with the access of each person."""
    rows = teleconsultation_rows(db.session, current_user, local_today(utcnow()))
    links = service_links(db.session, ("teleconsultation", "teleconsultation_family"))
    return render_template("member/services/teleconsultation.html", rows=rows, links=links,
                           rows_html=_teleconsultation_lines(rows, links["teleconsultation"]))


def _teleconsultation_lines(rows, link) -> Markup:
    """The table's lines: the line's part (drawn once per language, access and link) filled with each person's
    values, escaped."""
    return Markup("\n").join(fill(
        part("member/services/_teleconsultation_row.html", button=row.access is TeleconsultationAccess.BUTTON,
             link=link),
        {"last_name": row.last_name, "first_name": row.first_name, "birth_date": date_fr(row.birth_date),
         "status": translate(row.status), "nir": row.masked_nir or "---", "fund": row.fund or "---",
         "start_on": date_fr(row.start_on) if row.start_on else "---",
         "end_on": date_fr(row.end_on) if row.end_on else "---"}) for row in rows)


@bp.get("/professionnel-de-sante")
@login_required
def find_professional():
    """Rechercher un professionnel de santé: with at least one of Nom, Profession, Acte, the public health
    directory opens with the search; otherwise the form comes back with its message."""
    if not request.args:
        return render_template(FIND_PROFESSIONAL, form=None, form_html=_SEARCH_FORM.fresh())
    form = ProfessionalSearchForm(request.args)
    directory = service_links(db.session, ("health_directory",))["health_directory"]
    try:
        url = professional_search_url(directory.url, name=form.name.data or "", profession=form.profession.data or "",
                                      act=form.act.data or "", where=form.where.data or "")
    except ValidationFailed as exc:
        show_errors(form, exc.errors, fallback="name")
    else:
        return redirect(url, code=303)
    return render_template(FIND_PROFESSIONAL, form=form, form_html=_SEARCH_FORM.render(form))


@bp.get("/assistance")
@login_required
@reads_ahead(lambda now: active_contract_kinds_reads(local_today(now)))
def assistance():
    """Mon assistance: IMA for the collective contract, RMA for the individual one (notice and portal)."""
    return render_template("member/services/assistance.html",
                           assistances=tuple(member_assistance(db.session, current_user, local_today(utcnow()))))


@bp.get("/reseau-kalixia")
@login_required
def kalixia():
    """Réseau Kalixia: the six partners and their links."""
    links = service_links(db.session, KALIXIA_PARTNERS)
    return render_template("member/services/kalixia.html", partners=tuple(links[k] for k in KALIXIA_PARTNERS))


@bp.get("/prevention-sante")
@login_required
def prevention():
    """Prévention santé: the Prevention Space and the webinars."""
    links = service_links(db.session, ("prevention_space", "prevention_webinars"))
    return render_template("member/services/prevention.html", links=links)
