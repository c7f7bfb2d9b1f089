"""Mes remboursements: every reimbursement of the family, filtered, paged, totalled; PDF statement and CSV file."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from jobs.pdf import MESE_CONTACT, render_pdf
from models.base import utcnow
from models.contracts import reimbursements as model
from models.formats import money
from models.requests.workflow import local_today

from ..ahead import reads_ahead
from ..extensions import db, limiter
from ..forms import show_errors
from ..i18n import current_language, translate
from . import page as page_html
from .forms import FilterForm

bp = Blueprint("reimbursements", __name__)


def _filters(session, member_id: int, args):
    """The filters of the address (another family's person: 404) and the family (the select, the lines' names)."""
    people = model.family_people(session, member_id)
    try:
        found = model.read_filters(session, member_id, args, people)
    except model.UnknownBeneficiary:
        abort(404)
    return found, people


def _form_with_messages(found, people) -> FilterForm:
    """The filters' form with each message next to its field (a page whose filters could not all be read)."""
    form = FilterForm(request.args)
    form.beneficiaire.choices = page_html.beneficiary_choices(people)
    form.soins.choices = page_html.care_kind_choices()
    show_errors(form, {name: [message] for name, message in found.errors.items()}, fallback="du")
    return form


@bp.get("/mes-remboursements")
@login_required
@reads_ahead(lambda now: model.family_people_reads())  # not its lines: see models.db.DriverRead.first_with
def index():
    """Mes remboursements: newest care first, filters by person, period and kind of care, totals of the selection."""
    session, member_id, args = db.session, current_user.id, request.args
    found, people = _filters(session, member_id, args)
    form = _form_with_messages(found, people) if found.errors else None
    cursor, cursor_error = model.read_cursor(args)
    filters = found.filters
    names = {p.id: p.full_name for p in people}
    page, totals = model.reimbursement_page_and_totals(session, member_id, filters, cursor, names=names)
    content = page_html.content(fields=page_html.filter_fields(args, people, form), filters=filters,
                                has_errors=bool(found.errors), page=page, totals=totals, cursor_error=cursor_error,
                                language=current_language())
    return render_template("member/reimbursements/index.html", form=form, content=content)


def _download_filters():
    """The filters of a download; malformed ones send the member back to the page, which says what is wrong."""
    found, people = _filters(db.session, current_user.id, request.args)
    if found.errors:
        return None, redirect(url_for(".index", **request.args), code=303), people
    return found.filters, None, people


@bp.get("/mes-remboursements/releve.pdf")
@login_required
@limiter.limit("30 per hour")
def statement_pdf():
    """The selection shown on the page, as a PDF statement (at most ``STATEMENT_LIMIT`` lines)."""
    filters, refused, people = _download_filters()
    if refused:
        return refused
    try:
        lines = model.statement_lines(db.session, current_user.id, filters,
                                      names={p.id: p.full_name for p in people})
    except ValueError as exc:
        flash(translate(exc.args[0]), "error")
        return redirect(url_for(".index", **filters.as_args()), code=303)
    language = current_language()
    today = local_today(utcnow())
    person = next((p.full_name for p in people if p.id == filters.beneficiary_id), None)
    context = model.statement_context(lines, model.reimbursement_totals(db.session, current_user.id, filters), filters,
                                      member=current_user, beneficiary=person, issued_on=today)
    pdf = render_pdf("pdf/reimbursements.html", {**context, "contact": MESE_CONTACT,
                                                  "euros": lambda cents: money(cents, language)}, language)
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{model.download_name(filters, today, "pdf")}"',
        "Cache-Control": "no-store"})


@bp.get("/mes-remboursements/export.csv")
@login_required
@limiter.limit("30 per hour")
def export_csv():
    """The selection shown on the page, as a CSV file for a spreadsheet (every page of it).

    The family's rows are read before the answer starts (a few thousand at most), so that no transaction stays
    open while the file is sent; the text is then written as it is sent."""
    filters, refused, people = _download_filters()
    if refused:
        return refused
    language = current_language()
    member_id = current_user.id
    today = local_today(utcnow())
    names = {p.id: p.full_name for p in people}
    rows = model.csv_rows(iter(list(model.iter_lines(db.session, member_id, filters, names=names))), language)
    return Response(rows, mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{model.download_name(filters, today, "csv")}"',
        "Content-Type": "text/csv; charset=utf-8", "Cache-Control": "no-store"})
