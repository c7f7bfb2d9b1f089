"""Who may open which back-office page: one base class decides, for every registered view."""

from __future__ import annotations

import pytest
from flask_admin.contrib.sqla import ModelView

from backoffice.views.base import StaffAccessMixin, StaffBaseView, StaffIndexView, StaffModelView
from models.staff.entities import StaffRole
from tests.factories import make_staff
from tests.helpers import login_staff

from .support import app_url, local


def _views(app):
    return app.extensions["admin"][0]._views


def _entry_url(app, view) -> str:
    endpoint = f"{view.endpoint}.index_view" if isinstance(view, ModelView) else f"{view.endpoint}.index"
    return app_url(app, endpoint)


def test_every_registered_view_inherits_the_base_classes(backoffice_app):
    views = _views(backoffice_app)
    assert len(views) >= 11
    for view in views:
        assert isinstance(view, (StaffModelView, StaffBaseView, StaffIndexView)), type(view).__name__
        # The rule lives in one place: no view may override it with something weaker.
        assert type(view).is_accessible is StaffAccessMixin.is_accessible, type(view).__name__
        assert type(view).inaccessible_callback is StaffAccessMixin.inaccessible_callback, type(view).__name__


def test_anonymous_is_sent_to_login_from_every_view(backoffice_app, backoffice_client):
    for view in _views(backoffice_app):
        response = backoffice_client.get(_entry_url(backoffice_app, view))
        assert response.status_code == 302, view.endpoint
        assert local(response.location).startswith("/connexion"), view.endpoint


def test_anonymous_is_sent_to_login_from_details_exports_and_actions(backoffice_client):
    for path in ("/prises-en-charge/details/?id=1", "/prises-en-charge/export/csv/", "/prises-en-charge/suivante/",
                 "/envois/details/?id=1", "/personnel/edit/?id=1"):
        response = backoffice_client.get(path)
        assert response.status_code == 302 and local(response.location).startswith("/connexion"), path


def test_anonymous_post_is_refused(backoffice_client):
    # CSRF is checked before anything else: no token, no action, whoever you are.
    assert backoffice_client.post("/prises-en-charge/suivante/").status_code == 400


@pytest.mark.parametrize("role", [StaffRole.AGENT, StaffRole.MANAGER])
def test_staff_lacking_the_role_get_403(backoffice_app, backoffice_client, session, role):
    login_staff(backoffice_client, make_staff(session, role))
    refused = [v for v in _views(backoffice_app) if role not in v.allowed_roles]
    assert refused, "every role should be refused somewhere"
    for view in refused:
        response = backoffice_client.get(_entry_url(backoffice_app, view))
        assert response.status_code == 403, view.endpoint
        assert "Accès refusé" in response.get_data(as_text=True)


def test_agent_reaches_the_queue_but_not_manager_views(backoffice_client, agent):
    login_staff(backoffice_client, agent)
    assert backoffice_client.get("/").status_code == 200
    assert backoffice_client.get("/prises-en-charge/").status_code == 200
    for path in ("/actualites/", "/conditions-utilisation/", "/envois/", "/journal/", "/personnel/",
                 "/etablissements-sans-prise-en-charge/"):
        assert backoffice_client.get(path).status_code == 403, path


def test_menu_shows_only_the_views_of_the_role(backoffice_client, agent):
    login_staff(backoffice_client, agent)
    html = backoffice_client.get("/").get_data(as_text=True)
    assert "Prises en charge hospitalières" in html
    assert "Personnel" not in html and "Journal d&#39;audit" not in html and "Actualités" not in html


def test_admin_opens_every_view(backoffice_app, backoffice_client, admin):
    login_staff(backoffice_client, admin)
    for view in _views(backoffice_app):
        assert backoffice_client.get(_entry_url(backoffice_app, view)).status_code == 200, view.endpoint


def test_password_step_alone_does_not_open_the_back_office(backoffice_client, agent):
    login_staff(backoffice_client, agent)
    with backoffice_client.session_transaction() as sess:
        del sess["auth_complete"]
    response = backoffice_client.get("/prises-en-charge/")
    assert response.status_code == 302 and local(response.location).startswith("/connexion")


def test_deactivated_staff_lose_access_at_once(backoffice_client, session, agent):
    login_staff(backoffice_client, agent)
    agent.active = False
    session.commit()
    response = backoffice_client.get("/prises-en-charge/")
    assert response.status_code == 302 and local(response.location).startswith("/connexion")


def test_session_cookie_is_limited_to_the_back_office(backoffice_client):
    response = backoffice_client.get("/connexion")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("mese_backoffice=")
    assert "Path=/backoffice" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie


def test_pages_carry_a_strict_content_security_policy(backoffice_client, agent):
    login_staff(backoffice_client, agent)
    response = backoffice_client.get("/prises-en-charge/")
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy and "unsafe-inline" not in policy
    nonce = policy.split("'nonce-")[1].split("'")[0]
    html = response.get_data(as_text=True)
    assert f'nonce="{nonce}"' in html
    # List actions work without inline handlers, which this policy blocks.
    assert 'data-action="approve"' in html and "modelActions.execute" not in html
