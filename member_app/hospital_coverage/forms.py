"""The hospital coverage form: it only reads what the member typed; the rules live in models/."""

from __future__ import annotations

import json
import secrets

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    HiddenField,
    SelectChoice,
    SelectField,
    StringField,
    TelField,
)

from models.requests.hospital_coverage import HospitalCoverageInput, SelectablePerson

from ..forms import LenientDateField
from ..i18n import translate

_MAX_ID = 2**31 - 1


def beneficiary_id(value) -> int | None:
    """The chosen person's id: None when nothing is chosen, -1 for a value that is no id at all."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    try:
        number = int(value)
    except (TypeError, ValueError):
        return -1
    return number if 0 < number <= _MAX_ID else -1


class HospitalCoverageForm(FlaskForm):
    """Prise en charge hospitalière: the fields of the guide, in its order."""

    beneficiary_id = SelectField(_l("Personne"), coerce=beneficiary_id, validate_choice=False)
    establishment_name = StringField(
        _l("Nom de l'établissement"), render_kw={"maxlength": 200, "autocomplete": "off"})
    finess = StringField(
        _l("N° Finess de l'hôpital ou de la clinique"),
        render_kw={"maxlength": 12, "autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false",
                   "class": "short"})
    start_on = LenientDateField(_l("Date de début d'hospitalisation"), render_kw={"class": "short"})
    admission_fax = TelField(
        _l("Fax du service d'admission"), render_kw={"maxlength": 25, "autocomplete": "off", "inputmode": "tel"})
    admission_email = EmailField(
        _l("Email du service d'admission"), render_kw={"maxlength": 254, "autocomplete": "off"})
    # Labels given for the reason told at RequestForm.form_token.
    form_token = HiddenField("Form Token")
    confirm_no_coverage = HiddenField("Confirm No Coverage")

    @staticmethod
    def choices(people: list[SelectablePerson], placeholder: str) -> list[tuple]:
        """The choices of "Personne": ``people``, each with its coverage periods for the page's script."""
        return [("", placeholder)] + [
            (str(person.id), f"{person.full_name} ({translate(person.role.label)})",
             {"data-periods": json.dumps(
                 [[start.isoformat(), end.isoformat() if end else None] for start, end in person.periods])})
            for person in people
        ]

    def offer(self, choices: list[tuple]) -> None:
        """Offer ``choices`` (:meth:`choices`) in "Personne"."""
        self.beneficiary_id.choices = [SelectChoice(*choice) for choice in choices]

    def ensure_token(self) -> None:
        """Give a fresh form its one-time token (kept as is when the form comes back with errors)."""
        if not self.form_token.data:
            self.form_token.data = secrets.token_urlsafe(24)

    def to_input(self) -> HospitalCoverageInput:
        """The use case's input from what was posted."""
        return HospitalCoverageInput(
            beneficiary_id=self.beneficiary_id.data,
            establishment_name=self.establishment_name.data or "",
            finess=self.finess.data or "",
            start_on=self.start_on.data,
            admission_fax=self.admission_fax.data or "",
            admission_email=self.admission_email.data or "",
            confirm_no_coverage=self.confirm_no_coverage.data == "1",
            form_token=self.form_token.data or "",
        )
