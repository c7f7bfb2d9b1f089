"""Staff administration by admins: invitations end to end, authenticator reset by two admins, access by role,
password expiry and history."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from models.audit.entities import AuditEvent
from models.base import utcnow
from models.outbox.entities import OutboxMessage
from models.staff.administration import NO_PASSWORD
from models.staff.entities import StaffInvitation, StaffRole, StaffUser, TotpResetRequest
from tests.factories import PASSWORD, make_staff

from .support import csrf_from, local, sign_in

STAFF = "/personnel/"
NEW_PASSWORD = "Tournesol-Bleu-2027"
LINK = re.compile(r"https?://[^\s]+/backoffice(/invitation/[A-Za-z0-9_\-]+)")


def _invite(client, email="nouvelle@mese.test", role="manager", name="Nina Nouvelle"):
    return client.post(STAFF + "new/", data={"email": email, "full_name": name, "role": role,
                                             "csrf_token": csrf_from(client, STAFF + "new/")})


def _link_of(session, email: str) -> str:
    session.expire_all()
    message = session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == email,
                                                          OutboxMessage.template == "staff_invitation")
                              .order_by(OutboxMessage.id.desc())).first()
    assert message is not None and message.secret
    return LINK.search(message.text_body).group(1)


def _choose_password(client, path: str, password: str = NEW_PASSWORD, confirmation: str | None = None):
    return client.post(path, data={"new_password": password, "confirmation": confirmation or password,
                                   "csrf_token": csrf_from(client, path)})


def _enrol(client, session, email: str):
    """Read the key on the enrolment page (as the app scans the QR code) and type the app's first code."""
    html = client.get("/connexion/application").get_data(as_text=True)
    assert 'src="data:image/svg+xml' in html  # the QR code
    secret = re.search(r'<code class="bo-secret">([A-Z2-7]+)</code>', html).group(1)
    response = client.post("/connexion/application", data={"code": pyotp.TOTP(secret).now(),
                                                           "csrf_token": csrf_from(client, "/connexion/application")})
    return response, secret


# -- invitation ----------------------------------------------------------------------------------

def test_invitation_end_to_end(session, as_staff, new_client, admin):
    response = _invite(as_staff(admin))
    assert response.status_code == 302
    user = session.scalar(select(StaffUser).where(StaffUser.email == "nouvelle@mese.test"))
    assert user.role is StaffRole.MANAGER and user.password_hash == NO_PASSWORD and user.totp_secret is None
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.invited")).actor_id == admin.id
    path = _link_of(session, "nouvelle@mese.test")

    # No password works before the invitation is accepted.
    assert sign_in(new_client(), user, password=NO_PASSWORD).status_code == 200

    invited = new_client()
    weak = _choose_password(invited, path, "court")
    html = weak.get_data(as_text=True)
    assert weak.status_code == 200 and html.count('id="new_password-error"') == 1
    assert "au moins 12 caractères" in html and html.rindex("au moins 12 caractères") > html.index('id="new_password"')
    assert "<title>Erreur :" in html

    response = _choose_password(invited, path)
    assert response.status_code == 302 and local(response.location) == "/connexion/application"
    assert invited.get("/").status_code == 302  # not signed in before the app is enrolled
    wrong = invited.post("/connexion/application", data={"code": "000000",
                                                         "csrf_token": csrf_from(invited, "/connexion/application")})
    assert "Code incorrect" in wrong.get_data(as_text=True)
    response, secret = _enrol(invited, session, user.email)
    assert response.status_code == 302 and local(response.location) == "/"
    assert invited.get("/").status_code == 200
    session.expire_all()
    user = session.get(StaffUser, user.id)
    assert user.totp_secret == secret and user.totp_pending_secret is None

    # The link served once; a later sign-in goes through the usual two steps.
    again = new_client().get(path)
    assert again.status_code == 404 and "plus valable" in again.get_data(as_text=True)
    later = new_client()
    response = sign_in(later, user, password=NEW_PASSWORD,
                       code=pyotp.TOTP(secret).at(utcnow() + timedelta(seconds=30)))
    assert response.status_code == 302 and local(response.location) == "/"
    actions = set(session.scalars(select(AuditEvent.action).where(AuditEvent.subject_id == user.id)))
    assert {"staff.invited", "staff.invitation_sent", "staff.invitation_accepted", "staff.totp_enrolled"} <= actions


def test_an_expired_or_replaced_invitation_link_is_refused(session, as_staff, new_client, admin):
    client = as_staff(admin)
    _invite(client)
    first = _link_of(session, "nouvelle@mese.test")
    invitation = session.scalar(select(StaffInvitation))
    invitation.expires_at = utcnow() - timedelta(minutes=1)
    session.commit()
    expired = new_client().get(first)
    assert expired.status_code == 404 and "plus valable" in expired.get_data(as_text=True)
    late = new_client()
    assert late.post(first, data={"new_password": NEW_PASSWORD, "confirmation": NEW_PASSWORD,
                                  "csrf_token": csrf_from(late, "/connexion")}).status_code == 404
    session.expire_all()
    assert session.scalar(select(StaffUser.password_hash).where(StaffUser.email == "nouvelle@mese.test")) == NO_PASSWORD

    user = session.scalar(select(StaffUser).where(StaffUser.email == "nouvelle@mese.test"))
    client.post(STAFF + "action/", data={"action": "resend_invitation", "rowid": [str(user.id)], "url": STAFF,
                                         "csrf_token": csrf_from(client, STAFF)})
    second = _link_of(session, "nouvelle@mese.test")
    assert second != first and new_client().get(second).status_code == 200
    assert new_client().get("/invitation/pas-un-jeton").status_code == 404


def test_a_password_already_chosen_makes_the_invitation_useless(session, as_staff, admin, agent):
    client = as_staff(admin)
    client.post(STAFF + "action/", data={"action": "resend_invitation", "rowid": [str(agent.id)], "url": STAFF,
                                         "csrf_token": csrf_from(client, STAFF)})
    assert "a déjà choisi son mot de passe" in client.get(STAFF).get_data(as_text=True)
    assert session.scalar(select(StaffInvitation)) is None


def test_invitation_form_errors_are_next_to_the_fields(session, as_staff, admin, agent):
    response = _invite(as_staff(admin), email=agent.email.upper(), name="Autre Nom")
    html = response.get_data(as_text=True)
    assert "Un compte existe déjà pour cette adresse e-mail." in html
    assert 'id="email-error"' in html or 'email-error' in html
    assert session.scalar(select(StaffUser).where(StaffUser.full_name == "Autre Nom")) is None


def test_command_line_sends_an_invitation(session, models_config):
    from click.testing import CliRunner

    from backoffice.cli import cli

    env = {"DATABASE_URL": models_config.database_url, "FILES_DIR": str(models_config.files_dir),
           "BACKOFFICE_PUBLIC_URL": "https://gestion.mese.test"}
    result = CliRunner(env=env).invoke(cli, ["staff", "create", "--email", "Cli@Mese.test", "--name", "Camille Cli",
                                             "--role", "agent", "--invite"])
    assert result.exit_code == 0, result.output
    assert "Invitation envoyée" in result.output and "invitation/" not in result.output
    message = session.scalar(select(OutboxMessage).where(OutboxMessage.recipient == "cli@mese.test"))
    assert "https://gestion.mese.test/backoffice/invitation/" in message.text_body


# -- authenticator reset: two admins --------------------------------------------------------------

def _reset_step(client, user, step: str):
    page = STAFF + f"application-authentification/?id={user.id}"
    return client.post(page, data={"id": str(user.id), "etape": step, "csrf_token": csrf_from(client, page)})


def test_authenticator_reset_needs_a_second_admin(session, as_staff, new_client, admin, agent):
    other_admin = make_staff(session, StaffRole.ADMIN)
    agents_browser = new_client()
    sign_in(agents_browser, agent)
    assert agents_browser.get("/").status_code == 200

    first = as_staff(admin)
    assert _reset_step(first, agent, "demander").status_code == 302
    session.expire_all()
    assert session.get(StaffUser, agent.id).totp_secret is not None  # nothing changes on one admin's word
    refused = _reset_step(first, agent, "confirmer")
    assert refused.status_code == 400 and "Un autre administrateur" in refused.get_data(as_text=True)
    session.expire_all()
    assert session.get(StaffUser, agent.id).totp_secret is not None
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.totp_reset_refused"))
    assert event.actor_id == admin.id and event.details["reason"] == "same_admin"

    second = new_client()
    sign_in(second, other_admin)
    assert "Confirmer la réinitialisation" in second.get(
        STAFF + f"application-authentification/?id={agent.id}").get_data(as_text=True)
    assert _reset_step(second, agent, "confirmer").status_code == 302
    session.expire_all()
    user = session.get(StaffUser, agent.id)
    assert user.totp_secret is None
    reset = session.scalar(select(TotpResetRequest))
    assert (reset.requested_by_id, reset.confirmed_by_id) == (admin.id, other_admin.id)
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.totp_reset"))
    assert event.actor_id == other_admin.id and event.details["requested_by"] == admin.id
    assert agents_browser.get("/").status_code == 302  # their sessions ended

    # At the next sign-in, the password leads to the enrolment of a new app.
    again = new_client()
    token = csrf_from(again, "/connexion")
    response = again.post("/connexion", data={"email": agent.email, "password": PASSWORD, "csrf_token": token})
    assert local(response.location) == "/connexion/application"
    response, secret = _enrol(again, session, agent.email)
    assert local(response.location) == "/" and again.get("/").status_code == 200


def _password_step(client, user):
    return client.post("/connexion", data={"email": user.email, "password": PASSWORD,
                                           "csrf_token": csrf_from(client, "/connexion")})


def test_after_a_reset_the_password_alone_enrols_an_app_for_72_hours_only(session, as_staff, new_client, admin,
                                                                          agent, time_machine):
    time_machine.move_to(utcnow(), tick=False)
    other_admin = make_staff(session, StaffRole.ADMIN)
    assert _reset_step(as_staff(admin), agent, "demander").status_code == 302
    assert _reset_step(as_staff(other_admin), agent, "confirmer").status_code == 302

    time_machine.shift(timedelta(hours=71))
    in_time = new_client()
    assert local(_password_step(in_time, agent).location) == "/connexion/application"

    time_machine.shift(timedelta(hours=2))  # 73 hours after the reset: the password alone is no longer enough
    late = new_client()
    response = _password_step(late, agent)
    assert response.status_code == 200 and "demandez à un administrateur" in response.get_data(as_text=True)
    assert late.get("/connexion/application").status_code == 302
    session.expire_all()
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.enrolment_expired"))
    assert event.actor_id == agent.id

    # Another reset by two admins opens a new window.
    assert _reset_step(as_staff(admin), agent, "demander").status_code == 302
    assert _reset_step(as_staff(other_admin), agent, "confirmer").status_code == 302
    assert local(_password_step(new_client(), agent).location) == "/connexion/application"


def test_an_invited_person_who_never_enrolled_asks_an_admin_again_after_72_hours(session, new_client, agent,
                                                                                    time_machine):
    time_machine.move_to(utcnow(), tick=False)
    user = session.get(StaffUser, agent.id)
    user.totp_secret, user.password_set_at = None, utcnow()  # chose a password by the link, left before the app
    session.commit()
    time_machine.shift(timedelta(hours=73))
    response = _password_step(new_client(), agent)
    assert response.status_code == 200 and "demandez à un administrateur" in response.get_data(as_text=True)


# -- access by role -------------------------------------------------------------------------------

@pytest.mark.parametrize("role", [StaffRole.AGENT, StaffRole.MANAGER])
def test_staff_administration_is_for_admins_only(session, as_staff, role, admin):
    someone = make_staff(session, role)
    client = as_staff(someone)
    token = csrf_from(client, "/mes-sessions/")
    pages = [("get", STAFF, {}), ("get", STAFF + "new/", {}), ("get", STAFF + f"edit/?id={admin.id}", {}),
             ("get", STAFF + f"details/?id={admin.id}", {}),
             ("get", STAFF + f"application-authentification/?id={admin.id}", {}),
             ("post", STAFF + "new/", {"email": "x@mese.test", "full_name": "X", "role": "admin"}),
             ("post", STAFF + f"edit/?id={someone.id}", {"full_name": "X", "role": "admin", "active": "y"}),
             ("post", STAFF + f"application-authentification/?id={admin.id}", {"etape": "demander"}),
             *[("post", STAFF + "action/", {"action": name, "rowid": [str(admin.id)], "url": STAFF})
               for name in ("unlock", "end_sessions", "resend_invitation", "reset_totp")]]
    for method, path, data in pages:
        response = getattr(client, method)(path, data={**data, "csrf_token": token} if method == "post" else None)
        assert response.status_code == 403, (method, path)
    refusals = session.scalars(select(AuditEvent).where(AuditEvent.action == "backoffice.refused",
                                                        AuditEvent.actor_id == someone.id)).all()
    assert len(refusals) == len(pages) and {r.details["reason"] for r in refusals} == {"role"}
    session.expire_all()
    assert session.get(StaffUser, someone.id).role is role
    assert session.scalar(select(StaffUser).where(StaffUser.email == "x@mese.test")) is None
    assert session.scalar(select(TotpResetRequest)) is None


def test_admin_reaches_every_staff_page(session, as_staff, admin, agent):
    client = as_staff(admin)
    for page in (STAFF, STAFF + "new/", STAFF + f"edit/?id={agent.id}", STAFF + f"details/?id={agent.id}",
                 STAFF + f"application-authentification/?id={agent.id}"):
        assert client.get(page).status_code == 200, page


def test_admin_deactivates_and_the_sessions_end(session, new_client, as_staff, admin, agent):
    other = new_client()
    sign_in(other, agent)
    client = as_staff(admin)
    page = STAFF + f"edit/?id={agent.id}"
    client.post(page, data={"full_name": agent.full_name, "role": "agent", "csrf_token": csrf_from(client, page)})
    session.expire_all()
    assert session.get(StaffUser, agent.id).active is False
    assert other.get("/").status_code == 302
    assert sign_in(new_client(), agent).status_code == 200  # refused


# -- passwords: expiry and history as for members ------------------------------------------------

def _change(client, current: str, new: str):
    return client.post("/mot-de-passe", data={"current_password": current, "new_password": new,
                                              "confirmation": new, "csrf_token": csrf_from(client, "/mot-de-passe")})


def test_expired_password_forces_a_change_and_history_refuses_a_reused_one(session, as_staff, agent):
    agent.password_set_at = utcnow() - timedelta(days=91)
    session.commit()
    client = as_staff(agent)
    response = client.get("/prises-en-charge/")
    assert response.status_code == 302 and local(response.location) == "/mot-de-passe"

    assert _change(client, PASSWORD, NEW_PASSWORD).status_code == 302
    assert client.get("/prises-en-charge/").status_code == 200
    # Back to the first password: refused, it is in the history (the members' rule and message).
    response = _change(client, NEW_PASSWORD, PASSWORD)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Ce mot de passe a déjà été utilisé" in html
    assert 'id="new_password-error"' in html
    session.expire_all()
    assert session.get(StaffUser, agent.id).password_set_at > utcnow() - timedelta(minutes=1)
