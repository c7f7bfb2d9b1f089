"""Keyset pages: the next or previous page of a list is read through the index of its order, never with OFFSET.

A page's cursor is the sort key of its last (or first) row, e.g. ``(created_at, id)``; the next page is
``WHERE (created_at, id) > (:c, :i) ORDER BY created_at, id LIMIT n``, which costs the same at page 2 and at
page 20,000. Cursors travel in URLs as short opaque text and are checked when read back.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import tuple_
from sqlalchemy.sql.elements import ColumnElement

#: Python types a cursor may carry, by the name written in the cursor.
_TYPES = {"i": int, "s": str, "d": date, "t": datetime}


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after (or, for a previous page, before) the row whose sort key is ``values``."""

    values: tuple[Any, ...]
    before: bool = False


def _tag(value: Any) -> list:
    if isinstance(value, bool) or value is None:
        raise TypeError("no cursor through a null or boolean sort key")
    if isinstance(value, datetime):
        return ["t", value.isoformat()]
    if isinstance(value, date):
        return ["d", value.isoformat()]
    if isinstance(value, int):
        return ["i", value]
    return ["s", str(value)]


def encode_cursor(values: Sequence[Any]) -> str | None:
    """The URL text of a sort key (None when a value cannot be a cursor: a null, a boolean)."""
    try:
        payload = json.dumps([_tag(v) for v in values], separators=(",", ":"))
    except TypeError:
        return None
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_cursor(text: str | None, *, width: int, before: bool = False) -> Cursor | None:
    """The cursor written by :func:`encode_cursor`, or None when ``text`` is not one of ``width`` values."""
    if not text or len(text) > 400:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(raw, list) or len(raw) != width:
            return None
        values = []
        for tag, value in raw:
            kind = _TYPES[tag]
            if kind is int:
                if not isinstance(value, int) or isinstance(value, bool) or abs(value) >= 2**63:
                    return None
                values.append(value)
            elif kind is str:
                values.append(str(value)[:200])
            else:
                parsed = kind.fromisoformat(value)
                if kind is datetime and parsed.tzinfo is None:
                    return None
                values.append(parsed)
    except (ValueError, TypeError, KeyError, json.JSONDecodeError):
        return None
    return Cursor(tuple(values), before)


def after(columns: Sequence[ColumnElement], descending: bool, cursor: Cursor) -> ColumnElement[bool]:
    """Rows after the cursor in the list's order (before it for a previous page): one row comparison,
    which PostgreSQL and SQLite answer from an index on ``columns``."""
    row = tuple_(*columns)
    forward = descending == cursor.before
    return row > tuple_(*cursor.values) if forward else row < tuple_(*cursor.values)


def ordering(columns: Sequence[ColumnElement], descending: bool, cursor: Cursor | None) -> list:
    """ORDER BY of the query of a page: the list's order, reversed for a previous page (rows are then
    put back in the list's order by the caller)."""
    reverse = descending != bool(cursor and cursor.before)
    return [c.desc() if reverse else c.asc() for c in columns]
