"""Web plumbing shared by the member area and the back office: database glue, headers, start-up checks."""

from __future__ import annotations

import re
import secrets
import sys
import time

from collections.abc import Iterable

from flask import Flask, abort, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface
from flask_sqlalchemy_lite import SQLAlchemy
from flask_wtf.csrf import generate_csrf
from itsdangerous import URLSafeTimedSerializer
from markupsafe import escape
from werkzeug.sansio.utils import host_is_trusted

from models.config import ModelsConfig
from models.db import (
    engine_options, install_autocommit_until_write, install_idle_ping, install_read_only_commit, install_sqlite_pragmas,
    prepare,
)
from models.files import storage

from .kept import Kept


def _escape_public(text: str) -> str:
    """``text`` escaped by markupsafe's public ``escape``, as a plain str."""
    return str(escape(text))


try:
    # markupsafe's own C escaping of a str, without the Markup object its public escape() wraps it in: pages that
    # fill hundreds of cells escape each value (20 times faster than str.translate with a table, 10 than escape()).
    from markupsafe._speedups import _escape_inner as _escape_c
except ImportError:  # markupsafe without its compiled speedups, or a release that renamed it
    _escape_c = None

#: ``escape_text(text)``: a str escaped for HTML as markupsafe.escape escapes it, returned as a plain str.
escape_text = _escape_c or _escape_public


def configure_database(app: Flask, db: SQLAlchemy, config: ModelsConfig) -> None:
    """Bind the app's Flask-SQLAlchemy-Lite ``db`` to the configured database."""
    prepare(config)
    storage.configure(config.files_dir)
    app.config["SQLALCHEMY_ENGINES"] = {
        "default": {"url": config.database_url, **engine_options(config.database_url)}
    }
    db.init_app(app)
    # The apps use no async session: without this, Flask runs Flask-SQLAlchemy-Lite's async teardown through
    # asgiref (an event loop in a thread) at the end of every request, for nothing.
    app.teardown_appcontext_funcs[:] = [f for f in app.teardown_appcontext_funcs
                                        if getattr(f, "__name__", "") != "_close_async_sessions"]
    with app.app_context():
        install_sqlite_pragmas(db.engine)
        install_idle_ping(db.engine)
        install_read_only_commit(db.engine)
        install_autocommit_until_write(db.engine)  # a page that only reads needs no BEGIN nor COMMIT


def refuse_unsafe_start(problems: list[str], app_name: str) -> None:
    """Stop the start-up with a clear message when production settings are unsafe."""
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        sys.exit(f"{app_name} refuses to start with MESE_ENV=production:\n{lines}")


class PageSessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, sent again with pages only, never with a static file.

    With ``refresh_on_activity``, an unchanged session's cookie is sent again (its expiry pushed back) only with
    a page that noted activity in the server-side session (``note_session_activity``, at most once a minute),
    not with every page: signing the cookie again is a good part of a page's fixed cost."""

    def __init__(self, *, refresh_on_activity: bool = False) -> None:
        self.refresh_on_activity = refresh_on_activity
        self._serializers: dict = {}

    def get_signing_serializer(self, app: Flask):
        # Flask builds the serializer again on each request; it holds no state but its keys: kept per keys.
        keys = (app.secret_key, tuple(app.config.get("SECRET_KEY_FALLBACKS") or ()))
        found = self._serializers.get(keys)
        if found is None:
            found = self._serializers[keys] = super().get_signing_serializer(app)
        return found

    def should_set_cookie(self, app: Flask, session) -> bool:
        # A permanent session's cookie is re-sent to push its expiry back. A static file asked by the previous
        # page can finish after a newer page changed the session (the language, a sign-in step): re-sending the
        # older cookie it arrived with would undo that change.
        endpoint = request.endpoint or ""
        if endpoint == "static" or endpoint.endswith(".static"):
            return False
        if self.refresh_on_activity and not session.modified:
            # The server-side session outlives its last noted activity by the idle time plus a minute
            # (models.sessions.operations._live): a cookie pushed back at each noted activity never ends first
            # by more than that minute.
            return session.permanent and bool(g.get("session_activity_noted"))
        return super().should_set_cookie(app, session)


def csp_nonce() -> str:
    """The nonce of this response's Content-Security-Policy, for <script nonce=...> tags."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


#: Seconds a session's signed CSRF token is given again before it is signed anew (it stays valid for
#: WTF_CSRF_TIME_LIMIT from its signing: at most this much less than a freshly signed one).
CSRF_SIGNED_FOR_SECONDS = 60
#: Signed CSRF tokens of the current time slot, by signing key, session token and slot.
_SIGNED_CSRF: Kept[str] = Kept(20_000)
_CSRF_SIGNERS: dict[str, URLSafeTimedSerializer] = {}


def install_csrf(app: Flask, csrf) -> None:
    """CSRF protection of every POST (Flask-WTF's ``csrf``); templates' ``csrf_token()`` is :func:`csrf_token`."""
    csrf.init_app(app)
    # Flask-WTF gives templates its own generate_csrf twice: as a global and by a context processor (which
    # would win over the global, and runs for every template).
    app.template_context_processors[None][:] = [
        f for f in app.template_context_processors[None]
        if getattr(f, "__qualname__", "") != "CSRFProtect.init_app.<locals>.<lambda>"]
    app.jinja_env.globals["csrf_token"] = csrf_token


def csrf_token() -> str:
    """Flask-WTF's signed CSRF token of this session (``generate_csrf``), signed once per session and
    CSRF_SIGNED_FOR_SECONDS, not on every page: its signature is a good part of a page's fixed cost."""
    if "csrf_token" in g:
        return g.csrf_token
    secret = current_app.config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
    slot = int(time.time() // CSRF_SIGNED_FOR_SECONDS)
    raw = session.get("csrf_token")
    if not isinstance(raw, str):  # a session's first token: Flask-WTF makes and signs it
        token = generate_csrf()
        return _SIGNED_CSRF.get((secret, session["csrf_token"], slot), lambda: token)
    signer = _CSRF_SIGNERS.get(secret)
    if signer is None:
        signer = _CSRF_SIGNERS[secret] = URLSafeTimedSerializer(secret, salt="wtf-csrf-token")
    token = g.csrf_token = _SIGNED_CSRF.get((secret, raw, slot), lambda: signer.dumps(raw))
    return token


def install_security_headers(app: Flask, *, hsts: bool) -> None:
    """Add CSP (no inline script), HSTS, frame and sniffing protections to every response."""
    app.jinja_env.globals["csp_nonce"] = csp_nonce

    @app.after_request
    def _headers(response):
        nonce = csp_nonce()
        response.headers.setdefault(
            "Content-Security-Policy",
            f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; "
            "img-src 'self' data:; font-src 'self'; worker-src 'self' blob:; connect-src 'self'; "
            "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if hsts:
            response.headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if request.endpoint != "static" and "Cache-Control" not in response.headers:
            response.headers["Cache-Control"] = "no-store"
        return response


def skip_idle_limit_checks(app: Flask, limiter) -> None:
    """No rate-limit work before a GET that no limit counts.

    Flask-Limiter's before_request hook looks for limits of the whole app (default, application, blueprint, meta
    limits; none in our apps) on every request; a view's own ``@limiter.limit`` is checked by its decorator, which
    this leaves alone. So a GET skips the hook while the app has no such limit (read at each request: one added
    later is counted). Call after ``limiter.init_app(app)``."""
    from flask_limiter import Limiter

    funcs = app.before_request_funcs[None]
    index = next(i for i, f in enumerate(funcs) if getattr(f, "__func__", None) is Limiter._check_request_limit)
    check = funcs[index]
    manager = limiter.limit_manager

    def check_request_limit():
        if request.method in ("GET", "HEAD") and not (
                manager.application_limits or manager.default_limits or manager._blueprint_limits
                or limiter._meta_limits or manager.has_hints(request.endpoint or "")):
            return None
        return check()

    funcs[index] = check_request_limit


def rate_limit_settings(storage_url: str, key_prefix: str) -> dict:
    """Flask-Limiter settings of an app: moving window; a Redis outage falls back to memory, fast."""
    return {
        "RATELIMIT_STORAGE_URI": storage_url,
        "RATELIMIT_KEY_PREFIX": key_prefix,
        "RATELIMIT_STRATEGY": "moving-window",
        "RATELIMIT_HEADERS_ENABLED": True,
        # Redis down must not stop sign-in: limits fall back to this process's memory meanwhile
        # (per-account locks in the database still hold), and a dead Redis answers fast.
        "RATELIMIT_SWALLOW_ERRORS": True,
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_STORAGE_OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }


_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def install_input_guard(app: Flask, *, file_fields: Iterable[str] = ()) -> None:
    """Answer 400 to control characters (NUL...) in the query, the form or the path: no field accepts them;
    and to a file sent in place of a text field: only the upload fields named in ``file_fields`` take files
    (a form with a new upload field must name it here)."""
    allowed_files = frozenset(file_fields)

    @app.before_request
    def _refuse_odd_input():
        values = [*request.args.values(), *(request.view_args or {}).values()]
        # Without a Content-Type, Werkzeug parses no form and no file (a GET): no need to build empty ones.
        if request.environ.get("CONTENT_TYPE"):
            if any(name not in allowed_files for name in request.files):
                abort(400)
            values.extend(request.form.values())
        if any(isinstance(v, str) and _CONTROL_CHARACTERS.search(v) for v in values):
            abort(400)


def link_base_url(public_url: str, allowed_hosts: Iterable[str]) -> str:
    """Scheme and host of links sent by e-mail: ``public_url``; without it, the request's own address, but only
    when its host is one of ``allowed_hosts`` (else 400): a forged Host header never reaches an e-mail."""
    if public_url:
        return public_url.rstrip("/")
    if not host_is_trusted(request.host, list(allowed_hosts)):
        abort(400)
    return request.host_url.rstrip("/")


def note_session_activity(db: SQLAlchemy, web_session, now) -> None:
    """Write a session's last activity (at most once a minute) in a transaction of its own; the request then
    notes it (``g.session_activity_noted``)."""
    from models.sessions.operations import needs_touch, touch

    if needs_touch(web_session, now):
        with db.sessionmaker() as own:
            touch(own, web_session.id, now)
            own.commit()
        g.session_activity_noted = True


def client_ip() -> str | None:
    """The caller's address (ProxyFix has already applied trusted X-Forwarded-For)."""
    return request.remote_addr


def check_redis_reachable(environ=None) -> None:
    """In production, stop the start-up with a clear message when Redis does not answer."""
    from jobs.config import JobsConfig
    from models.config import ModelsConfig

    models_config, jobs_config = ModelsConfig.from_env(environ), JobsConfig.from_env(environ)
    if not models_config.is_production or not jobs_config.redis_url:
        return  # a missing REDIS_URL is reported by each app's own configuration check
    import redis

    try:
        redis.Redis.from_url(jobs_config.redis_url, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as exc:
        refuse_unsafe_start([f"Redis at REDIS_URL does not answer ({exc.__class__.__name__})"], "MESE")
