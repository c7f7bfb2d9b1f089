"""Form fields and error lists shared by the member area's pages."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import TypeVar

from flask import current_app, request
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.form import SUBMIT_METHODS
from markupsafe import Markup, escape
from wtforms import BooleanField, DateField, Form, MultipleFileField, SelectField
from wtforms.fields import HiddenField
from wtforms.fields.choices import Choice
from wtforms.widgets import core as widgets

from models.errors import DomainError, ValidationFailed
from web import csrf_token

T = TypeVar("T")

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


_MAX_ID = 2**31 - 1


def optional_id(value) -> int | None:
    """A chosen id from a select: None when nothing is chosen, -1 for a value that is no id at all."""
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    try:
        number = int(value)
    except (TypeError, ValueError):
        return -1
    return number if 0 < number <= _MAX_ID else -1


class RequestForm(FlaskForm):
    """What every form sending a request shares: a one-time token (a second click sends nothing more),
    the member's files, and the confirmation that a file sent lately is meant to be sent again."""

    # The label WTForms would make from the name, given here: a field without one loads WTForms' own message
    # catalogue from disk to translate it, on every form built.
    form_token = HiddenField("Form Token")
    files = MultipleFileField(_l("Fichiers"))
    confirm_duplicates = BooleanField(_l("Envoyer quand même"))

    def ensure_token(self) -> None:
        """Give a fresh form its one-time token (kept as is when the form comes back with errors)."""
        if not self.form_token.data:
            self.form_token.data = secrets.token_urlsafe(24)

    def uploaded(self) -> list[tuple[str, bytes]]:
        """The files the member chose, as (name, bytes); empty file fields are left out by the checks."""
        return [(f.filename or "", f.read()) for f in request.files.getlist(self.files.name)]


def people_choices(people, placeholder: str) -> list[tuple[str, str]]:
    """Choices of a "person" select: the placeholder, then each person with their role."""
    from .i18n import translate

    return [("", placeholder)] + [(str(p.id), f"{p.full_name} ({translate(p.role.label)})") for p in people]


def show_errors(form: Form, errors: dict, *, fallback: str) -> None:
    """Put the messages of the rules next to their fields (``fallback``: the field of a message without one)."""
    from .i18n import translate

    for name, messages in errors.items():
        field = getattr(form, name or fallback, None) or getattr(form, fallback)
        shown = [translate(message) for message in messages]
        field.errors = list(field.errors) + [m for m in shown if m not in field.errors]


def send_form(form: Form, use_case: Callable[[], T], *, fallback: str) -> tuple[T | None, DomainError | None]:
    """Run ``use_case`` (a rule of models/ applied to the sent ``form``) and commit: (its result, None); refused,
    roll back and put the rules' messages next to their fields (``fallback``: the field of a message without
    one): (None, the refusal)."""
    from .extensions import db

    try:
        result = use_case()
    except ValidationFailed as exc:
        db.session.rollback()
        show_errors(form, exc.errors, fallback=fallback)
        return None, exc
    except DomainError as exc:
        db.session.rollback()
        show_errors(form, {exc.field: [exc.message]}, fallback=fallback)
        return None, exc
    db.session.commit()
    return result, None


_QUOTE, _ESCAPED_QUOTE = Markup('"'), Markup("&quot;")


@lru_cache(maxsize=256)
def _attribute_name(key: str) -> str:
    return str(escape(widgets.clean_key(key)))


def html_params(**kwargs) -> Markup:
    """WTForms' ``html_params`` (the attributes of a field), the same text written without ``Markup.format``,
    whose pure-Python formatter made half the cost of a form page (a select has an attribute list per option)."""
    params = []
    for key, value in sorted(kwargs.items()):
        if value is True:
            params.append(_attribute_name(key))
        elif value is not False:
            text = escape(value)
            if type(value) is not str:  # escaping a plain string leaves no quote; safe HTML may hold some
                text = text.replace(_QUOTE, _ESCAPED_QUOTE)
            params.append(f'{_attribute_name(key)}="{text}"')
    return Markup(" ".join(params))


def install_html_params() -> None:
    """Have WTForms' widgets use ``html_params`` above, and find once per widget class how to call its
    ``render_option`` (WTForms reads its signature again for every select drawn). Process-wide: the text is
    the same, only faster."""
    widgets.html_params = html_params
    for widget in vars(widgets).values():
        if isinstance(widget, type) and "html_params" in vars(widget):
            widget.html_params = staticmethod(html_params)
    dispatch = widgets.Select._dispatch_render_option.__func__
    if not hasattr(dispatch, "cache_info"):
        widgets.Select._dispatch_render_option = classmethod(cache(dispatch))
    widgets.Select.__call__ = _select
    widgets.Input.__call__ = _input
    widgets.TextArea.__call__ = _textarea


def _flags(self, field, kwargs: dict, call: bool) -> None:
    """The field's flags that the widget writes as attributes, read from the flags set (WTForms lists them with
    ``dir()``, which costs more than the whole attribute list; a flag is only ever an instance attribute)."""
    flags = getattr(getattr(field, "flags", None), "__dict__", {})
    for name in self.validation_attrs:
        if name in flags and name not in kwargs:
            value = flags[name]
            kwargs[name] = value() if call and callable(value) else value


def _input(self, field, **kwargs) -> Markup:
    """WTForms' ``Input`` widget, the same text, its flags read by :func:`_flags`."""
    kwargs.setdefault("id", field.id)
    kwargs.setdefault("type", self.input_type)
    if "value" not in kwargs:
        kwargs["value"] = field._value()
    datalist = getattr(field, "_datalist", None)
    if datalist is not None and "list" not in kwargs:
        kwargs["list"] = datalist if isinstance(datalist, str) else datalist.id
    _flags(self, field, kwargs, True)
    return Markup(f"<input {self.html_params(name=field.name, **kwargs)}>")


def _textarea(self, field, **kwargs) -> Markup:
    """WTForms' ``TextArea`` widget, the same text, its flags read by :func:`_flags`."""
    kwargs.setdefault("id", field.id)
    _flags(self, field, kwargs, False)
    return Markup(f"<textarea {html_params(name=field.name, **kwargs)}>\r\n{escape(field._value())}</textarea>")


_WTFORMS_RENDER_OPTION = widgets.Select.render_option


def _select(self, field, **kwargs) -> Markup:
    """WTForms' ``Select`` widget, the same text: the field's flags read from the flags set (not from ``dir()``),
    and a plain option written directly (an option dictionary and an attribute list each cost more than the
    option's text)."""
    kwargs.setdefault("id", field.id)
    if self.multiple:
        kwargs["multiple"] = True
    flags = getattr(getattr(field, "flags", None), "__dict__", {})
    for name in self.validation_attrs:
        if name in flags and name not in kwargs:
            kwargs[name] = flags[name]
    html = [f"<select {html_params(name=field.name, **kwargs)}>"]
    own = getattr(type(self).render_option, "__func__", None) is _WTFORMS_RENDER_OPTION.__func__
    render = _option if own else type(self)._dispatch_render_option()
    if field.has_groups():
        for optgroup, choices in field._iter_groups_normalized():
            if optgroup is not None:
                html.append(f"<optgroup {html_params(label=optgroup)}>")
            html.extend(render(choice) for choice in choices)
            if optgroup is not None:
                html.append("</optgroup>")
    else:
        html.extend(render(choice) for choice in field._iter_choices_normalized())
    html.append("</select>")
    return Markup("".join(html))


def _option(choice) -> str:
    """``Select.render_option`` of WTForms for one choice (its attributes in the same sorted order)."""
    if choice.render_kw:
        return _WTFORMS_RENDER_OPTION(choice)
    value = str(choice.value) if isinstance(choice.value, bool) else choice.value
    text = escape(value)
    if type(value) is not str:  # as html_params writes it
        text = text.replace(_QUOTE, _ESCAPED_QUOTE)
    label = escape(choice.label or choice.value)
    if choice.selected:
        return f'<option selected value="{text}">{label}</option>'
    return f'<option value="{text}">{label}</option>'


def field_control(field, attrs: dict, ids, invalid: bool, required: bool = False) -> Markup:
    """The control of a form field with what ties it to its help and error (member/_forms.html): the ids in
    ``ids`` that are set as ``aria-describedby``, ``aria-invalid``, ``required``."""
    values = dict(attrs)
    described = " ".join(i for i in ids if i)
    if described:
        values["aria-describedby"] = described
    if invalid:
        values["aria-invalid"] = "true"
    if required:
        values["required"] = True
    return field(**values)


_HAS_ERROR = Markup(' has-error')
_REQUIRED_MARK = Markup('<span class="req" aria-hidden="true">*</span>')


def field_html(f, required=False, help=None, attrs=None, also_described_by="", hidden_errors=(),
               invalid=False) -> Markup:
    """A form field with its label, help and error (the ``field`` of member/_forms.html): the text the macro
    wrote, in one call (a form page draws several fields; a macro's filters and calls cost more than its text)."""
    from flask_babel import gettext

    from .i18n import translate

    fid = escape(f.id)
    errors = f.errors
    shown = [e for e in errors if e not in hidden_errors] if errors else ()
    invalid = invalid or len(errors) > 0
    control = field_control(f, attrs or {}, [f"{f.id}-help" if help else "", f"{f.id}-error" if shown else "",
                                             also_described_by], invalid, required)
    html = [f'\n<div class="field{_HAS_ERROR if invalid else ""}">\n',
            f'  <label for="{fid}">{escape(translate(f.label.text))}{_REQUIRED_MARK if required else ""}</label>\n',
            f"  {control}\n"]
    if help:
        html.append(f'  <p class="help" id="{fid}-help">{escape(translate(help))}</p>\n')
    if shown:
        html.append(f'  <p class="error" id="{fid}-error"><span class="visually-hidden">{Markup(gettext("Erreur :"))}'
                    f' </span>{Markup(" ").join(shown)}</p>\n')
    html.append("</div>\n")
    return Markup("".join(html))


#: A value a fresh form's kept text holds in the place of what each request writes (see :class:`FreshForm`): markupsafe
#: escapes none of its characters.
_MARK = "@@mese:{}@@"
_MARKS = re.compile(r"@@mese:(\w+)@@")


def options_html(choices, selected: str = "") -> str:
    """The options of a select, as the member app's Select widget writes them: ``choices`` a list of (value, label)
    or (value, label, attributes), or a dict of such lists by group label; the one whose value is ``selected``
    chosen."""
    if isinstance(choices, dict):
        html = []
        for group, items in choices.items():
            html.append(f"<optgroup {html_params(label=group)}>")
            html.extend(_option(Choice(item[0], item[1], item[0] == selected, item[2] if len(item) > 2 else None))
                        for item in items)
            html.append("</optgroup>")
        return "".join(html)
    return "".join(_option(Choice(item[0], item[1], item[0] == selected, item[2] if len(item) > 2 else None))
                   for item in choices)


def submitted() -> bool:
    """This request sends a form (what ``FlaskForm.is_submitted`` says, without a form)."""
    return request.method in SUBMIT_METHODS


class FreshForm:
    """A form's template as a page shows it before anything is sent (a GET): drawn once per language with marks
    in the place of what changes (the CSRF and one-time tokens, the options of each select, the ``texts``
    given), kept, and filled on each request without building the WTForms form (building and drawing it cost
    more than the rest of the page). A form that comes back (sent, with errors) is drawn from the same template.
    Without ``form_class``: a page's content the same for everybody but the ``texts``. What is drawn once must be
    the same for every request: a field's value comes from ``data`` (never a default computed per request)."""

    def __init__(self, form_class: type[FlaskForm] | None, template: str) -> None:
        self.form_class = form_class
        self.template = template

    def render(self, form: Form, **values) -> Markup:
        """The template drawn with ``form`` (sent, with its values and errors) and ``values``."""
        return Markup(current_app.jinja_env.get_template(self.template).render(form=form, **values))

    def fresh(self, *, choices: Mapping[str, tuple] | None = None, texts: Mapping[str, object] | None = None,
              data: Mapping[str, object] | None = None, **values) -> Markup:
        """The template for a form nobody sent: ``choices`` gives each select's (choices, chosen value) (see
        :func:`options_html`), ``data`` the value shown in text fields (a member's address), ``texts`` the template
        values written escaped, ``values`` the other template values (the same for every member: part of the kept
        text's key)."""
        from .layout import kept

        texts, data = texts or {}, data or {}
        pieces = kept(("fresh form", self.template, *values.items()), lambda: self._pieces(values, texts, data))
        fills = {"csrf_token": escape(csrf_token()), "form_token": secrets.token_urlsafe(24)}
        for name, (items, selected) in (choices or {}).items():
            fills[name] = options_html(items, "" if selected is None else str(selected))
        for name, text in texts.items():
            fills[name] = escape(text)
        for name, value in data.items():  # as a text field writes its value
            fills[name] = "" if value is None else escape(str(value))
        return Markup("".join([piece if index % 2 == 0 else fills[piece] for index, piece in enumerate(pieces)]))

    def _pieces(self, values: dict, texts: Mapping[str, object], data: Mapping[str, object]) -> tuple[str, ...]:
        """The template drawn with marks, cut into text and the names of what fills it, in turn."""
        marks = {name: _MARK.format(name) for name in texts}
        if self.form_class is None:  # a page's content with no WTForms form: marks for the texts only
            return tuple(_MARKS.split(str(self.render(None, **values, **marks))))
        form = self.form_class(formdata=None)
        csrf = getattr(form, form.meta.csrf_field_name, None) if form.meta.csrf else None
        if csrf is not None:
            csrf.current_token = _MARK.format("csrf_token")
        for name in ("form_token", *data):
            if hasattr(form, name):
                getattr(form, name).data = _MARK.format(name)
        selects = [field for field in form if isinstance(field, SelectField)]
        for field in selects:
            field.choices = [(_MARK.format(field.name), _MARK.format(field.name))]
        html = str(self.render(form, **values, **marks))
        for field in selects:
            mark = _MARK.format(field.name)
            html = html.replace(f'<option value="{mark}">{mark}</option>', mark)
        return tuple(_MARKS.split(html))
