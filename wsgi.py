"""The one WSGI application: the member area at /, the back office at /backoffice (gunicorn wsgi:app)."""

from werkzeug.middleware.dispatcher import DispatcherMiddleware

import backoffice
import member_app
from web import check_redis_reachable


def create_wsgi_app():
    """Both apps behind one dispatcher; in production, refuse to start if Redis does not answer."""
    check_redis_reachable()
    return DispatcherMiddleware(member_app.create_app(), {"/backoffice": backoffice.create_app()})


app = create_wsgi_app()
