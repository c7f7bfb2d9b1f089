"""Mes remboursements: every reimbursement of the family, filtered, paged, totalled; PDF statement and CSV file."""

from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from markupsafe import Markup

from jobs.pdf import MESE_CONTACT, render_pdf
from models.base import utcnow
from models.contracts import reimbursements as model
from models.contracts.entities import CareKind, PaidTo
from models.formats import date_fr, money
from models.requests.workflow import local_today

from ..extensions import db, limiter
from ..forms import people_choices, show_errors
from ..i18n import current_language, translate
from ..layout import part
from .forms import FilterForm

bp = Blueprint("reimbursements", __name__)


def _filters():
    """The filters of the address (another family's person: 404), the form showing them, and their messages."""
    people = model.family_people(db.session, current_user.id)
    try:
        found = model.read_filters(db.session, current_user.id, request.args, people)
    except model.UnknownBeneficiary:
        abort(404)
    form = FilterForm(request.args)
    form.beneficiaire.choices = people_choices(people, _("Tous les bénéficiaires"))
    form.soins.choices = [("", _("Tous les soins"))] + [(k.value, translate(k.label)) for k in CareKind]
    show_errors(form, {name: [message] for name, message in found.errors.items()}, fallback="du")
    return found, form, people


#: What markupsafe's ``escape`` writes for each character it escapes (the lines' text cells).
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "'": "&#39;", '"': "&#34;"})


def _rows(lines: list, language: str) -> Markup:
    """The table's lines: the line pattern (member/reimbursements/_row.html, drawn once per language) filled with
    each line's values. Text cells are escaped; dates and amounts are digits and signs, which need none. Labels
    of payees are translated once per page (not once per row)."""
    pattern = str(part("member/reimbursements/_row.html"))
    payees = {p: str(translate(p.label)).translate(_ESCAPES) for p in PaidTo}
    pending = str(_("En cours")).translate(_ESCAPES)
    return Markup("\n".join(pattern % {
        "care_on": date_fr(line.care_on), "beneficiary": line.beneficiary.translate(_ESCAPES),
        "act": line.act.translate(_ESCAPES), "spent": money(line.spent_cents, language),
        "social_security": money(line.social_security_cents, language), "mese": money(line.mese_cents, language),
        "left_to_pay": money(line.left_to_pay_cents, language), "paid_to": payees[line.paid_to],
        "paid_on": date_fr(line.paid_on) if line.paid_on else pending} for line in lines))


@bp.get("/mes-remboursements")
@login_required
def index():
    """Mes remboursements: newest care first, filters by person, period and kind of care, totals of the selection."""
    found, form, people = _filters()
    cursor, cursor_error = model.read_cursor(request.args)
    filters = found.filters
    names = {p.id: p.full_name for p in people}
    page, totals = model.reimbursement_page_and_totals(db.session, current_user.id, filters, cursor, names=names)
    language = current_language()
    return render_template(
        "member/reimbursements/index.html", form=form, page=page, rows=_rows(page.lines, language), totals=totals,
        filters=filters, args=filters.as_args(), cursor_error=cursor_error, has_errors=bool(found.errors),
        euros=lambda cents: money(cents, language),
    )


def _download_filters():
    """The filters of a download; malformed ones send the member back to the page, which says what is wrong."""
    found, _form, people = _filters()
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
