"""Reads a page runs, sent with the sign-in check: one statement and one round trip per page.

A GET view marked with :func:`reads_ahead` names the reads it will run (``models``' ``*_reads`` functions, each
read with its parameters but the member's id); the sign-in check (``auth.views.load_member``) runs them in its own
statement on PostgreSQL (``models.db.DriverRead.first_with``), and the view's reads then find their rows there,
once, when their parameters are the same. Any other read, or a read whose parameters differ, runs as usual."""

from __future__ import annotations

from datetime import datetime

from flask import current_app, g, request

from models.base import utcnow


def reads_ahead(make):
    """Mark a GET view whose reads are ``make(now=<the sign-in check's moment>, **view_args)``."""

    def mark(view):
        view.reads_ahead = make  # functools.wraps of outer decorators carries it
        return view

    return mark


def page_reads(now: datetime) -> list:
    """The reads of this request's page to send with the sign-in check, if it is a GET of a marked view."""
    if request.method != "GET":
        return []
    make = getattr(current_app.view_functions.get(request.endpoint), "reads_ahead", None)
    return make(now=now, **(request.view_args or {})) if make is not None else []


def request_now() -> datetime:
    """The moment of this request's sign-in check: a page reading what holds "now" uses it, so that its reads
    match those sent ahead."""
    return g.get("request_now") or utcnow()
