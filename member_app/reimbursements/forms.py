"""The filters of Mes remboursements: a GET form (no CSRF: it changes nothing), checked by models/."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import Form, SelectField, StringField


class FilterForm(Form):
    """Bénéficiaire, période (du, au) and type de soins; the choices are set by the view."""

    beneficiaire = SelectField(_l("Bénéficiaire"), validate_choice=False)
    du = StringField(_l("Soins du"), render_kw={"type": "date", "class": "short"})
    au = StringField(_l("au"), render_kw={"type": "date", "class": "short"})
    soins = SelectField(_l("Type de soins"), validate_choice=False)
