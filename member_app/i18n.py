"""French and English in the member area: the language of a visit, of a member, and of the rules' messages."""

from __future__ import annotations

from typing import Any

from flask import Flask, request, session
from markupsafe import Markup, escape
from flask_babel import get_locale
from flask_login import current_user

from models.base import utcnow
from models.i18n import DEFAULT_LANGUAGE, LANGUAGES, localize
from models.members.operations import choose_language
from web import client_ip

from .extensions import babel, db

#: Key of the Flask session holding the language of the visit.
LANGUAGE_KEY = "lang"


def current_language() -> str:
    """The language of this page: fr or en."""
    return str(get_locale())


def translate(text: Any) -> Any:
    """A Message raised by the rules of models/, in the language of this page; other values as they are."""
    return localize(text, current_language())


def staff_lang() -> Markup:
    """The ``lang="fr"`` attribute of an element holding text staff wrote in French, when the page is not French."""
    return Markup("") if current_language() == DEFAULT_LANGUAGE else Markup(' lang="fr"')


def staff_text(text: Any) -> Markup:
    """Text staff wrote in French, marked as French when the page is not (screen readers then read it right)."""
    if current_language() == DEFAULT_LANGUAGE:
        return escape(text)
    return Markup('<span lang="fr">%s</span>') % text


def _select_locale() -> str:
    return session.get(LANGUAGE_KEY) or DEFAULT_LANGUAGE


def _follow_language_switch() -> None:
    """``?lang=en`` switches the visit (and the signed-in member's e-mails) to English; a member's visit
    starts in the member's language."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        session[LANGUAGE_KEY] = asked
        if current_user.is_authenticated:
            remember_language(current_user._get_current_object())
    elif LANGUAGE_KEY not in session and current_user.is_authenticated:
        session[LANGUAGE_KEY] = current_user.language


def remember_language(member) -> None:
    """Keep the language of this visit as the member's language (e-mails and SMS follow it)."""
    if choose_language(db.session, member, _select_locale(), ip=client_ip(), now=utcnow()):
        db.session.commit()


def install(app: Flask) -> None:
    """Babel with the visit's language; Messages of the rules shown in it wherever a template prints one."""
    babel.init_app(app, locale_selector=_select_locale, default_translation_directories="../translations")
    app.before_request(_follow_language_switch)
    app.jinja_env.globals["current_language"] = current_language
    app.jinja_env.filters["tr"] = translate
    app.jinja_env.filters["staff_text"] = staff_text
    app.jinja_env.globals["staff_lang"] = staff_lang
    app.jinja_env.finalize = translate
