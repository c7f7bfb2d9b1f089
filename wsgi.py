"""The one WSGI application: the member area at /, the back office at /backoffice (gunicorn wsgi:app)."""

from werkzeug.middleware.dispatcher import DispatcherMiddleware

import backoffice
import member_app

app = DispatcherMiddleware(member_app.create_app(), {"/backoffice": backoffice.create_app()})
