"""web.escape_text escapes as markupsafe.escape does, with its C speedups and without them."""

from __future__ import annotations

import pytest
from markupsafe import escape

import web

TEXTS = ["", "Zoé RIMON", "<script>alert('x')</script>", 'a "quoted" & <b>bold</b>', "O'Brien & fils > 2 < 3",
         "déjà échappé &amp; &#39;", "\u00a0€ 1 234,56"]


@pytest.mark.parametrize("escape_text", [web.escape_text, web._escape_replacing], ids=["used", "pure-python"])
@pytest.mark.parametrize("text", TEXTS)
def test_escape_text_writes_what_markupsafe_writes(escape_text, text):
    escaped = escape_text(text)
    assert type(escaped) is str and escaped == str(escape(text))


def test_the_compiled_escaping_is_used_when_markupsafe_has_it():
    speedups = pytest.importorskip("markupsafe._speedups")
    assert web.escape_text is speedups._escape_inner
