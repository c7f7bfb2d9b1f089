"""Extensions of the back office, bound in create_app (separate from the member area's)."""

from __future__ import annotations

from flask import current_app
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_sqlalchemy_lite import SQLAlchemy
from flask_wtf import CSRFProtect

from web import client_ip

from .config import BackofficeConfig

db = SQLAlchemy()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(client_ip)

#: Key of ``app.extensions`` holding the BackofficeConfig the app was built from.
CONFIG_KEY = "mese_backoffice_config"
#: Key of ``app.extensions`` holding the list reads this process audited lately (models.audit.operations.RecentReads).
RECENT_READS_KEY = "mese_backoffice_recent_reads"


def current_config() -> BackofficeConfig:
    """The BackofficeConfig of the running app."""
    return current_app.extensions[CONFIG_KEY]

