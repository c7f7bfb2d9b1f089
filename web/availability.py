"""While the database is down: 503 with Retry-After and the product's own page; a health check for load balancers.

The outage page needs neither the database nor a signed-in user: it is a template of its own,
rendered without the context processors (Flask-Login's would load the signed-in user), that reads
nothing but the request and the session cookie (the member's language). Every error that
means "the database cannot be reached" ends there, including one raised while an ordinary error
page is drawn (that page shows who is signed in, which needs the database).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, g, jsonify, make_response, request, session
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

log = logging.getLogger(__name__)
#: Seconds a client is asked to wait before trying again (a database restart takes about this long).
RETRY_AFTER_SECONDS = 30
#: What SQLAlchemy raises when the database cannot be reached, drops the connection, or has no free one.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError, PoolTimeout)


def database_unavailable(error: BaseException | None) -> bool:
    """Whether ``error`` (or what caused it) says that the database cannot be reached."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(error, DATABASE_UNAVAILABLE) or (isinstance(error, DBAPIError) and error.connection_invalidated):
            return True
        error = error.__cause__ or error.__context__ or getattr(error, "original_exception", None)
    return False


def install_outage_page(app: Flask, template: str) -> None:
    """Answer 503, ``Retry-After`` and ``template`` whenever a request fails because the database is down."""

    def unavailable(error=None):
        log.warning("database unavailable: %s", error)
        # Not render_template: its context processors would load the signed-in user (Flask-Login),
        # which needs the database. The page gets the request and the session cookie only.
        page = app.jinja_env.get_template(template).render(
            request=request, session=session, g=g, retry_after=RETRY_AFTER_SECONDS)
        response = make_response(page, 503)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    for error_class in DATABASE_UNAVAILABLE:
        app.register_error_handler(error_class, unavailable)

    handle_exception = app.handle_exception

    def handle_exception_without_database(error: Exception):
        # Errors not handled above (raised after the view, or while drawing the ordinary error page,
        # which shows who is signed in) must not end as the server's bare "Internal Server Error".
        if database_unavailable(error):
            return app.finalize_request(unavailable(error), from_error_handler=True)
        try:
            return handle_exception(error)
        except Exception as again:
            if database_unavailable(again):
                return app.finalize_request(unavailable(again), from_error_handler=True)
            raise

    app.handle_exception = handle_exception_without_database  # type: ignore[method-assign]


def install_health_check(app: Flask, database_engine: Callable, redis_url: str, *, endpoint: str = "health") -> None:
    """``GET /health``: the database and Redis checked, nothing personal; 503 when the database is down.

    Redis down leaves the apps working (rate limits fall back to memory), so it answers 200 "degraded".
    """
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=1, socket_timeout=1) if redis_url else None

    def health():
        checks = {"database": _check(lambda: _ping_database(database_engine())),
                  "redis": _check(client.ping) if client is not None else "not configured"}
        ok = checks["database"] == "ok"
        status = "ok" if ok and checks["redis"] != "unavailable" else "degraded" if ok else "unavailable"
        response = jsonify(status=status, **checks)
        response.status_code = 200 if ok else 503
        if not ok:
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    app.add_url_rule("/health", endpoint, health, methods=["GET"])


def _ping_database(engine) -> None:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _check(probe: Callable[[], object]) -> str:
    try:
        probe()
    except Exception as exc:  # any failure is "unavailable"; the reason goes to the log, not to the caller
        log.warning("health check failed: %s", exc)
        return "unavailable"
    return "ok"
