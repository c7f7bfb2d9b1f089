"""The bank-details forms: the new account, then the confirmation code."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import MultipleFileField, SelectField, StringField

from models.requests.bank_details import BankChangeInput

from ..forms import RequestForm, optional_id


class BankChangeForm(RequestForm):
    """Whose account, holder, IBAN, BIC (asked only when the bank is unknown) and the RIB."""

    beneficiary_id = SelectField(_l("Compte concerné"), coerce=optional_id, validate_choice=False)
    holder = StringField(_l("Titulaire du compte"), render_kw={"maxlength": 140, "autocomplete": "name"})
    iban = StringField(_l("IBAN"), render_kw={"maxlength": 50, "autocomplete": "off", "spellcheck": "false",
                                               "autocapitalize": "characters"})
    bic = StringField(_l("BIC"), render_kw={"maxlength": 14, "autocomplete": "off", "spellcheck": "false",
                                             "autocapitalize": "characters", "class": "short"})
    files = MultipleFileField(_l("RIB (relevé d'identité bancaire)"))

    def to_input(self) -> BankChangeInput:
        """The use case's input from what was posted."""
        return BankChangeInput(beneficiary_id=self.beneficiary_id.data, holder=self.holder.data or "",
                               iban=self.iban.data or "", bic=self.bic.data or "", files=self.uploaded(),
                               form_token=self.form_token.data or "")


class ConfirmationForm(FlaskForm):
    """Le code de sécurité (SMS or authenticator app)."""

    code = StringField(_l("Code de sécurité"))
