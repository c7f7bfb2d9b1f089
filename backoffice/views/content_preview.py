"""Preview of content as a member will see it: a button next to "Enregistrer" renders the form's values with the
member area's look, without saving anything; the details page shows the saved record the same way."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

from flask import g, render_template, request
from markupsafe import Markup

from models.base import utcnow
from models.requests.workflow import local_today

#: Name of the submit button that asks for a preview instead of saving.
PREVIEW_BUTTON = "_apercu"


def news_state(item, today: date) -> str:
    """Where a news item stands in its publication window, as managers read it in the list."""
    if not item.published:
        return "Non publiée"
    if item.starts_on and item.starts_on > today:
        return "Programmée"
    if item.ends_on and item.ends_on < today:
        return "Terminée"
    return "En ligne"


def member_link(url: str | None) -> str | None:
    """The link a member would follow: a web address or a page of the member area, never ``javascript:``."""
    url = (url or "").strip()
    if url.startswith(("https://", "http://")) or (url.startswith("/") and not url.startswith("//")):
        return url
    return None


class PreviewMixin:
    """For a content ModelView: the "Aperçu" button of its forms and the preview pane of its details page.

    ``preview_template`` renders ``item`` (the record, or the form's values) with the member area's markup.
    """

    preview_template: str = ""
    preview_title: str = "Aperçu"
    create_template = "backoffice/content/create.html"
    edit_template = "backoffice/content/edit.html"

    def preview_item(self, form, model=None):
        """The values to preview: the form's, over the record being edited (nothing is written)."""
        values = {name: field.data for name, field in form._fields.items() if name not in ("csrf_token", "upload")}
        if model is not None:
            values.setdefault("id", model.id)
        return SimpleNamespace(**values)

    def preview_html(self, item) -> Markup:
        """The member's view of ``item``."""
        return Markup(render_template(self.preview_template, item=item, today=local_today(utcnow()),
                                      member_link=member_link))

    def validate_form(self, form) -> bool:
        if request.method == "POST" and PREVIEW_BUTTON in request.form:
            if super().validate_form(form):
                g.content_preview = self.preview_html(self.preview_item(form, getattr(g, "preview_model", None)))
            return False  # never saved: Flask-Admin shows the form again, with the preview above it
        return super().validate_form(form)

    def get_one(self, id):
        model = super().get_one(id)
        g.preview_model = model
        return model

    def render(self, template, **kwargs):
        kwargs.setdefault("preview", g.get("content_preview"))
        kwargs.setdefault("preview_button", PREVIEW_BUTTON)
        kwargs.setdefault("preview_title", self.preview_title)
        return super().render(template, **kwargs)

    def details_extra(self, model) -> dict:
        return {**super().details_extra(model), "preview": self.preview_html(model)}
