"""Parts of the page layout that are the same for every visitor of a language: rendered once and kept.

The header's start, the menu bar and the footer print nothing about the member (the member's name and the
sign-out form's token stay in base.html, drawn on each page); so each part is drawn once per language and per
value of what it shows (the menu: collective contract or not, and which of its links is the page), then reused as
it is. A part's template may use nothing but its arguments, the language and the app's addresses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from flask import Flask, current_app, g, request
from markupsafe import Markup, escape

from web import escape_text
from web.kept import Kept

from .i18n import current_language

T = TypeVar("T")

#: Parts kept per app: a few templates times two languages times the values they show (the menu's page, ...).
MAX_PARTS = 500


def _page_layout() -> tuple:
    """What the parts of this page depend on, and where they are kept, found once per request (a page draws
    several parts: each lookup of the request's context has a cost)."""
    found = g.get("_member_layout")
    if found is None:
        app = current_app._get_current_object()
        found = g._member_layout = (current_language(), request.script_root, app.extensions["member_layout"],
                                    app.jinja_env)
    return found


def kept(key: tuple, make: Callable[[], T]) -> T:
    """``make()``, made once per ``key`` in the page's language and kept with the parts: for what a page draws the
    same for every member (a form's text before its tokens are filled in)."""
    language, script_root, parts, _env = _page_layout()
    return parts.get((language, script_root, *key), make)


def part(template: str, **values) -> Markup:
    """``template`` rendered with ``values`` in the page's language, drawn once and kept."""
    language, script_root, parts, env = _page_layout()
    return parts.get((template, language, script_root, *values.items()),
                     lambda: Markup(env.get_template(template).render(**values)))


def part_text(text) -> Markup:
    """``text`` as a part with placeholders holds it (``part_text(_('...'))`` in its template): escaped, and its
    ``%`` doubled, so that filling the part's placeholders leaves it as it is."""
    return escape(text).replace("%", "%%")


def fill(pattern: Markup, values: Mapping[str, object]) -> Markup:
    """A part with ``%(name)s`` placeholders filled with ``values``, each escaped (a person's section, a line
    whose part depends on its kind)."""
    return Markup(str(pattern) % {name: escape_text(str(value)) for name, value in values.items()})


def fill_lines(pattern: Markup, lines: Iterable[Mapping[str, object]]) -> Markup:
    """A part with ``%(name)s`` placeholders (a table's line) filled with each of ``lines`` in turn, every value
    escaped: ``pattern % line`` for each line, without a Markup and an escaping helper per value (a page fills
    hundreds of cells)."""
    text = str(pattern)
    return Markup("\n".join(text % {name: escape_text(str(value)) for name, value in line.items()}
                            for line in lines))


def install(app: Flask) -> None:
    """Offer ``part()``, ``part_text()`` and ``fill_lines()`` to every template (the outage page too: a part needs
    neither the database nor a member)."""
    app.extensions["member_layout"] = Kept(MAX_PARTS)
    app.jinja_env.globals.update(part=part, part_text=part_text, fill_lines=fill_lines)
