"""The filters of Mes remboursements: a GET form (no CSRF: it changes nothing), checked by models/."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import Form, SelectField, StringField

#: The fields' labels (also written by member_app/reimbursements/page.py for a page whose filters are all read).
FIELD_LABELS = {"beneficiaire": _l("Bénéficiaire"), "du": _l("Soins du"), "au": _l("au"),
                "soins": _l("Type de soins")}
#: The help of the two dates.
FIELD_HELP = _l("Format jj/mm/aaaa")


class FilterForm(Form):
    """Bénéficiaire, période (du, au) and type de soins; the choices are set by the view."""

    beneficiaire = SelectField(FIELD_LABELS["beneficiaire"], validate_choice=False)
    du = StringField(FIELD_LABELS["du"], render_kw={"type": "date", "class": "short"})
    au = StringField(FIELD_LABELS["au"], render_kw={"type": "date", "class": "short"})
    soins = SelectField(FIELD_LABELS["soins"], validate_choice=False)
