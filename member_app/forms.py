"""Form fields and error lists shared by the member area's pages."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from wtforms import DateField, Form
from wtforms.fields import HiddenField

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


@dataclass(frozen=True)
class FormError:
    """One line of a page's error summary: the message, and the element it belongs to."""

    target: str
    label: str | None
    message: str


def form_errors(form: Form | None = None, **extra: str | None) -> list[FormError]:
    """The errors of ``form`` in the order of its fields, then ``extra`` ones keyed by the id of their element.

    Hidden fields (CSRF, one-time tokens) are left out: the member cannot correct them.
    """
    errors = []
    if form is not None:
        errors = [FormError(field.id, str(field.label.text), " ".join(str(e) for e in field.errors))
                  for field in form if field.errors and not isinstance(field, HiddenField)]
    errors += [FormError(target, None, str(message)) for target, message in extra.items() if message]
    return errors
