"""Extensions of the back office, bound in create_app (separate from the member area's)."""

from __future__ import annotations

from flask import current_app, request
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
#: Key of ``app.extensions`` holding the endpoints of the list pages (StaffModelView.index_view), which only read
#: and write their audit row.
LIST_ENDPOINTS_KEY = "mese_backoffice_list_endpoints"


def current_config() -> BackofficeConfig:
    """The BackofficeConfig of the running app."""
    return current_app.extensions[CONFIG_KEY]


@limiter.request_filter
def _reading_a_list() -> bool:
    """True for a GET of a list page: no rate limit applies to one (the limits guard the sign-in forms' POSTs),
    so none is looked for."""
    return request.method == "GET" and request.endpoint in current_app.extensions.get(LIST_ENDPOINTS_KEY, ())
