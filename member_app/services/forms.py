"""The search of a health professional (a GET form: it only builds the directory's address)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import Form, StringField


class ProfessionalSearchForm(Form):
    """"Je recherche un professionnel de santé": Nom, Profession, Acte, Où ?"""

    name = StringField(_l("Nom"), render_kw={"maxlength": 120, "autocomplete": "off"})
    profession = StringField(_l("Profession"), render_kw={"maxlength": 120, "autocomplete": "off"})
    act = StringField(_l("Acte"), render_kw={"maxlength": 120, "autocomplete": "off"})
    where = StringField(_l("Où ?"), render_kw={"maxlength": 120, "autocomplete": "off"})
