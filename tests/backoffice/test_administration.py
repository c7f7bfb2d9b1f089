"""Administration pages: staff accounts, the outbox console, the audit trail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from jobs.deliver import INTERRUPTED_ERROR

from models.audit.entities import AuditEvent
from models.base import utcnow
from models.errors import DomainError
from models.outbox.console import requeue_messages
from models.outbox.entities import AttemptOutcome, Channel, OutboxAttempt, OutboxMessage, OutboxStatus
from models.outbox.operations import NEW_MESSAGES_KEY
from models.staff.entities import StaffRole, StaffUser
from tests.factories import make_staff

from .support import csrf_from, local, sign_in

STAFF = "/personnel/"
OUTBOX = "/envois/"


def _message(session, *, status: OutboxStatus, member=None, related="PEC-2026-000001") -> OutboxMessage:
    message = OutboxMessage(channel=Channel.FAX, recipient="0476000001", subject="Prise en charge", related=related,
                            member_id=member.id if member else None, status=status, attempts=6,
                            last_error="gateway timeout", next_attempt_at=utcnow() - timedelta(days=1))
    session.add(message)
    session.commit()
    return message


# -- staff accounts ----------------------------------------------------------------------------

def test_staff_pages_show_no_secret(session, as_staff, admin, agent):
    client = as_staff(admin)
    for page in (STAFF, STAFF + f"edit/?id={agent.id}", STAFF + f"details/?id={agent.id}"):
        html = client.get(page).get_data(as_text=True)
        assert agent.full_name in html, page
        for secret in ('type="password"', "password_hash", "totp_secret", "key_hash", agent.password_hash,
                       agent.totp_secret):
            assert secret not in html, (page, secret)
    html = client.get(STAFF + "new/").get_data(as_text=True)  # an invitation: no password typed by an admin
    assert 'type="password"' not in html and "Adresse e-mail" in html


def test_admin_changes_a_role_and_the_sessions_of_that_user_end(session, new_client, as_staff, admin, agent):
    other = new_client()
    sign_in(other, agent)
    assert other.get("/").status_code == 200
    client = as_staff(admin)
    page = STAFF + f"edit/?id={agent.id}"
    response = client.post(page, data={"full_name": "Alice Martin", "role": "manager", "active": "y",
                                       "csrf_token": csrf_from(client, page)})
    assert response.status_code == 302
    session.expire_all()
    user = session.get(StaffUser, agent.id)
    assert (user.full_name, user.role, user.active) == ("Alice Martin", StaffRole.MANAGER, True)
    assert other.get("/").status_code == 302
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "staff.updated"))
    assert event.actor_id == admin.id and event.details["role"] == "agent->manager"


def test_admins_cannot_demote_or_deactivate_themselves(session, as_staff, admin):
    client = as_staff(admin)
    page = STAFF + f"edit/?id={admin.id}"
    response = client.post(page, data={"full_name": admin.full_name, "role": "agent", "active": "y",
                                       "csrf_token": csrf_from(client, page)})
    assert "Vous ne pouvez pas modifier votre propre rôle" in response.get_data(as_text=True)
    session.expire_all()
    assert session.get(StaffUser, admin.id).role is StaffRole.ADMIN


def test_admin_unlocks_a_locked_account(session, new_client, as_staff, admin, agent):
    agent.failed_login_count, agent.locked_until = 10, utcnow() + timedelta(minutes=30)
    session.commit()
    assert sign_in(new_client(), agent).status_code == 200  # refused, even with the right password
    client = as_staff(admin)
    assert "(verrouillé)" in client.get(STAFF).get_data(as_text=True)
    client.post(STAFF + "action/", data={"action": "unlock", "rowid": [str(agent.id)], "url": STAFF,
                                         "csrf_token": csrf_from(client, STAFF)})
    session.expire_all()
    assert session.get(StaffUser, agent.id).failed_login_count == 0
    assert session.get(StaffUser, agent.id).locked_until is None
    assert local(sign_in(new_client(), agent).location) == "/"


def test_admin_signs_a_user_out_everywhere(session, new_client, as_staff, admin, agent):
    other = new_client()
    sign_in(other, agent)
    assert other.get("/").status_code == 200
    client = as_staff(admin)
    client.post(STAFF + "action/", data={"action": "end_sessions", "rowid": [str(agent.id)], "url": STAFF,
                                         "csrf_token": csrf_from(client, STAFF)})
    assert other.get("/").status_code == 302


# -- outbox console -----------------------------------------------------------------------------

def test_outbox_console_lists_delivery_state(session, as_staff, manager):
    _message(session, status=OutboxStatus.DEAD, related="PEC-2026-000007")
    html = as_staff(manager).get(OUTBOX).get_data(as_text=True)
    for expected in ("PEC-2026-000007", "Échec définitif", "gateway timeout", "Fax", "0476000001"):
        assert expected in html, expected


def test_outbox_search_by_reference_and_filter_by_state(session, as_staff, manager):
    _message(session, status=OutboxStatus.DEAD, related="PEC-2026-000007")
    _message(session, status=OutboxStatus.SENT, related="PEC-2026-000008")
    client = as_staff(manager)
    html = client.get(OUTBOX + "?search=pec-2026-000007").get_data(as_text=True)
    assert "PEC-2026-000007" in html and "PEC-2026-000008" not in html
    html = client.get(OUTBOX + "?flt0_0=sent").get_data(as_text=True)
    assert "PEC-2026-000008" in html and "PEC-2026-000007" not in html


def _interrupted_attempt(session, message: OutboxMessage) -> OutboxAttempt:
    attempt = OutboxAttempt(message_id=message.id, number=message.attempts, worker="worker-7:4242",
                            outcome=AttemptOutcome.INTERRUPTED, detail=INTERRUPTED_ERROR,
                            started_at=utcnow() - timedelta(hours=1), ended_at=utcnow())
    session.add(attempt)
    session.commit()
    return attempt


def test_resending_asks_first_naming_the_risk_of_a_duplicate_and_what_is_known(session, as_staff, manager):
    dead = _message(session, status=OutboxStatus.DEAD)
    _interrupted_attempt(session, dead)
    sent = _message(session, status=OutboxStatus.SENT)
    client = as_staff(manager)

    response = client.post(OUTBOX + "action/", data={"action": "requeue", "rowid": [str(dead.id), str(sent.id)],
                                                     "url": OUTBOX, "csrf_token": csrf_from(client, OUTBOX)})
    assert response.status_code == 302 and "/envois/renvoyer/" in response.headers["Location"]
    page = client.get(local(response.headers["Location"])).get_data(as_text=True)

    assert "Risque de doublon" in page and "peut lui faire recevoir un doublon" in page
    assert "Interrompu : sort inconnu" in page and "0476000001" in page
    assert f'name="id" value="{dead.id}"' in page and f'name="id" value="{sent.id}"' not in page
    session.expire_all()
    assert session.get(OutboxMessage, dead.id).status is OutboxStatus.DEAD  # nothing changes before the answer


def test_resend_puts_dead_messages_back_once_the_risk_is_accepted_and_leaves_the_others(session, as_staff, manager):
    dead = _message(session, status=OutboxStatus.DEAD)
    sent = _message(session, status=OutboxStatus.SENT)
    client = as_staff(manager)
    page = OUTBOX + f"renvoyer/?id={dead.id}&id={sent.id}"
    response = client.post(page, data={"id": [str(dead.id), str(sent.id)], "risque_doublon": "accepte",
                                       "csrf_token": csrf_from(client, page)})
    assert response.status_code == 302
    session.expire_all()
    again = session.get(OutboxMessage, dead.id)
    assert again.status is OutboxStatus.PENDING and again.next_attempt_at > utcnow() - timedelta(minutes=1)
    assert again.attempts == 6  # the history of attempts is kept
    assert session.get(OutboxMessage, sent.id).status is OutboxStatus.SENT
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "outbox.requeued"))
    assert event.actor_id == manager.id and event.subject_id == dead.id
    assert event.details["duplicate_risk_accepted"] is True
    assert "1 message(s) remis en file d&#39;envoi." in client.get(OUTBOX).get_data(as_text=True)


def test_resend_without_accepting_the_risk_changes_nothing_and_says_why_next_to_the_box(session, as_staff, manager):
    dead = _message(session, status=OutboxStatus.DEAD)
    client = as_staff(manager)
    page = OUTBOX + f"renvoyer/?id={dead.id}"
    response = client.post(page, data={"id": str(dead.id), "csrf_token": csrf_from(client, page)})

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="risque_doublon_erreur"' in html and "Cochez la case pour confirmer" in html
    session.expire_all()
    assert session.get(OutboxMessage, dead.id).status is OutboxStatus.DEAD
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "outbox.requeued")) is None
    with pytest.raises(DomainError):
        requeue_messages(session, [dead.id], staff_id=manager.id, now=utcnow(), duplicate_risk_accepted=False)


def test_requeue_use_case_nudges_the_relay(session, manager):
    dead = _message(session, status=OutboxStatus.DEAD)
    assert requeue_messages(session, [dead.id], staff_id=manager.id, now=utcnow(), duplicate_risk_accepted=True) == 1
    assert session.info[NEW_MESSAGES_KEY] is True
    session.rollback()


def test_resend_requires_csrf(session, as_staff, manager):
    dead = _message(session, status=OutboxStatus.DEAD)
    client = as_staff(manager)
    response = client.post(OUTBOX + "renvoyer/", data={"id": str(dead.id), "risque_doublon": "accepte"})
    assert response.status_code == 400
    session.expire_all()
    assert session.get(OutboxMessage, dead.id).status is OutboxStatus.DEAD


def test_agents_cannot_resend(session, as_staff, agent):
    dead = _message(session, status=OutboxStatus.DEAD)
    client = as_staff(agent)
    assert client.get(OUTBOX + f"renvoyer/?id={dead.id}").status_code == 403


def test_the_details_of_a_message_tell_the_story_of_each_attempt(session, as_staff, manager):
    dead = _message(session, status=OutboxStatus.DEAD)
    _interrupted_attempt(session, dead)
    html = as_staff(manager).get(OUTBOX + f"details/?id={dead.id}").get_data(as_text=True)
    assert "Tentatives d'envoi" in html and "worker-7:4242" in html and "Interrompu : sort inconnu" in html
    assert "Vérifiez auprès du destinataire" in html and "Renvoyer ce message" in html


def test_opening_a_message_is_audited(session, as_staff, manager, member):
    message = _message(session, status=OutboxStatus.SENT, member=member)
    assert as_staff(manager).get(OUTBOX + f"details/?id={message.id}").status_code == 200
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "backoffice.viewed"))
    assert (event.member_id, event.subject_type, event.subject_id) == (member.id, "OutboxMessage", message.id)


# -- audit trail --------------------------------------------------------------------------------

def test_audit_trail_is_read_only_and_filterable(session, as_staff, manager):
    make_staff(session, StaffRole.AGENT)  # writes a staff.created event
    client = as_staff(manager)
    html = client.get("/journal/?flt0_0=staff.created").get_data(as_text=True)
    assert "staff.created" in html
    assert client.get("/journal/new/").status_code == 302
    assert client.get("/journal/edit/?id=1").status_code == 302


def test_command_line_unlocks_an_account(session, models_config, agent):
    from click.testing import CliRunner

    from backoffice.cli import cli

    agent.failed_login_count, agent.locked_until = 10, utcnow() + timedelta(minutes=30)
    session.commit()
    env = {"DATABASE_URL": models_config.database_url, "FILES_DIR": str(models_config.files_dir)}
    result = CliRunner(env=env).invoke(cli, ["staff", "unlock", "--email", agent.email.upper()])
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert session.get(StaffUser, agent.id).failed_login_count == 0
    result = CliRunner(env=env).invoke(cli, ["staff", "unlock", "--email", "nobody@mese.test"])
    assert result.exit_code == 1 and "Aucun compte" in result.output


def test_a_code_waiting_in_the_outbox_is_never_shown_to_staff_nor_resent(session, as_staff, manager):
    code = OutboxMessage(channel=Channel.SMS, recipient="+33606060606", text_body="Votre code est 482913.",
                         secret=True, status=OutboxStatus.DEAD, next_attempt_at=utcnow())
    session.add(code)
    session.commit()
    html = as_staff(manager).get(OUTBOX + f"details/?id={code.id}").get_data(as_text=True)
    assert "482913" not in html and "contenu masqué" in html
    assert requeue_messages(session, [code.id], staff_id=manager.id, now=utcnow(), duplicate_risk_accepted=True) == 0
