"""Forms of "Mes informations personnelles"; they only read input, the rules live in models/members."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from models.members.operations import AddressInput


class AddressForm(FlaskForm):
    """Adresse: street and number, postcode, town."""

    address_line = StringField(_l("Adresse"), render_kw={"maxlength": 200, "autocomplete": "street-address"})
    postcode = StringField(_l("Code postal"), render_kw={"maxlength": 10, "autocomplete": "postal-code",
                                                         "inputmode": "numeric", "class": "short"})
    city = StringField(_l("Ville"), render_kw={"maxlength": 100, "autocomplete": "address-level2"})

    def to_input(self) -> AddressInput:
        """The use case's input from what was posted."""
        return AddressInput(address_line=self.address_line.data or "", postcode=self.postcode.data or "",
                            city=self.city.data or "")


class EmailForm(FlaskForm):
    """The new e-mail address (checked by the model)."""

    email = StringField(_l("Nouvelle adresse e-mail"), render_kw={"maxlength": 254, "autocomplete": "email",
                                                                   "type": "email", "spellcheck": "false"})


class EmailCodeForm(FlaskForm):
    """The code sent to the new address."""

    code = StringField(_l("Code à 6 chiffres"), [DataRequired(message=_l("Ce champ est obligatoire.")), Length(max=20)],
                       render_kw={"maxlength": 9})
