"""web.escape_text escapes as markupsafe.escape does, with its C speedups and without them."""

from __future__ import annotations

from datetime import date

import pytest
from markupsafe import Markup, escape

import web
from models.requests.entities import RequestStatus

TEXTS = ["", "Zoé RIMON", "<script>alert('x')</script>", 'a "quoted" & <b>bold</b>', "O'Brien & fils > 2 < 3",
         "déjà échappé &amp; &#39;", "\u00a0€ 1 234,56"]


@pytest.mark.parametrize("escape_text", [web.escape_text, web._escape_public], ids=["used", "fallback"])
@pytest.mark.parametrize("text", TEXTS)
def test_escape_text_writes_what_markupsafe_writes(escape_text, text):
    escaped = escape_text(text)
    assert type(escaped) is str and escaped == str(escape(text))


def test_the_compiled_escaping_is_used_when_markupsafe_has_it():
    speedups = pytest.importorskip("markupsafe._speedups")
    assert web.escape_text is speedups._escape_inner


@pytest.mark.parametrize("value", ["<b>x</b>", 42, 3.5, None, date(2026, 12, 2), Markup("<em>sûr</em>"),
                                   RequestStatus.IN_PROGRESS, ["<a>", "&"]])
def test_a_back_office_cell_is_written_as_markupsafe_escapes_it(value):
    from backoffice.views.base import _cell_text

    written = _cell_text(value)
    assert type(written) is str and written == str(escape(value))
