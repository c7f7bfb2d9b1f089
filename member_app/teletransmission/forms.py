"""The tele-transmission form: the attestation of rights."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import MultipleFileField

from ..forms import RequestForm


class TeletransmissionForm(RequestForm):
    """Activer la télétransmission: the document the request needs."""

    files = MultipleFileField(_l("Attestation de droits à l'assurance maladie"))
