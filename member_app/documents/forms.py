"""The documents form: it only reads what the member chose; the rules live in models/."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, TextAreaField
from wtforms.widgets import Select

from models.requests.documents import DocumentInput

from ..forms import RequestForm, optional_id


class DocumentForm(RequestForm):
    """Catégorie, then type (each type belongs to a category), the person concerned, the files, a comment."""

    category_id = SelectField(_l("Catégorie"), coerce=optional_id, validate_choice=False)
    type_id = SelectField(_l("Type de document"), coerce=optional_id, validate_choice=False, widget=Select())
    beneficiary_id = SelectField(_l("Bénéficiaire concerné"), coerce=optional_id, validate_choice=False)
    comment = TextAreaField(_l("Commentaire"), render_kw={"maxlength": 5000, "rows": 4})

    @staticmethod
    def choices(categories, placeholder: str) -> dict:
        """The choices of "Catégorie" and "Type de document" (types grouped by category) for the staff-managed
        ``categories``."""
        return {"category_id": [("", placeholder)] + [(str(c.id), c.name) for c in categories],
                "type_id": {"": [("", placeholder)]} | {
                    c.name: [(str(id_), name) for id_, name in c.types] for c in categories}}

    def offer(self, categories, people_choices, placeholder: str) -> None:
        """The staff-managed categories and types (types grouped by category), and the family."""
        for name, choices in self.choices(categories, placeholder).items():
            getattr(self, name).choices = choices
        self.beneficiary_id.choices = people_choices

    def to_input(self) -> DocumentInput:
        """The use case's input from what was posted."""
        return DocumentInput(
            category_id=self.category_id.data, type_id=self.type_id.data, beneficiary_id=self.beneficiary_id.data,
            comment=self.comment.data or "", files=self.uploaded(), form_token=self.form_token.data or "",
            confirm_duplicates=bool(self.confirm_duplicates.data))
