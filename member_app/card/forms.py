"""The form sending a card or a certificate by e-mail."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField


class SendForm(FlaskForm):
    """"Envoyer par e-mail": the recipient's address (every rule is checked by the model)."""

    email = EmailField(_l("Adresse e-mail du destinataire"),
                       render_kw={"maxlength": 254, "autocomplete": "off", "spellcheck": "false"})
