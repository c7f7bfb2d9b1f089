"""The contact form: reason, person concerned, message, attachments."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, TextAreaField

from models.requests.contact import ContactInput

from ..forms import RequestForm, optional_id


class ContactForm(RequestForm):
    """Contacter la mutuelle: the guide's fields."""

    reason_id = SelectField(_l("Motif de votre demande"), coerce=optional_id, validate_choice=False)
    beneficiary_id = SelectField(_l("Bénéficiaire concerné"), coerce=optional_id, validate_choice=False)
    message = TextAreaField(_l("Votre demande"), render_kw={"maxlength": 5000, "rows": 8})

    def to_input(self) -> ContactInput:
        """The use case's input from what was posted."""
        return ContactInput(reason_id=self.reason_id.data, beneficiary_id=self.beneficiary_id.data,
                            message=self.message.data or "", files=self.uploaded(),
                            form_token=self.form_token.data or "",
                            confirm_duplicates=bool(self.confirm_duplicates.data))
