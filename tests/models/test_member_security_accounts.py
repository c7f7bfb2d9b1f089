"""Activation (login ID by e-mail) and password reset links, seen from the domain layer."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from models.audit.entities import AuditEvent
from models.members.activation import (ActivationRequest, InvalidLink, begin_password_reset,
                                       count_reset_code_failure, finish_password_reset, pending_digest,
                                       pending_reset, request_activation, request_password_reset, valid_reset_token)
from models.members.entities import AccountToken
from models.members.passwords import RULE_LENGTH, PasswordRejected, verify_password
from models.members.security import SignInPolicy, change_password, WrongCurrentPassword
from models.sessions.operations import SessionPolicy, find_session, live_sessions, open_session
from models.outbox.entities import OutboxMessage
from tests.factories import PASSWORD, make_member

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
NIR_15 = "2 84 80 13 809 111 74"
NEW = "Vacances-au-Vercors-38"


def emails(session, template):
    session.flush()
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)
                                .order_by(OutboxMessage.id)))


def activation(**overrides):
    fields = dict(last_name="rimon", first_name="Lea", birth_date=date(1984, 1, 10), nir=NIR_15)
    fields.update(overrides)
    return ActivationRequest(**fields)


def test_a_matching_identity_sends_the_login_id_to_the_e_mail_on_file(session):
    member = make_member(session, password=None)
    assert request_activation(session, activation(), login_url="https://adherents.test/connexion", ip="192.0.2.7",
                              now=NOW) is member
    mail = emails(session, "account_activation")[-1]
    assert mail.recipient == member.email
    assert f"Votre identifiant mese : {member.number}" in mail.text_body
    assert "Mot de passe oublié ou expiré ?" in mail.text_body and "https://adherents.test/connexion" in mail.text_body
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "account.activation_requested"))
    assert event.member_id == member.id and event.ip == "192.0.2.7" and event.details["matched"] is True
    assert "2848013809111" not in str(event.details)


@pytest.mark.parametrize("wrong", [dict(last_name="Rimons"), dict(first_name="Zoé"),
                                   dict(birth_date=date(1984, 1, 11)), dict(nir="2848013809112"),
                                   dict(nir="2 84 80 13 809 111 75"), dict(nir="n'importe quoi")])
def test_any_wrong_field_sends_nothing_and_says_nothing(session, wrong):
    make_member(session, password=None)
    assert request_activation(session, activation(**wrong), login_url="x", ip=None, now=NOW) is None
    assert emails(session, "account_activation") == []
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "account.activation_requested"))
    assert event.details == {"matched": False} and event.member_id is None


def test_the_13_character_nir_and_other_spellings_of_the_names_match(session):
    make_member(session, password=None, last_name="LE GALL-DUPONT", first_name="Lé a")
    assert request_activation(session, activation(last_name="le gall dupont", first_name="Le A",
                                                  nir="2848013809111"), login_url="x", ip=None, now=NOW)


def test_a_member_without_e_mail_gets_nothing(session):
    make_member(session, password=None, email=None)
    assert request_activation(session, activation(), login_url="x", ip=None, now=NOW) is not None
    assert session.scalar(select(OutboxMessage)) is None


def reset_link(session, member, now=NOW):
    request_password_reset(session, member.number, make_link=lambda t: f"https://adherents.test/l/{t}",
                           valid_minutes=60, ip="192.0.2.7", now=now)
    mail = emails(session, "account_password_reset")[-1]
    return re.search(r"https://adherents.test/l/(\S+)", mail.text_body).group(1)


def test_a_reset_link_is_e_mailed_and_only_its_hash_is_stored(session):
    member = make_member(session)
    token = reset_link(session, member)
    assert len(token) >= 43
    session.commit()
    dump = " ".join(str(v) for row in session.execute(text("SELECT * FROM account_token")) for v in row)
    assert token not in dump
    assert valid_reset_token(session, token, NOW + timedelta(minutes=59)) is not None
    assert valid_reset_token(session, token, NOW + timedelta(minutes=60)) is None


def test_unknown_identifiers_get_no_e_mail(session):
    make_member(session)
    assert request_password_reset(session, "9999999", make_link=str, valid_minutes=60, ip=None, now=NOW) is None
    assert emails(session, "account_password_reset") == []


def reset_password(session, raw, new_password, *, ip, now):
    """The whole reset as the member area runs it when the second factor succeeds at once."""
    token = begin_password_reset(session, raw, new_password, ip=ip, now=now)
    return finish_password_reset(session, token.id, pending_digest(token), ip=ip, now=now)


def test_the_new_password_waits_on_the_link_and_nothing_changes_before_the_second_factor(session):
    member = make_member(session)
    member.locked_at, member.failed_login_count = NOW, 10
    old_hash = member.password_hash
    open_session(session, member_id=member.id, policy=SessionPolicy(), ip=None, user_agent="", now=NOW)
    link = reset_link(session, member)
    token = begin_password_reset(session, link, NEW, ip="192.0.2.7", now=NOW)
    assert verify_password(token.pending_password_hash, NEW)
    assert member.password_hash == old_hash and verify_password(member.password_hash, PASSWORD)
    assert member.locked_at == NOW and member.failed_login_count == 10
    assert len(live_sessions(session, member_id=member.id, policy=SessionPolicy(), now=NOW)) == 1
    assert token.used_at is None and valid_reset_token(session, link, NOW) is token
    assert emails(session, "account_password_changed") == []
    assert "password.reset" not in [e.action for e in session.scalars(select(AuditEvent))]


def test_the_link_sets_a_password_once_lifts_the_lock_and_ends_sessions(session):
    member = make_member(session)
    member.locked_at, member.failed_login_count = NOW, 10
    open_session(session, member_id=member.id, policy=SessionPolicy(), ip=None, user_agent="", now=NOW)
    link = reset_link(session, member)
    assert reset_password(session, link, NEW, ip="192.0.2.7", now=NOW) is member
    assert verify_password(member.password_hash, NEW) and member.password_set_at == NOW
    assert member.locked_at is None and member.failed_login_count == 0
    assert live_sessions(session, member_id=member.id, policy=SessionPolicy(), now=NOW) == []
    assert emails(session, "account_password_changed")[-1].recipient == member.email
    with pytest.raises(InvalidLink):
        reset_password(session, link, "Randonnee-en-Chartreuse-74", ip=None, now=NOW)


def test_a_reset_whose_password_was_replaced_meanwhile_is_not_finished(session):
    member = make_member(session)
    link = reset_link(session, member)
    first = begin_password_reset(session, link, NEW, ip=None, now=NOW)
    digest = pending_digest(first)
    begin_password_reset(session, link, "Randonnee-en-Chartreuse-74", ip=None, now=NOW)
    assert pending_reset(session, first.id, digest, NOW) is None
    with pytest.raises(InvalidLink):
        finish_password_reset(session, first.id, digest, ip=None, now=NOW)
    assert verify_password(member.password_hash, PASSWORD)


def test_too_many_wrong_codes_end_the_link(session):
    member = make_member(session)
    link = reset_link(session, member)
    token = begin_password_reset(session, link, NEW, ip=None, now=NOW)
    policy = SignInPolicy()
    assert all(count_reset_code_failure(token, policy=policy, now=NOW) for _ in range(policy.lock_after_failures - 1))
    assert not count_reset_code_failure(token, policy=policy, now=NOW)
    assert valid_reset_token(session, link, NOW) is None
    assert verify_password(member.password_hash, PASSWORD)


def test_an_expired_or_replaced_link_is_refused(session):
    member = make_member(session)
    expired = reset_link(session, member)
    with pytest.raises(InvalidLink):
        reset_password(session, expired, NEW, ip=None, now=NOW + timedelta(minutes=61))
    replaced = reset_link(session, member, now=NOW + timedelta(minutes=1))
    newest = reset_link(session, member, now=NOW + timedelta(minutes=2))
    with pytest.raises(InvalidLink):
        reset_password(session, replaced, NEW, ip=None, now=NOW + timedelta(minutes=3))
    assert reset_password(session, newest, NEW, ip=None, now=NOW + timedelta(minutes=3)) is member


def test_a_refused_password_keeps_the_link_usable(session):
    member = make_member(session)
    link = reset_link(session, member)
    with pytest.raises(PasswordRejected) as refused:
        begin_password_reset(session, link, "Court-1", ip=None, now=NOW)
    assert RULE_LENGTH in refused.value.problems
    assert reset_password(session, link, NEW, ip=None, now=NOW) is member


def test_at_most_five_reset_e_mails_an_hour(session):
    member = make_member(session)
    for i in range(7):
        request_password_reset(session, member.number, make_link=str, valid_minutes=60, ip=None,
                               now=NOW + timedelta(minutes=i))
    assert len(emails(session, "account_password_reset")) == 5
    assert session.scalar(select(AccountToken.id).where(AccountToken.member_id == member.id)) is not None


def test_changing_the_password_needs_the_current_one_ends_other_sessions_and_notifies(session):
    member = make_member(session)
    policy, sessions = SignInPolicy(), SessionPolicy()
    old_key = open_session(session, member_id=member.id, policy=sessions, ip=None, user_agent="", now=NOW)
    old_hash = member.password_hash
    kw = dict(policy=policy, session_policy=sessions, user_agent="", ip=None, now=NOW)
    with pytest.raises(WrongCurrentPassword):
        change_password(session, member, "Not-the-password-1", NEW, **kw)
    assert member.password_hash == old_hash and member.failed_login_count == 1
    with pytest.raises(PasswordRejected):
        change_password(session, member, PASSWORD, PASSWORD, **kw)
    new_key = change_password(session, member, PASSWORD, NEW, **kw)
    assert find_session(session, old_key, policy=sessions, now=NOW) is None
    assert find_session(session, new_key, policy=sessions, now=NOW).member_id == member.id
    assert verify_password(member.password_hash, NEW) and member.password_set_at == NOW
    assert emails(session, "account_password_changed")[-1].recipient == member.email
