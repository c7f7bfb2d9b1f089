"""The back office: a Flask-Admin application mounted at /backoffice, with its own login and cookie."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, render_template
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme
from jinja2 import ChoiceLoader, FileSystemLoader
from werkzeug.middleware.proxy_fix import ProxyFix

import jobs
from models.audit.operations import RecentReads
from web import (
    PageSessionInterface, configure_database, csp_nonce, install_csrf, install_input_guard, install_security_headers,
    refuse_unsafe_start, skip_idle_limit_checks,
)
from web.availability import install_health_check, install_outage_page

from .config import BackofficeConfig
from .extensions import CONFIG_KEY, RECENT_READS_KEY, babel, csrf, db, limiter, login_manager

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
#: Names of the form fields that take files (any other file part is refused with 400).
BACKOFFICE_FILE_FIELDS = frozenset({"upload"})


def create_app(config: BackofficeConfig | None = None) -> Flask:
    """Build the back office from ``config`` (default: the environment)."""
    config = config or BackofficeConfig.from_env()
    refuse_unsafe_start(config.problems(), "The back office")
    app = Flask(__name__, static_folder=str(ROOT / "static" / "backoffice"), static_url_path="/assets")
    app.config.update(config.flask_settings())
    app.session_interface = PageSessionInterface(refresh_on_activity=True)
    app.extensions[CONFIG_KEY] = config
    app.extensions[RECENT_READS_KEY] = RecentReads()
    # Our overrides of Flask-Admin templates (templates/backoffice/admin/...) come first, then the
    # shared templates/ folder, where our own pages live under backoffice/.
    app.jinja_loader = ChoiceLoader([FileSystemLoader(TEMPLATES / "backoffice"), FileSystemLoader(TEMPLATES)])
    if config.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies, x_proto=config.trusted_proxies)
    _register_extensions(app, config)
    _register_auth(app)
    _register_admin(app)
    _register_errors(app)
    install_outage_page(app, "backoffice/unavailable.html")
    install_health_check(app, lambda: db.engine, config.jobs.redis_url)
    install_security_headers(app, hsts=config.cookie_secure)
    install_input_guard(app, file_fields=BACKOFFICE_FILE_FIELDS)
    jobs.install_after_commit_delivery(config.jobs, config.models)
    return app


def _register_extensions(app: Flask, config: BackofficeConfig) -> None:
    """Database, CSRF on every POST, French translations (Flask-Admin needs Babel), staff login."""
    configure_database(app, db, config.models)
    install_csrf(app, csrf)
    limiter.init_app(app)
    skip_idle_limit_checks(app, limiter)
    babel.init_app(app, locale_selector=lambda: "fr", default_locale="fr", default_timezone="Europe/Paris")
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Veuillez vous connecter pour accéder au back office."
    # "basic": a changed IP or browser only marks the session non-fresh; idle timeout and
    # the rotating session token are what end sessions here.
    login_manager.session_protection = "basic"


def _register_auth(app: Flask) -> None:
    """Sign-in pages (password, TOTP, password change) and the per-request session checks."""
    from .auth import session_guard
    from .auth.views import bp as auth_bp

    app.register_blueprint(auth_bp)
    session_guard.install(app)


def _register_admin(app: Flask) -> None:
    """Flask-Admin with the protected index and every view of the back office."""
    from .views import register_views
    from .views.base import date_fr, datetime_fr
    from .views.queues.base import QueuesHomeView

    app.add_template_filter(date_fr, "date_fr")
    app.add_template_filter(datetime_fr, "datetime_fr")

    admin = Admin(
        app,
        name="MESE back office",
        url="/",
        theme=Bootstrap4Theme(swatch="default", fluid=True),
        index_view=QueuesHomeView(name="Accueil", url="/", template="backoffice/index.html"),
        csp_nonce_generator=csp_nonce,
    )
    # ModelView(Model, db) touches db.session, which needs an application context.
    with app.app_context():
        register_views(admin, db)


def _register_errors(app: Flask) -> None:
    """French error pages that never show a traceback."""

    def page(code: int, title: str, text: str):
        return render_template("backoffice/error.html", code=code, title=title, text=text), code

    app.register_error_handler(400, lambda e: page(400, "Requête invalide",
                               "Le formulaire a expiré ou est incomplet. Rechargez la page et réessayez."))
    app.register_error_handler(403, lambda e: page(403, "Accès refusé",
                               "Votre rôle ne donne pas accès à cette page."))
    app.register_error_handler(404, lambda e: page(404, "Page introuvable", "Cette page n'existe pas."))
    app.register_error_handler(405, lambda e: page(405, "Méthode non autorisée",
                               "Cette adresse ne s'utilise pas ainsi."))
    app.register_error_handler(429, lambda e: page(429, "Trop de tentatives",
                               "Merci de patienter quelques minutes avant de réessayer."))
    app.register_error_handler(413, lambda e: page(413, "Fichier trop volumineux",
                               "Le fichier envoyé dépasse la taille autorisée."))
    app.register_error_handler(500, lambda e: page(500, "Erreur", "Une erreur est survenue. Merci de réessayer."))
