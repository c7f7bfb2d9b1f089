"""Extensions of the member area, bound in create_app."""

from functools import wraps

from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_sqlalchemy_lite import SQLAlchemy
from flask_wtf import CSRFProtect

from web import client_ip

db = SQLAlchemy()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(client_ip)


def limit_posts(limit_value, **options):
    """``limiter.limit(limit_value, methods=["POST"], **options)`` for a view that also shows its page: the page
    (GET) goes straight to the view, without Flask-Limiter's look-up of limits that never count it."""

    def decorate(view):
        limited = limiter.limit(limit_value, methods=["POST"], **options)(view)

        @wraps(limited)  # with its mark: a limit stacked above is checked once, by the innermost (Flask-Limiter)
        def dispatch(*args, **kwargs):
            return limited(*args, **kwargs) if request.method == "POST" else view(*args, **kwargs)

        return dispatch

    return decorate
