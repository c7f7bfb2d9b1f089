"""Member sign-in rules: passwords, guessing limits, captcha replay, SMS codes, authenticator app, terms."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta

import altcha
import pyotp
import pytest
from sqlalchemy import select, text

from models.audit.entities import AuditEvent
from models.content.entities import TermsVersion
from models.members import passwords, security
from models.members.entities import CodePurpose, PasswordHistory, SecondFactor, UsedCaptcha
from models.members.passwords import (RULE_COMMON, RULE_HISTORY, RULE_LENGTH, RULE_LOWERCASE, RULE_MAX_LENGTH,
                                      RULE_PERSONAL, RULE_VARIETY, SPECIAL_CHARACTERS, ExpiryPolicy,
                                      PasswordRejected, hash_password, password_problems, rule_problems,
                                      set_password, verify_password)
from models.members.security import CodeCheck, CodeNotSent, SignInPolicy, Throttle
from models.outbox.entities import Channel, OutboxMessage
from models.sessions.operations import SessionPolicy, find_session, open_session
from tests.factories import PASSWORD, make_member

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
POLICY = SignInPolicy(captcha_cost=50)
SESSIONS = SessionPolicy()
SECRET = "test-captcha-secret"


def messages(session, template=None):
    session.flush()
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if template:
        query = query.where(OutboxMessage.template == template)
    return list(session.scalars(query))


def actions(session):
    session.flush()
    return [e.action for e in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


# --- password rules of the guide -------------------------------------------------------------------------


def test_eleven_characters_are_refused_and_twelve_accepted():
    assert rule_problems("Jardin-bleu") == [RULE_LENGTH]
    assert rule_problems("Jardin-bleus") == []


def test_a_password_without_lowercase_letter_names_that_rule():
    assert rule_problems("JARDIN-BLEU-38") == [RULE_LOWERCASE]


def test_lowercase_only_names_the_digit_special_or_capital_rule():
    assert rule_problems("jardinbleuvert") == [RULE_VARIETY]


@pytest.mark.parametrize("extra", ["7", "V", *SPECIAL_CHARACTERS])
def test_a_digit_a_capital_or_any_special_character_of_the_guide_completes_the_rule(extra):
    assert RULE_VARIETY not in rule_problems("jardinbleuvert" + extra)


def test_a_short_password_names_every_rule_it_breaks():
    assert rule_problems("ABC") == [RULE_LENGTH, RULE_LOWERCASE]


@pytest.mark.parametrize("password", ["Azerty123456!", "Motdepasse2024!", "P@ssw0rd2024!", "Soleil2024!!!",
                                      "azertyuiop123", "Mot-de-passe-2026", "4zerty123456!", "Mutuelle2026!!",
                                      "Marseille13013!", "Bonjour2025!!"])
def test_common_and_breached_passwords_are_refused(password):
    assert RULE_COMMON in rule_problems(password)


@pytest.mark.parametrize("password", ["Vacances-au-Vercors-38", "Correct-Horse-2026", "Jardin potager 2026"])
def test_passphrases_are_not_mistaken_for_common_passwords(password):
    assert rule_problems(password) == []


def test_the_bundled_list_holds_the_breached_corpus_and_french_entries():
    common = passwords.common_passwords()
    assert len(common) > 50_000
    assert {"azerty123456!", "motdepasse2024!", "123456", "password", "soleil"} <= common


def test_the_member_number_name_or_birth_date_are_refused(session):
    member = make_member(session, number="5512345")
    for password in ("Mon-numero-5512345", "Jardin-Rimon-bleu", "lea-jardin-bleu-38", "Jardin-10011984!",
                     "Jardin-1984.01.10"):
        assert RULE_PERSONAL in rule_problems(password, member), password
    assert RULE_PERSONAL not in rule_problems("Vacances-au-Vercors-38", member)


def test_64_and_128_characters_are_accepted_and_more_than_256_refused():
    assert rule_problems("Vercors-" * 8) == []
    assert rule_problems("Vercors-" * 16) == []
    assert RULE_MAX_LENGTH in rule_problems("Vercors-" * 33)


def test_a_password_used_before_is_refused_current_or_in_history(session):
    member = make_member(session)
    assert password_problems(session, member, PASSWORD) == [RULE_HISTORY]
    set_password(session, member, "Vacances-au-Vercors-38", now=NOW)
    set_password(session, member, "Randonnee-en-Chartreuse-74", now=NOW)
    assert session.scalar(select(PasswordHistory.id).where(PasswordHistory.member_id == member.id)) is not None
    with pytest.raises(PasswordRejected) as refused:
        set_password(session, member, PASSWORD, now=NOW)
    assert refused.value.problems == [RULE_HISTORY]
    assert RULE_HISTORY in password_problems(session, member, "Vacances-au-Vercors-38")


def test_set_password_refuses_with_every_broken_rule_and_keeps_the_old_hash(session):
    member = make_member(session)
    before = member.password_hash
    with pytest.raises(PasswordRejected) as refused:
        set_password(session, member, "azerty", now=NOW)
    assert refused.value.problems == [RULE_LENGTH, RULE_VARIETY, RULE_COMMON]
    assert member.password_hash == before


def test_hashes_are_argon2id_and_the_password_is_verified_exactly_as_typed():
    hashed = hash_password("Vacances-au-Vercors-38")
    assert hashed.startswith("$argon2id$") and "Vercors" not in hashed
    assert verify_password(hashed, "Vacances-au-Vercors-38")
    for wrong in ("vacances-au-vercors-38", "Vacances-au-Vercors-38 ", "Vacances-au-Vercors-3"):
        assert not verify_password(hashed, wrong)
    assert not verify_password(None, "Vacances-au-Vercors-38")


def test_accented_passwords_typed_in_nfc_or_nfd_are_the_same():
    nfc = unicodedata.normalize("NFC", "Mötdepässé-du-Vercors")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    assert verify_password(hash_password(nfd), nfc)


def test_a_password_expires_after_the_configured_days(session):
    member = make_member(session)
    member.password_set_at = NOW - timedelta(days=180) + timedelta(seconds=1)
    assert not ExpiryPolicy(180).expired(member, NOW)
    member.password_set_at = NOW - timedelta(days=180)
    assert ExpiryPolicy(180).expired(member, NOW)
    assert not ExpiryPolicy(365).expired(member, NOW)


# --- guessing limits ---------------------------------------------------------------------------------------


def fail(session, member, now):
    assert security.check_password(session, member.number, "Wrong-password-123", policy=POLICY, ip="192.0.2.1",
                                   now=now) is None


def test_after_five_failures_each_try_waits_a_growing_delay(session):
    member = make_member(session)
    for _ in range(5):
        fail(session, member, NOW)
    assert member.failed_login_count == 5
    # Right password during the 1-minute delay: refused, not even counted.
    assert security.check_password(session, member.number, PASSWORD, policy=POLICY, ip=None,
                                   now=NOW + timedelta(seconds=59)) is None
    assert member.failed_login_count == 5
    assert security.throttle(member, POLICY, NOW + timedelta(seconds=60)) is Throttle.OPEN
    fail(session, member, NOW + timedelta(seconds=60))
    assert security.throttle(member, POLICY, NOW + timedelta(seconds=60 + 119)) is Throttle.DELAYED
    assert security.throttle(member, POLICY, NOW + timedelta(seconds=60 + 120)) is Throttle.OPEN
    assert security.check_password(session, member.number, PASSWORD, policy=POLICY, ip=None,
                                   now=NOW + timedelta(seconds=180)) is member
    assert member.failed_login_count == 6, "forgiven only when the second factor succeeds"
    security.complete_sign_in(session, member, method="sms", via="password", session_policy=SESSIONS, user_agent="",
                              ip=None, now=NOW + timedelta(seconds=200))
    assert member.failed_login_count == 0
    assert "signin.refused" in actions(session)


def test_the_tenth_failure_locks_the_account_until_a_reset_and_tells_the_member(session):
    member = make_member(session)
    now = NOW
    for i in range(10):
        fail(session, member, now)
        now += timedelta(hours=1)
    assert member.locked_at is not None
    assert security.throttle(member, POLICY, now + timedelta(days=30)) is Throttle.LOCKED
    # The 11th attempt, with the right password, a month later: still refused.
    assert security.check_password(session, member.number, PASSWORD, policy=POLICY, ip=None,
                                   now=now + timedelta(days=30)) is None
    assert [m.recipient for m in messages(session, "account_locked")] == [member.email]
    assert actions(session).count("signin.locked") == 1


@pytest.mark.parametrize("known", [True, False])
def test_known_and_unknown_identifiers_cost_exactly_one_hash(session, monkeypatch, known):
    member = make_member(session)
    calls = []
    real = security.verify_password
    monkeypatch.setattr(security, "verify_password", lambda h, p: calls.append(h) or real(h, p))
    identifier = member.number if known else "9999999"
    assert security.check_password(session, identifier, "Wrong-password-123", policy=POLICY, ip=None,
                                   now=NOW) is None
    assert len(calls) == 1


def test_a_password_hashed_with_weaker_parameters_is_rehashed_at_sign_in(session):
    from argon2 import PasswordHasher

    member = make_member(session)
    member.password_hash = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert security.check_password(session, member.number, PASSWORD, policy=POLICY, ip=None, now=NOW) is member
    assert "m=19456,t=2,p=1" in member.password_hash


# --- captcha -----------------------------------------------------------------------------------------------


def solved(now=None, secret=SECRET):
    challenge = altcha.Challenge.from_dict(security.captcha_challenge(secret, policy=POLICY, now=now or
                                                                       datetime.now(UTC)))
    return altcha.Payload(challenge, altcha.solve_challenge(challenge)).to_base64()


def test_a_solved_captcha_is_accepted_once_and_its_replay_refused(session):
    payload = solved()
    now = datetime.now(UTC)
    assert security.verify_captcha(session, payload, secret=SECRET, now=now)
    assert not security.verify_captcha(session, payload, secret=SECRET, now=now)
    assert session.scalar(select(UsedCaptcha.expires_at)) > now


def test_expired_tampered_unsigned_or_foreign_captchas_are_refused(session, time_machine):
    time_machine.move_to(NOW, tick=False)
    payload = solved(NOW)
    time_machine.move_to(NOW + timedelta(minutes=10, seconds=1), tick=False)
    assert not security.verify_captcha(session, payload, secret=SECRET, now=NOW + timedelta(minutes=11))
    time_machine.move_to(NOW, tick=False)
    assert not security.verify_captcha(session, solved(NOW, secret="another-secret"), secret=SECRET, now=NOW)
    tampered = altcha.Payload.from_base64(solved(NOW))
    tampered.challenge.parameters.cost = 1
    assert not security.verify_captcha(session, tampered.to_base64(), secret=SECRET, now=NOW)
    unsigned = altcha.Payload.from_base64(solved(NOW))
    unsigned.challenge.signature = None
    assert not security.verify_captcha(session, unsigned.to_base64(), secret=SECRET, now=NOW)
    for junk in ("", "not-base64", "e30=", "x" * 5000):
        assert not security.verify_captcha(session, junk, secret=SECRET, now=NOW)


def test_used_captchas_are_forgotten_once_expired(session):
    session.add(UsedCaptcha(signature="old", expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    session.flush()
    assert security.verify_captcha(session, solved(), secret=SECRET, now=datetime.now(UTC))
    assert session.get(UsedCaptcha, "old") is None


# --- SMS codes ---------------------------------------------------------------------------------------------


def send(session, member, attempt="attempt-a", now=NOW, purpose=CodePurpose.LOGIN, to=None):
    security.send_code(session, member, attempt=attempt, purpose=purpose, destination=to or member.mobile,
                       policy=POLICY, ip="192.0.2.1", now=now)
    sms = messages(session)[-1]
    assert sms.channel is Channel.SMS
    return re.search(r"\b(\d{6})\b", sms.text_body).group(1)


def check(session, member, code, attempt="attempt-a", now=NOW, purpose=CodePurpose.LOGIN):
    return security.check_code(session, member, code, attempt=attempt, purpose=purpose, policy=POLICY,
                               ip="192.0.2.1", now=now)


def test_a_code_is_six_random_digits_sent_by_sms_and_stored_only_as_a_keyed_hash(session):
    member = make_member(session)
    code = send(session, member)
    session.commit()
    assert re.fullmatch(r"\d{6}", code)
    sms = messages(session)[-1]
    assert sms.recipient == member.mobile and sms.template == "code_login"
    dump = " ".join(str(v) for row in session.execute(text("SELECT * FROM one_time_code")) for v in row)
    assert code not in dump
    assert "signin.code_sent" in actions(session)


def test_codes_are_uniformly_random(session):
    member = make_member(session)
    policy = SignInPolicy(code_resend_seconds=0, codes_per_hour=10 ** 6)
    for i in range(300):
        security.send_code(session, member, attempt=f"attempt-{i}", purpose=CodePurpose.LOGIN,
                           destination=member.mobile, policy=policy, ip=None, now=NOW)
    codes = [re.search(r"\b(\d{6})\b", m.text_body).group(1) for m in messages(session)]
    assert len(codes) == 300 and all(re.fullmatch(r"\d{6}", c) for c in codes)
    assert len(set(codes)) >= 295
    first_digits = {c[0] for c in codes}
    assert len(first_digits) == 10


def test_the_right_code_works_once(session):
    member = make_member(session)
    code = send(session, member)
    assert check(session, member, f" {code[:3]} {code[3:]} ") is CodeCheck.OK
    assert check(session, member, code) is CodeCheck.MISSING


def test_wrong_codes_count_and_the_fifth_ends_the_code(session):
    member = make_member(session)
    code = send(session, member)
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    for _ in range(4):
        assert check(session, member, wrong) is CodeCheck.WRONG
    assert check(session, member, wrong) is CodeCheck.WRONG
    assert check(session, member, code) is CodeCheck.MISSING
    assert member.failed_login_count == 5
    assert actions(session).count("signin.code_failed") == 6


def test_a_code_expires_after_the_configured_minutes(session):
    member = make_member(session)
    code = send(session, member)
    assert check(session, member, code, now=NOW + timedelta(minutes=5)) is CodeCheck.EXPIRED
    code = send(session, member, attempt="attempt-b")
    assert check(session, member, code, attempt="attempt-b", now=NOW + timedelta(minutes=4, seconds=59)) \
        is CodeCheck.OK


def test_a_code_belongs_to_its_sign_in_attempt(session):
    member = make_member(session)
    code = send(session, member, attempt="attempt-a")
    assert check(session, member, code, attempt="attempt-b") is CodeCheck.MISSING
    assert check(session, member, code, attempt="attempt-a") is CodeCheck.OK


def test_a_new_code_ends_the_previous_one(session):
    member = make_member(session)
    first = send(session, member, attempt="attempt-a")
    second = send(session, member, attempt="attempt-b", now=NOW + timedelta(seconds=1))
    assert check(session, member, first, attempt="attempt-a") is CodeCheck.MISSING
    assert check(session, member, second, attempt="attempt-b") is CodeCheck.OK


def test_resending_waits_a_minute_and_five_codes_an_hour_at_most(session):
    member = make_member(session)
    send(session, member)
    with pytest.raises(CodeNotSent):
        send(session, member, now=NOW + timedelta(seconds=59))
    for i in range(1, 5):
        send(session, member, now=NOW + timedelta(minutes=i))
    with pytest.raises(CodeNotSent):
        send(session, member, attempt="attempt-new", now=NOW + timedelta(minutes=10))
    send(session, member, attempt="attempt-new", now=NOW + timedelta(hours=1, minutes=1))


def codes_of_mobile_confirmation(session, member):
    """The SMS code and the e-mail code of the last mobile confirmation asked for."""
    sms = messages(session)
    texts = [m.text_body for m in sms if m.channel is Channel.SMS]
    mails = [m.text_body for m in sms if m.template == "account_mobile_confirmation"]
    return re.search(r"\b(\d{6})\b", texts[-1]).group(1), \
        (re.search(r": (\d{6})\b", mails[-1]).group(1) if mails else "")


def test_a_new_mobile_needs_the_sms_code_and_the_code_sent_to_the_e_mail_on_file(session):
    member = make_member(session, mobile=None)
    assert security.request_mobile_confirmation(session, member, "+33655443322", attempt="attempt-a", policy=POLICY,
                                                ip="192.0.2.1", now=NOW) is True
    sms_code, email_code = codes_of_mobile_confirmation(session, member)
    mail = messages(session, "account_mobile_confirmation")[-1]
    assert mail.recipient == member.email and mail.secret and "06 ** ** ** 22" in mail.text_body
    # The SMS code alone (what the password holder controls) is not enough.
    assert check(session, member, sms_code, purpose=CodePurpose.MOBILE) is CodeCheck.WRONG
    assert member.mobile is None and not member.mobile_verified
    assert security.check_code(session, member, sms_code, attempt="attempt-a", purpose=CodePurpose.MOBILE,
                               policy=POLICY, ip=None, now=NOW, email_code=email_code) is CodeCheck.OK
    assert member.mobile == "+33655443322" and member.mobile_verified
    notice = messages(session, "account_mobile_added")[-1]
    assert notice.recipient == member.email and "06 ** ** ** 22" in notice.text_body
    assert {"mobile.confirmation_requested", "mobile.confirmed"} <= set(actions(session))


def test_the_number_on_file_is_confirmed_by_sms_alone(session):
    member = make_member(session)
    member.mobile_verified = False
    assert security.request_mobile_confirmation(session, member, member.mobile, attempt="attempt-a", policy=POLICY,
                                                ip=None, now=NOW) is False
    assert messages(session, "account_mobile_confirmation") == []
    sms_code, _ = codes_of_mobile_confirmation(session, member)
    assert check(session, member, sms_code, purpose=CodePurpose.MOBILE) is CodeCheck.OK
    assert member.mobile_verified


def test_a_new_mobile_is_refused_online_without_an_e_mail_on_file_and_for_app_users(session):
    member = make_member(session, mobile=None, email=None)
    with pytest.raises(security.MobileRefused):
        security.request_mobile_confirmation(session, member, "+33655443322", attempt="a", policy=POLICY, ip=None,
                                             now=NOW)
    app_user = make_member(session, mobile=None)
    app_user.second_factor = SecondFactor.TOTP
    with pytest.raises(security.MobileRefused):
        security.request_mobile_confirmation(session, app_user, "+33655443322", attempt="a", policy=POLICY,
                                             ip=None, now=NOW)
    assert [m for m in messages(session) if m.channel is Channel.SMS] == []


# --- authenticator app -------------------------------------------------------------------------------------


def reauthenticated_session(session, member, now=NOW):
    """A session of ``member`` whose password and second factor were just asked again."""
    key = open_session(session, member_id=member.id, policy=SESSIONS, ip=None, user_agent="", now=now)
    web_session = find_session(session, key, policy=SESSIONS, now=now)
    web_session.reauthenticated_at = now
    return web_session


def test_authenticator_enrolment_then_codes_work_once(session):
    member = make_member(session)
    uri = security.begin_totp_enrolment(session, member, now=NOW)
    assert uri.startswith("otpauth://totp/MESE:") and member.second_factor is SecondFactor.SMS
    totp = pyotp.TOTP(member.totp_secret)
    web_session = reauthenticated_session(session, member)
    enrol = dict(web_session=web_session, session_policy=SESSIONS, ip=None, now=NOW)
    assert not security.confirm_totp_enrolment(session, member, "000000", **enrol) or totp.at(NOW) == "000000"
    assert security.confirm_totp_enrolment(session, member, totp.at(NOW), **enrol)
    assert member.second_factor is SecondFactor.TOTP
    assert messages(session, "account_second_factor_changed")
    later = NOW + timedelta(seconds=30)
    assert security.check_totp(session, member, totp.at(later), policy=POLICY, ip=None, now=later) is CodeCheck.OK
    assert security.check_totp(session, member, totp.at(later), policy=POLICY, ip=None, now=later) \
        is CodeCheck.REPLAYED
    assert member.failed_login_count == 1
    stored = session.execute(text("SELECT totp_secret FROM member WHERE id = :id"), {"id": member.id}).scalar()
    assert member.totp_secret not in stored


def test_changing_the_second_factor_needs_a_recent_reauthentication(session):
    member = make_member(session)
    security.begin_totp_enrolment(session, member, now=NOW)
    totp = pyotp.TOTP(member.totp_secret)
    key = open_session(session, member_id=member.id, policy=SESSIONS, ip=None, user_agent="", now=NOW)
    web_session = find_session(session, key, policy=SESSIONS, now=NOW)
    with pytest.raises(security.ReauthenticationRequired):
        security.confirm_totp_enrolment(session, member, totp.at(NOW), web_session=web_session,
                                        session_policy=SESSIONS, ip=None, now=NOW)
    with pytest.raises(security.ReauthenticationRequired):
        security.request_mobile_change(session, member, "+33655443322", web_session=web_session, web_session_key=key,
                                       session_policy=SESSIONS, policy=POLICY, ip=None, now=NOW)
    # Password and an SMS code of the current mobile open the window, for a while only.
    security.send_reauthentication_code(session, member, web_session_key=key, policy=POLICY, ip=None, now=NOW)
    code = re.search(r"\b(\d{6})\b", messages(session)[-1].text_body).group(1)
    assert messages(session)[-1].recipient == member.mobile
    assert security.reauthenticate(session, member, web_session, "Wrong-password-1", code, web_session_key=key,
                                   policy=POLICY, ip=None, now=NOW) is CodeCheck.WRONG
    assert web_session.reauthenticated_at is None and member.failed_login_count == 1
    assert security.reauthenticate(session, member, web_session, PASSWORD, code, web_session_key=key,
                                   policy=POLICY, ip=None, now=NOW) is CodeCheck.OK
    assert security.confirm_totp_enrolment(session, member, totp.at(NOW), web_session=web_session,
                                           session_policy=SESSIONS, ip=None, now=NOW)
    later = NOW + timedelta(minutes=SESSIONS.reauthentication_minutes, seconds=1)
    with pytest.raises(security.ReauthenticationRequired):
        security.disable_totp(session, member, web_session=web_session, session_policy=SESSIONS, ip=None, now=later)
    assert member.second_factor is SecondFactor.TOTP
    assert {"reauthentication.failed", "reauthentication.succeeded"} <= set(actions(session))


def test_going_back_to_sms_needs_the_password_and_a_right_authenticator_code(session):
    member = make_member(session)
    security.begin_totp_enrolment(session, member, now=NOW)
    totp = pyotp.TOTP(member.totp_secret)
    security.confirm_totp_enrolment(session, member, totp.at(NOW), web_session=reauthenticated_session(
        session, member), session_policy=SESSIONS, ip=None, now=NOW)
    later = NOW + timedelta(minutes=11)
    key = open_session(session, member_id=member.id, policy=SESSIONS, ip=None, user_agent="", now=later)
    web_session = find_session(session, key, policy=SESSIONS, now=later)
    assert security.reauthenticate(session, member, web_session, PASSWORD, "12345", web_session_key=key,
                                   policy=POLICY, ip=None, now=later) is CodeCheck.WRONG
    assert security.reauthenticate(session, member, web_session, PASSWORD, totp.at(later), web_session_key=key,
                                   policy=POLICY, ip=None, now=later) is CodeCheck.OK
    security.disable_totp(session, member, web_session=web_session, session_policy=SESSIONS, ip=None, now=later)
    assert member.second_factor is SecondFactor.SMS and member.totp_secret is None


# --- terms of use ------------------------------------------------------------------------------------------


def test_members_accept_the_current_terms_and_again_when_a_new_version_is_published(session):
    member = make_member(session)
    assert security.terms_to_accept(session, member, NOW) is None
    v1 = TermsVersion(version="2025V2", body="v1", published_at=NOW - timedelta(days=10))
    draft = TermsVersion(version="2027V1", body="draft", published_at=None)
    session.add_all([v1, draft])
    session.flush()
    assert security.terms_to_accept(session, member, NOW) is v1
    security.accept_terms(session, member, v1, ip="192.0.2.1", now=NOW)
    assert security.terms_to_accept(session, member, NOW) is None
    v2 = TermsVersion(version="2026V1", body="v2", published_at=NOW + timedelta(days=1))
    session.add(v2)
    session.flush()
    assert security.terms_to_accept(session, member, NOW) is None
    assert security.terms_to_accept(session, member, NOW + timedelta(days=2)) is v2
    event = session.scalar(select(AuditEvent).where(AuditEvent.action == "terms.accepted"))
    assert event.details == {"version": "2025V2"} and event.ip == "192.0.2.1"
