"""The back office: a Flask-Admin application mounted at /backoffice (first cut)."""

from __future__ import annotations

from flask import Flask

from .config import BackofficeConfig


def create_app(config: BackofficeConfig | None = None) -> Flask:
    """Build the back office from ``config`` (default: the environment)."""
    config = config or BackofficeConfig.from_env()
    app = Flask(__name__)
    app.config.update(config.flask_settings())
    return app
