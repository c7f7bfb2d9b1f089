"""The member area: a Flask application mounted at /."""

from __future__ import annotations

from flask import Flask, render_template
from flask.templating import _default_template_ctx_processor
from flask_babel import lazy_gettext as _l
from werkzeug.middleware.proxy_fix import ProxyFix

import jobs
from web import (
    PageSessionInterface, configure_database, install_csrf, install_input_guard, install_security_headers,
    refuse_unsafe_start, skip_idle_limit_checks,
)
from web.availability import install_health_check, install_outage_page

from . import i18n, layout
from .config import MemberAppConfig
from .extensions import csrf, db, limiter, login_manager
from .forms import field_control, field_html, form_errors, install_html_params

ROOT_TEMPLATES = "../templates"
#: Names of the form fields that take files (any other file part is refused with 400).
MEMBER_FILE_FIELDS: frozenset[str] = frozenset({"files"})  # the files of a request (models.files.uploads)


def create_app(config: MemberAppConfig | None = None) -> Flask:
    """Build the member area from ``config`` (default: the environment)."""
    config = config or MemberAppConfig.from_env()
    refuse_unsafe_start(config.problems(), "The member area")
    app = Flask(__name__, template_folder=ROOT_TEMPLATES, static_folder="../static", static_url_path="/static")
    app.config.update(config.flask_settings())
    app.session_interface = PageSessionInterface(refresh_on_activity=True)
    app.extensions["mese_config"] = config
    if config.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.trusted_proxies, x_proto=config.trusted_proxies)
    _register_extensions(app, config)
    _register_blueprints(app)
    _register_errors(app)
    install_outage_page(app, "member/unavailable.html")
    install_health_check(app, lambda: db.engine, config.jobs.redis_url)
    install_security_headers(app, hsts=config.cookie_secure)
    install_input_guard(app, file_fields=MEMBER_FILE_FIELDS)
    jobs.install_after_commit_delivery(config.jobs, config.models)
    return app


def _register_extensions(app: Flask, config: MemberAppConfig) -> None:
    """Database, login, CSRF, translations and rate limits."""
    configure_database(app, db, config.models)
    install_csrf(app, csrf)
    i18n.install(app)
    layout.install(app)
    app.jinja_env.globals.update(form_errors=form_errors, field_control=field_control, field_html=field_html)
    install_html_params()
    limiter.init_app(app)
    skip_idle_limit_checks(app, limiter)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Veuillez vous connecter pour accéder à cette page.")
    login_manager.localize_callback = str  # the lazy message is flashed in the visit's language
    login_manager.session_protection = "basic"


def _register_blueprints(app: Flask) -> None:
    """One blueprint per chapter of the member guide."""
    from . import menu
    from .auth.views import bp as auth_bp
    from .bank_change.views import bp as bank_change_bp
    from .contact.views import bp as contact_bp
    from .contracts.views import bp as contracts_bp
    from .documents.views import bp as documents_bp
    from .home.views import bp as home_bp
    from .hospital_coverage.views import bp as hospital_coverage_bp
    from .my_requests.views import bp as my_requests_bp
    from .publications.views import bp as publications_bp
    from .reimbursements.views import bp as reimbursements_bp
    from .privacy.views import bp as privacy_bp
    from .profile.views import bp as profile_bp
    from .teletransmission.views import bp as teletransmission_bp
    from .card.views import bp as card_bp
    from .services.views import bp as services_bp
    from .retirement.views import bp as retirement_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(home_bp)
    app.register_blueprint(hospital_coverage_bp, url_prefix="/prise-en-charge-hospitaliere")
    app.register_blueprint(documents_bp, url_prefix="/depot-de-documents")
    app.register_blueprint(contact_bp, url_prefix="/contacter-la-mutuelle")
    app.register_blueprint(bank_change_bp, url_prefix="/coordonnees-bancaires/changement")
    app.register_blueprint(teletransmission_bp, url_prefix="/teletransmission")
    app.register_blueprint(my_requests_bp, url_prefix="/mes-demandes")
    app.register_blueprint(reimbursements_bp)
    app.register_blueprint(publications_bp)
    app.register_blueprint(card_bp)
    app.register_blueprint(services_bp, url_prefix="/services")
    app.register_blueprint(retirement_bp)
    app.register_blueprint(privacy_bp)
    app.register_blueprint(contracts_bp)
    app.register_blueprint(profile_bp)
    menu.register(app)
    # Flask gives each blueprint a copy of the app's own context processor (g, request, session): a page of a
    # blueprint ran it twice. The app's one is enough.
    for name, processors in app.template_context_processors.items():
        if name is not None:
            processors[:] = [p for p in processors if p is not _default_template_ctx_processor]


#: Title and text of each error page, in French (translated when shown).
ERROR_PAGES = {
    400: (_l("Requête invalide"), _l("Le formulaire a expiré ou est incomplet. Rechargez la page et réessayez.")),
    403: (_l("Accès refusé"), _l("Vous n'avez pas accès à cette page.")),
    404: (_l("Page introuvable"), _l("Cette page n'existe pas.")),
    405: (_l("Méthode non autorisée"), _l("Cette adresse ne s'utilise pas ainsi.")),
    413: (_l("Fichier trop volumineux"), _l("Le fichier envoyé dépasse la taille autorisée.")),
    429: (_l("Trop de tentatives"), _l("Merci de patienter quelques minutes avant de réessayer.")),
    500: (_l("Erreur"), _l("Une erreur est survenue. Merci de réessayer plus tard.")),
}


def _register_errors(app: Flask) -> None:
    """Error pages in the visit's language that never show a traceback."""

    def handler(code: int):
        title, text = ERROR_PAGES[code]
        return lambda error: (render_template("member/error.html", code=code, title=title, text=text), code)

    for code in ERROR_PAGES:
        app.register_error_handler(code, handler(code))
