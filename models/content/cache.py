"""Short-lived copies, in each process, of content only staff change (document categories and types, contact
reasons, service links, the no-coverage list, news, the future retirees' documents), so that a page does not read
them again on every visit.

Safe because none of it is a member's own data, and because a copy only shapes what a page offers: every rule is
checked against the database when the member sends a form (an inactive type or reason is refused then). A copy is
used for ``SECONDS`` at most, so a staff change reaches every process within that time; a change written by this
process (the back office mounted beside the member area, the demo, the tests) is seen at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from .entities import (
    ContactReason, ContentDocument, DocumentCategory, DocumentType, NewsItem, NoCoverageEstablishment, ServiceLink,
)

T = TypeVar("T")

#: How long a copy is used before the database is read again (seconds).
SECONDS = 60.0
#: At most this many copies are kept (a few readers times a few databases; a day's news are keyed by the day).
MAX_ENTRIES = 64
#: The tables copied: writing to one of them drops every copy.
TABLES = tuple(entity.__tablename__ for entity in (
    DocumentCategory, DocumentType, ContactReason, ServiceLink, NoCoverageEstablishment, NewsItem, ContentDocument))
#: The clock of the copies' age (replaced by the tests).
clock: Callable[[], float] = time.monotonic

_copies: dict[tuple, tuple[float, int, Any]] = {}
_generation = 0
_WROTE = "mese_content_written"


def cached(session: Session, name: str, read: Callable[[], T], *key: Hashable) -> T:
    """The copy of ``name`` (for ``key``) read from the database of ``session``, or ``read()`` when there is none
    younger than ``SECONDS`` nor any write to the content tables since. The value is shared: never change it."""
    _install()
    found_key = (name, session.get_bind().url, *key)
    now = clock()
    found = _copies.get(found_key)
    if found is not None and found[0] > now and found[1] == _generation:
        return found[2]
    generation = _generation
    value = read()
    if len(_copies) >= MAX_ENTRIES:
        _copies.clear()
    _copies[found_key] = (now + SECONDS, generation, value)
    return value


def clear() -> None:
    """Drop every copy."""
    global _generation
    _generation += 1
    _copies.clear()


def _note_writes(conn, _cursor, statement: str, _parameters, _context, _executemany) -> None:
    if statement.lstrip()[:6].upper() != "SELECT" and any(table in statement for table in TABLES):
        clear()
        conn.info[_WROTE] = True


def _after_commit(conn) -> None:
    # Again at commit: a page that read between the write and its commit may have kept the old content.
    if conn.info.pop(_WROTE, False):
        clear()


def _install() -> None:
    if not event.contains(Engine, "after_cursor_execute", _note_writes):
        event.listen(Engine, "after_cursor_execute", _note_writes)
        event.listen(Engine, "commit", _after_commit)
