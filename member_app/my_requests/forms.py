"""The member's answer to a question of MESE: text and files."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import TextAreaField

from ..forms import RequestForm


class AnswerForm(RequestForm):
    """Votre réponse, and files (optional)."""

    text = TextAreaField(_l("Votre réponse"), render_kw={"maxlength": 5000, "rows": 5})
