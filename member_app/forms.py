"""Form fields shared by the member area's pages."""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from wtforms import DateField

DATE_FORMAT_MESSAGE = _l("Saisissez une date valide, au format jj/mm/aaaa.")


class LenientDateField(DateField):
    """An ``<input type=date>`` that also reads jj/mm/aaaa (browsers without a date picker).

    An empty value is no error here: the model says the field is required.
    """

    def __init__(self, label=None, validators=None, **kwargs):
        super().__init__(label, validators, format=["%Y-%m-%d", "%d/%m/%Y"], **kwargs)

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = " ".join(valuelist).strip()
        self.data = None
        if not text:
            return
        for fmt in self.strptime_format:
            try:
                self.data = dt.datetime.strptime(text, fmt).date()
                return
            except ValueError:
                continue
        raise ValueError(DATE_FORMAT_MESSAGE)
