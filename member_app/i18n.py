"""French and English in the member area: the language of a visit, of a member, and of the rules' messages."""

from __future__ import annotations

from typing import Any

from flask import Flask, g, has_request_context, request, session
from jinja2 import pass_context
from markupsafe import Markup, escape
from flask_babel import Domain, get_locale
from flask_login import current_user

from models.base import utcnow
from models.i18n import DEFAULT_LANGUAGE, LANGUAGES, Message, localize, translations
from models.members.operations import choose_language
from web import client_ip

from .extensions import babel, db

#: Key of the Flask session holding the language of the visit.
LANGUAGE_KEY = "lang"


def current_language() -> str:
    """The language of this page: fr or en (Flask-Babel keeps the page's locale too once asked)."""
    language = g.get("_language")
    if language is None:
        # What Flask-Babel's locale would say (str(get_locale()) is the selected code for fr and en), without
        # parsing a Locale for a page that formats nothing with Babel.
        selected = _select_locale()
        language = g._language = selected if selected in LANGUAGES else str(get_locale())
    return language


def translate(text: Any) -> Any:
    """A Message raised by the rules of models/, in the language of this page; other values as they are.

    It is also the templates' ``finalize`` (it sees every printed value): anything but a Message goes back at
    once, without looking up the page's language."""
    if not isinstance(text, Message):
        return text
    return localize(text, current_language())


def _page_translations():
    """The catalogue of this page's language, looked up once per request (Flask-Babel's own lookup walks
    several context proxies on each of a page's hundred-odd texts)."""
    found = g.get("_translations")
    if found is None:
        found = g._translations = translations(current_language())
    return found


class _PageDomain(Domain):
    """Flask-Babel's domain, answering a page's lookups (``gettext``, ``lazy_gettext`` labels of menus and forms)
    from the catalogue found once for the page, instead of walking its context proxies on every label."""

    def get_translations(self):
        if has_request_context():
            return _page_translations()
        return super().get_translations()


def _gettext(text: str) -> str:
    return _page_translations().ugettext(text)


@pass_context
def _template_gettext(context, text: str, **variables: Any) -> str:
    """``_()`` of the templates: what Jinja's new-style gettext does (the text escaped as a whole when the page
    is, then always formatted with its variables), in one call instead of three per text."""
    found = _page_translations().ugettext(text)
    if context.eval_ctx.autoescape:
        return Markup(found) % variables if variables else Markup(str.__mod__(found, variables))
    return found % variables


def _ngettext(singular: str, plural: str, n: int) -> str:
    return _page_translations().ungettext(singular, plural, n)


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
    # Same catalogue as Flask-Babel's (translations/, domain "messages"), found once per page.
    babel.domain_instance = _PageDomain(domain="messages")
    app.jinja_env.install_gettext_callables(gettext=_gettext, ngettext=_ngettext, newstyle=True)
    app.jinja_env.globals.update({"_": _template_gettext, "gettext": _template_gettext})
    app.before_request(_follow_language_switch)
    app.jinja_env.globals["current_language"] = current_language
    app.jinja_env.filters["tr"] = translate
    app.jinja_env.filters["staff_text"] = staff_text
    app.jinja_env.globals["staff_lang"] = staff_lang
    app.jinja_env.finalize = translate
