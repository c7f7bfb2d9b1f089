"""The member area: a Flask application mounted at /."""

from __future__ import annotations

from flask import Flask, render_template, request, session
from flask_babel import get_locale
from werkzeug.middleware.proxy_fix import ProxyFix

import jobs
from web import configure_database, install_input_guard, install_security_headers, refuse_unsafe_start

from .config import MemberAppConfig
from .extensions import babel, csrf, db, limiter, login_manager

ROOT_TEMPLATES = "../templates"
LANGUAGES = ("fr", "en")
#: Names of the form fields that take files (any other file part is refused with 400).
MEMBER_FILE_FIELDS: frozenset[str] = frozenset()


def create_app(config: MemberAppConfig | None = None) -> Flask:
    """Build the member area from ``config`` (default: the environment)."""
    config = config or MemberAppConfig.from_env()
    refuse_unsafe_start(config.problems(), "The member area")
    app = Flask(__name__, template_folder=ROOT_TEMPLATES, static_folder="../static", static_url_path="/static")
    app.config.update(config.flask_settings())
    app.extensions["mese_config"] = config
    if config.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies, x_proto=config.trusted_proxies)
    _register_extensions(app, config)
    _register_blueprints(app)
    _register_errors(app)
    install_security_headers(app, hsts=config.cookie_secure)
    install_input_guard(app, file_fields=MEMBER_FILE_FIELDS)
    jobs.install_after_commit_delivery(config.jobs, config.models)
    return app


def _select_locale() -> str:
    lang = request.args.get("lang")
    if lang in LANGUAGES:
        session["lang"] = lang
    return session.get("lang") or "fr"


def _register_extensions(app: Flask, config: MemberAppConfig) -> None:
    """Database, login, CSRF, translations and rate limits."""
    configure_database(app, db, config.models)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale, default_translation_directories="../translations")
    app.jinja_env.globals["current_language"] = lambda: str(get_locale())
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Veuillez vous connecter pour accéder à cette page."
    login_manager.session_protection = "basic"


def _register_blueprints(app: Flask) -> None:
    """One blueprint per chapter of the member guide."""
    from .auth.views import bp as auth_bp
    from .home.views import bp as home_bp
    from .hospital_coverage.views import bp as hospital_coverage_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(hospital_coverage_bp, url_prefix="/prise-en-charge-hospitaliere")


def _register_errors(app: Flask) -> None:
    """French error pages that never show a traceback."""

    def page(code: int, title: str, text: str):
        return render_template("member/error.html", code=code, title=title, text=text), code

    app.register_error_handler(400, lambda e: page(400, "Requête invalide",
                               "Le formulaire a expiré ou est incomplet. Rechargez la page et réessayez."))
    app.register_error_handler(403, lambda e: page(403, "Accès refusé", "Vous n'avez pas accès à cette page."))
    app.register_error_handler(404, lambda e: page(404, "Page introuvable", "Cette page n'existe pas."))
    app.register_error_handler(413, lambda e: page(413, "Fichier trop volumineux",
                               "Le fichier envoyé dépasse la taille autorisée."))
    app.register_error_handler(429, lambda e: page(429, "Trop de tentatives",
                               "Merci de patienter quelques minutes avant de réessayer."))
    app.register_error_handler(500, lambda e: page(500, "Erreur", "Une erreur est survenue. Merci de réessayer plus tard."))
