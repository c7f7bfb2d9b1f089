"""The HTML of Mes remboursements: parts drawn once per language (member_app/layout.py) filled with the member's
values, every value escaped.

A page shows about 150 values (a hundred amounts); written one by one by Jinja, with a call per label, link and
field, they cost more than the page's queries. The texts stay in the templates (member/reimbursements/_page.html
and _row.html); what is written here is what member/_forms.html's ``field`` writes for a field without error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import urlencode

from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup

from models.contracts import reimbursements as model
from models.contracts.entities import CareKind, PaidTo
from models.formats import date_fr, money
from web import escape_text

from ..i18n import translate
from ..layout import part
from .forms import FilterForm


def _escaped(text) -> str:
    return escape_text(str(text))


def rows(lines: Sequence[model.ReimbursementLine], language: str) -> str:
    """The table's lines: the line pattern (member/reimbursements/_row.html) filled with each line's values. Text
    cells are escaped; dates and amounts are digits and signs, which need none. Labels of payees are translated
    once per page (not once per row)."""
    pattern = str(part("member/reimbursements/_row.html"))
    payees = {p: _escaped(translate(p.label)) for p in PaidTo}
    pending = _escaped(_("En cours"))
    return "\n".join([pattern % {
        "care_on": date_fr(line.care_on), "beneficiary": escape_text(line.beneficiary),
        "act": escape_text(line.act), "spent": money(line.spent_cents, language),
        "social_security": money(line.social_security_cents, language), "mese": money(line.mese_cents, language),
        "left_to_pay": money(line.left_to_pay_cents, language), "paid_to": payees[line.paid_to],
        "paid_on": date_fr(line.paid_on) if line.paid_on else pending} for line in lines])


def beneficiary_choices(people: Sequence[model.FamilyPerson]) -> list[tuple[str, str]]:
    """The choices of the Bénéficiaire filter: everyone, then each person of the family with their role."""
    from ..forms import people_choices

    return people_choices(people, _("Tous les bénéficiaires"))


def care_kind_choices() -> list[tuple[str, str]]:
    """The choices of the Type de soins filter: every kind, then each kind in the page's language."""
    return [("", _("Tous les soins"))] + [(k.value, translate(k.label)) for k in CareKind]


#: The values of the Type de soins options (a part is drawn for each, and for none chosen).
_KIND_VALUES = frozenset(["", *(kind.value for kind in CareKind)])


def filter_fields(args: Mapping[str, str], people: Sequence[model.FamilyPerson],
                  form: FilterForm | None) -> dict[str, str]:
    """What the filters' fields of the page (member/reimbursements/_page.html) are filled with: the fields of
    ``form`` (a page whose filters have messages) written by ``field_html``; else the values of the address and the
    options, chosen as WTForms chooses them (an option whose value is the text sent, as sent)."""
    if form is not None:
        from ..forms import field_html

        help_ = Markup(_("Format jj/mm/aaaa"))  # as a template's text is given to member/_forms.html's ``field``
        return {"beneficiaire": field_html(form.beneficiaire), "du": field_html(form.du, help=help_),
                "au": field_html(form.au, help=help_), "soins": field_html(form.soins)}
    chosen = args.get("beneficiaire")
    people_options = []
    for person in people:
        value = str(person.id)
        label = _escaped(f"{person.full_name} ({translate(person.role.label)})")
        people_options.append(f'<option selected value="{value}">{label}</option>' if value == chosen
                              else f'<option value="{value}">{label}</option>')
    kind = args.get("soins")
    return {"everyone": " selected" if chosen == "" else "", "people": "".join(people_options),
            "du": _escaped(args.get("du") or ""), "au": _escaped(args.get("au") or ""),
            "kinds": str(part("member/reimbursements/_care_kinds.html", kinds=tuple(CareKind),
                              chosen=kind if kind in _KIND_VALUES else None))}


def _query(values: Mapping[str, str]) -> str:
    # The query of an address as url_for writes it (werkzeug's encoding), escaped for an attribute.
    return _escaped(urlencode(list(values.items()), safe="!$'()*,/:;?@"))


def content(*, fields: Mapping[str, str], filters: model.ReimbursementFilters, has_errors: bool,
            page: model.ReimbursementPage, totals: model.Totals, cursor_error, language: str) -> Markup:
    """The page's content (member/reimbursements/_page.html) with the member's values."""
    args = filters.as_args()
    if filters.active:
        title = ngettext("Total de votre sélection : %(num)d remboursement",
                         "Total de votre sélection : %(num)d remboursements", totals.count)
    else:
        title = ngettext("Total : %(num)d remboursement", "Total : %(num)d remboursements", totals.count)
    pattern = part("member/reimbursements/_page.html", messages=has_errors,
                   clear=filters.active or has_errors, active=filters.active,
                   cursor_error=cursor_error is not None, downloads=totals.count > 0, lines=bool(page.lines),
                   newer=page.newer is not None, older=page.older is not None)
    query = "?" + _query(args) if args else ""
    return Markup(str(pattern) % {
        **fields, "cursor_error": _escaped(translate(cursor_error)) if cursor_error is not None else "",
        # The translated title is the template's text, as Jinja's ngettext writes it (not escaped).
        "totals_title": title, "spent": money(totals.spent_cents, language),
        "social_security": money(totals.social_security_cents, language), "mese": money(totals.mese_cents, language),
        "left_to_pay": money(totals.left_to_pay_cents, language), "query": query,
        "rows": rows(page.lines, language) if page.lines else "",
        "newer": _query({"avant": page.newer, **args}) if page.newer else "",
        "older": _query({"apres": page.older, **args}) if page.older else ""})
