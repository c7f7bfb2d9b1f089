"""Activation, forgotten or expired password, password change and terms of use, through the member area."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import select

from models.audit.entities import AuditEvent
from models.content.entities import TermsVersion
from models.members.entities import AccountToken, SecondFactor
from models.members.passwords import (RULE_COMMON, RULE_HISTORY, RULE_LENGTH, RULE_LOWERCASE, RULE_PERSONAL,
                                      RULE_VARIETY, verify_password)
from models.outbox.entities import Channel
from tests.factories import PASSWORD, make_member
from tests.helpers import login_member
from tests.member_app.test_auth_support import (reload, same_page, NEW_PASSWORD, app, audit_actions, auth_config,  # noqa: F401
                                                client, last_sms_code, link_in, login_password, outbox,
                                                post_form, sign_in)

ACTIVATION = {"last_name": "RIMON", "first_name": "Léa", "birth_date": "1984-01-10", "nir": "2 84 80 13 809 111 74"}




# --- activation --------------------------------------------------------------------------------------------


def test_the_activation_page_has_the_guide_s_labels(client):
    page = client.get("/activation").get_data(as_text=True)
    for label in ("Activation de votre espace", "Nous vous invitons à renseigner les informations de l'assuré "
                  "principal.", "Nom", "Prénom", "Date de naissance", "Numéro INSEE",
                  "Besoin d'aide pour créer votre compte ?", "Annuler", "Envoyer"):
        assert label in page, label


def test_activation_answers_the_same_whether_or_not_someone_matched(app, session):
    member = make_member(session, password=None)
    matched = post_form(app.test_client(), "/activation", ACTIVATION)
    unmatched = post_form(app.test_client(), "/activation", {**ACTIVATION, "first_name": "Zoé"})
    assert matched.status_code == unmatched.status_code == 302
    assert matched.location == unmatched.location == "/activation/envoyee"
    answer = app.test_client().get(matched.location).get_data(as_text=True)
    assert "un e-mail contenant votre identifiant vient d'être envoyé" in answer
    mails = outbox(session, channel=Channel.EMAIL)
    assert [(m.recipient, m.template) for m in mails] == [(member.email, "account_activation")]
    assert f"Votre identifiant mese : {member.number}" in mails[0].text_body


def test_a_wrong_nir_format_or_key_is_shown_next_to_the_field(client, session):
    response = post_form(client, "/activation", {**ACTIVATION, "nir": "2 84 80 13 809 111 75"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and 'id="nir-error"' in page and "La clé du numéro INSEE" in page
    page = post_form(client, "/activation", {**ACTIVATION, "nir": "12345", "birth_date": ""}).get_data(as_text=True)
    assert "13 caractères, ou 15 avec la clé" in page and 'id="birth_date-error"' in page
    assert outbox(session) == []


@pytest.mark.parametrize(("url", "data"), [
    ("/activation", {**ACTIVATION, "first_name": "Zoé"}),
    ("/mot-de-passe-oublie", {"identifiant": "9999999"}),
])
def test_the_account_forms_are_rate_limited_per_address(client, url, data):
    codes = [post_form(client, url, data, environ_base={"REMOTE_ADDR": "192.0.2.80"}).status_code
             for _ in range(11)]
    assert codes[:10] == [302] * 10 and codes[10] == 429
    other = {**data, "identifiant": "9999998"} if "identifiant" in data else data  # its own limit per identifier
    assert post_form(client, url, other, environ_base={"REMOTE_ADDR": "192.0.2.81"}).status_code == 302


# --- forgotten or expired password -------------------------------------------------------------------------


def request_link(client, session, member) -> str:
    response = post_form(client, "/mot-de-passe-oublie", {"identifiant": member.number})
    assert response.location == "/mot-de-passe-oublie/envoye"
    return link_in(outbox(session, template="account_password_reset")[-1])


def test_the_forgotten_password_page_has_the_guide_s_labels(client):
    page = client.get("/mot-de-passe-oublie").get_data(as_text=True)
    for label in ("Mot de passe oublié", "Saisissez l'identifiant associé à votre compte (le même que celui de "
                  "votre espace personnel sur l'extranet)", "Identifiant", "Valider", "Retour à la page de connexion"):
        assert label in page, label


def test_unknown_identifiers_get_the_same_answer_and_no_e_mail(app, session):
    member = make_member(session)
    known = post_form(app.test_client(), "/mot-de-passe-oublie", {"identifiant": member.number})
    unknown = post_form(app.test_client(), "/mot-de-passe-oublie", {"identifiant": "9999999"})
    assert (known.status_code, known.location) == (unknown.status_code, unknown.location)
    assert len(outbox(session, channel=Channel.EMAIL)) == 1


def test_a_first_password_is_set_through_the_link_and_ends_with_the_sms_code(client, session):
    member = make_member(session, password=None)
    link = request_link(client, session, member)
    page = client.get(link).get_data(as_text=True)
    assert "12 caractères au moins" in page and "tous les 180 jours" in page and 'autocomplete="new-password"' in page
    response = post_form(client, link, {"new_password": NEW_PASSWORD})
    assert response.location == "/connexion/code"
    assert client.get("/").location.startswith("/connexion")  # not signed in before the code
    assert post_form(client, "/connexion/code", {"code": last_sms_code(session, member)}).location == "/"
    assert verify_password(reload(session, member).password_hash, NEW_PASSWORD)
    actions = audit_actions(session, member.id)
    assert actions.index("password.reset") < actions.index("signin.succeeded")


@pytest.mark.parametrize(("password", "rules"), [
    ("Xq7-mpwz-Lk", [RULE_LENGTH]),
    ("JARDIN-BLEU-38", [RULE_LOWERCASE]),
    ("jardinbleuvert", [RULE_VARIETY]),
    ("Azerty123456!", [RULE_COMMON]),
    ("Jardin-Rimon-38", [RULE_PERSONAL]),
    (PASSWORD, [RULE_HISTORY]),
])
def test_each_broken_rule_is_named_next_to_the_field(client, session, password, rules):
    member = make_member(session)
    link = request_link(client, session, member)
    response = post_form(client, link, {"new_password": password})
    page = response.get_data(as_text=True)
    errors = re.search(r'<div class="error" id="new_password-error">(.*?)</div>', page, re.S).group(1)
    shown = re.sub(r'<span class="visually-hidden">[^<]*</span>', "", errors)
    assert [line.strip() for line in re.sub(r"</?(ul|li)>", "\n", shown).splitlines() if line.strip()] == \
        [r.replace("'", "&#39;") for r in rules]
    assert re.search(r'<input aria-describedby="new_password-error[^"]*" aria-invalid="true"[^>]* id="new_password"', page)
    assert verify_password(reload(session, member).password_hash, PASSWORD)


def test_a_used_link_and_an_expired_link_are_refused(app, session, time_machine):
    time_machine.move_to(datetime.now(UTC), tick=False)
    member = make_member(session)
    client = app.test_client()
    link = request_link(client, session, member)
    assert post_form(client, link, {"new_password": NEW_PASSWORD}).status_code == 302
    assert app.test_client().get(link).status_code == 200  # not used up before the second factor
    assert post_form(client, "/connexion/code", {"code": last_sms_code(session, member)}).location == "/"
    again = app.test_client().get(link)
    assert again.status_code == 410 and "Ce lien n'est plus valable" in again.get_data(as_text=True)
    time_machine.shift(timedelta(minutes=2))
    expiring = request_link(app.test_client(), session, member)
    time_machine.shift(timedelta(minutes=61))
    assert app.test_client().get(expiring).status_code == 410
    assert app.test_client().post(expiring, data={"new_password": "x"}).status_code in (400, 410)
    assert app.test_client().get("/mot-de-passe/nouveau/forged-token").status_code == 410


def lock(session, member):
    member.locked_at, member.failed_login_count = datetime.now(UTC), 10
    member.last_failed_login_at = member.locked_at
    session.commit()


def test_a_reset_unlocks_a_locked_account_only_once_the_code_is_right(client, session):
    member = make_member(session)
    lock(session, member)
    link = request_link(client, session, member)
    assert post_form(client, link, {"new_password": NEW_PASSWORD}).location == "/connexion/code"
    assert reload(session, member).locked_at is not None
    assert "Le code à 6 chiffres" in client.get("/connexion/code").get_data(as_text=True)
    assert post_form(client, "/connexion/code", {"code": last_sms_code(session, member)}).location == "/"
    member = reload(session, member)
    assert member.locked_at is None and member.failed_login_count == 0
    assert verify_password(member.password_hash, NEW_PASSWORD)


def test_nothing_changes_after_the_new_password_until_the_code(app, session):
    member = make_member(session)
    old_hash = member.password_hash
    client = app.test_client()
    link = request_link(client, session, member)
    response = post_form(client, link, {"new_password": NEW_PASSWORD})
    assert response.location == "/connexion/code"
    assert "confirmez votre identité avec le code" in client.get("/connexion/code").get_data(as_text=True)
    member = reload(session, member)
    assert member.password_hash == old_hash
    assert verify_password(member.password_hash, PASSWORD) and not verify_password(member.password_hash, NEW_PASSWORD)
    token = session.scalar(select(AccountToken).where(AccountToken.member_id == member.id))
    assert token.used_at is None and verify_password(token.pending_password_hash, NEW_PASSWORD)
    assert "password.reset" not in audit_actions(session, member.id)
    assert outbox(session, template="account_password_changed") == []
    other = app.test_client()
    assert login_password(other, member.number, PASSWORD).location == "/connexion/code"  # the old one still works
    assert login_password(app.test_client(), member.number, NEW_PASSWORD).status_code == 200


def test_a_locked_account_stays_locked_before_the_code(app, session):
    member = make_member(session)
    lock(session, member)
    client = app.test_client()
    link = request_link(client, session, member)
    post_form(client, link, {"new_password": NEW_PASSWORD})
    assert reload(session, member).locked_at is not None
    page = login_password(app.test_client(), member.number, NEW_PASSWORD).get_data(as_text=True)
    assert "Identifiant ou mot de passe incorrect" in page


def test_the_right_code_sets_the_password_uses_the_link_and_ends_other_sessions(app, session):
    member = make_member(session)
    elsewhere = app.test_client()
    login_member(elsewhere, member)
    assert elsewhere.get("/").status_code == 200
    client = app.test_client()
    link = request_link(client, session, member)
    post_form(client, link, {"new_password": NEW_PASSWORD})
    assert elsewhere.get("/").status_code == 200  # still open before the code
    assert post_form(client, "/connexion/code", {"code": last_sms_code(session, member)}).location == "/"
    assert "Votre mot de passe est enregistré." in client.get("/").get_data(as_text=True)
    member = reload(session, member)
    assert verify_password(member.password_hash, NEW_PASSWORD) and member.password_set_at is not None
    token = session.scalar(select(AccountToken).where(AccountToken.member_id == member.id))
    assert token.used_at is not None and token.pending_password_hash is None
    assert app.test_client().get(link).status_code == 410
    assert elsewhere.get("/").location.startswith("/connexion")
    assert [m.template for m in outbox(session, template="account_password_changed")] == ["account_password_changed"]
    fresh = app.test_client()
    assert sign_in(fresh, session, member, NEW_PASSWORD).location == "/"
    actions = audit_actions(session, member.id)
    assert actions.index("signin.code_sent") < actions.index("password.reset") < actions.index("signin.succeeded")


def test_a_wrong_code_changes_nothing_and_the_link_can_be_used_again(app, session):
    member = make_member(session)
    lock(session, member)
    old_hash = reload(session, member).password_hash
    client = app.test_client()
    link = request_link(client, session, member)
    post_form(client, link, {"new_password": NEW_PASSWORD})
    right = last_sms_code(session, member)
    wrong = post_form(client, "/connexion/code", {"code": "000000" if right != "000000" else "111111"})
    assert "Code incorrect" in wrong.get_data(as_text=True)
    member = reload(session, member)
    assert member.password_hash == old_hash
    assert member.locked_at is not None
    token = session.scalar(select(AccountToken).where(AccountToken.member_id == member.id))
    assert token.used_at is None
    assert client.get("/").location.startswith("/connexion")
    assert outbox(session, template="account_password_changed") == []
    # The code step is abandoned; the link still works until it expires.
    again = app.test_client()
    assert again.get(link).status_code == 200
    assert post_form(again, link, {"new_password": NEW_PASSWORD}).location == "/connexion/code"
    assert post_form(again, "/connexion/code", {"code": last_sms_code(session, member)}).location == "/"
    assert verify_password(reload(session, member).password_hash, NEW_PASSWORD)


def test_the_code_of_an_older_attempt_cannot_confirm_a_password_chosen_since(app, session, time_machine):
    time_machine.move_to(datetime.now(UTC), tick=False)
    member = make_member(session)
    first, second = app.test_client(), app.test_client()
    link = request_link(first, session, member)
    post_form(first, link, {"new_password": NEW_PASSWORD})
    code = last_sms_code(session, member)
    time_machine.shift(timedelta(seconds=61))
    post_form(second, link, {"new_password": "Randonnee-en-Chartreuse-74"})
    assert post_form(first, "/connexion/code", {"code": code}).status_code == 410
    assert verify_password(reload(session, member).password_hash, PASSWORD)
    assert post_form(second, "/connexion/code", {"code": last_sms_code(session, member)}).location == "/"
    assert verify_password(reload(session, member).password_hash, "Randonnee-en-Chartreuse-74")


def test_too_many_wrong_codes_end_the_link_without_changing_the_password(app, session):
    member = make_member(session)
    lock(session, member)
    link = request_link(app.test_client(), session, member)
    token = session.scalar(select(AccountToken).where(AccountToken.member_id == member.id))
    token.code_failures = 9
    session.commit()
    client = app.test_client()
    post_form(client, link, {"new_password": NEW_PASSWORD})
    right = last_sms_code(session, member)
    response = post_form(client, "/connexion/code", {"code": "000000" if right != "000000" else "111111"})
    assert response.status_code == 410 and "Ce lien n" in response.get_data(as_text=True)
    assert app.test_client().get(link).status_code == 410
    member = reload(session, member)
    assert verify_password(member.password_hash, PASSWORD) and member.locked_at is not None


def test_an_app_user_confirms_the_reset_with_the_authenticator_code(app, session, time_machine):
    time_machine.move_to(datetime(2026, 11, 27, 9, 0, 5, tzinfo=UTC), tick=False)
    member = make_member(session)
    member.second_factor, member.totp_secret = SecondFactor.TOTP, pyotp.random_base32()
    session.commit()
    totp = pyotp.TOTP(member.totp_secret)
    client = app.test_client()
    link = request_link(client, session, member)
    sms_before = len(outbox(session, channel=Channel.SMS))
    assert post_form(client, link, {"new_password": NEW_PASSWORD}).location == "/connexion/code"
    assert len(outbox(session, channel=Channel.SMS)) == sms_before
    assert "Code incorrect" in post_form(client, "/connexion/code", {"code": "12345"}).get_data(as_text=True)
    assert verify_password(reload(session, member).password_hash, PASSWORD)
    assert post_form(client, "/connexion/code", {"code": totp.now()}).location == "/"
    assert verify_password(reload(session, member).password_hash, NEW_PASSWORD)


# --- password change ---------------------------------------------------------------------------------------


def test_the_password_change_page_has_the_guide_s_labels_and_rules(client, session):
    member = make_member(session)
    login_member(client, member)
    page = client.get("/mon-compte/mot-de-passe").get_data(as_text=True)
    for label in ("Modifier mon mot de passe", "Mot de passe actuel", "Nouveau mot de passe",
                  "12 caractères au moins", "Il ne doit pas avoir été utilisé par le passé.",
                  "Pour des raisons de sécurité, votre mot de passe doit être changé tous les 180 jours."):
        assert label.replace("'", "&#39;") in page, label


def test_a_wrong_current_password_changes_nothing(client, session):
    member = make_member(session)
    login_member(client, member)
    page = post_form(client, "/mon-compte/mot-de-passe", {"current_password": "Wrong-password-1",
                                                          "new_password": NEW_PASSWORD}).get_data(as_text=True)
    assert 'id="current_password-error"' in page and "Le mot de passe actuel est incorrect." in page
    assert verify_password(reload(session, member).password_hash, PASSWORD)
    missing = post_form(client, "/mon-compte/mot-de-passe", {"new_password": NEW_PASSWORD})
    assert "Ce champ est obligatoire." in missing.get_data(as_text=True)


def test_changing_the_password_ends_other_sessions_keeps_this_one_and_notifies(app, session):
    member = make_member(session)
    here, elsewhere = app.test_client(), app.test_client()
    login_member(here, member)
    login_member(elsewhere, member)
    response = post_form(here, "/mon-compte/mot-de-passe", {"current_password": PASSWORD,
                                                            "new_password": NEW_PASSWORD})
    assert response.status_code == 302 and response.location == "/"
    assert here.get("/").status_code == 200
    assert elsewhere.get("/").location.startswith("/connexion")
    member = reload(session, member)
    assert verify_password(member.password_hash, NEW_PASSWORD)
    assert [m.template for m in outbox(session, channel=Channel.EMAIL)] == ["account_password_changed"]
    assert "password.changed" in audit_actions(session, member.id)


def test_an_expired_password_must_be_changed_before_anything_else(client, session):
    member = make_member(session)
    member.password_set_at = datetime.now(UTC) - timedelta(days=181)
    session.commit()
    assert sign_in(client, session, member, PASSWORD).location == "/mon-compte/mot-de-passe"
    assert client.get("/").location == "/mon-compte/mot-de-passe"
    page = client.get("/mon-compte/mot-de-passe").get_data(as_text=True)
    assert "Votre mot de passe a expiré" in page
    response = post_form(client, "/mon-compte/mot-de-passe", {"current_password": PASSWORD,
                                                              "new_password": NEW_PASSWORD})
    assert response.location == "/"
    assert client.get("/").status_code == 200


# --- terms of use ------------------------------------------------------------------------------------------


def publish(session, version, days_ago=1):
    terms = TermsVersion(version=version, body=f"Conditions {version}",
                         published_at=datetime.now(UTC) - timedelta(days=days_ago))
    session.add(terms)
    session.commit()
    return terms


def test_the_terms_are_accepted_at_first_login_and_again_after_a_new_version(app, session):
    member = make_member(session)
    publish(session, "2025V2", days_ago=10)
    client = app.test_client()
    assert sign_in(client, session, member, PASSWORD).location == "/conditions-generales"
    assert client.get("/").location == "/conditions-generales"
    refused = post_form(client, "/conditions-generales", {})
    assert "Cochez la case pour continuer." in refused.get_data(as_text=True)
    assert post_form(client, "/conditions-generales", {"accept": "y"}).location == "/"
    assert client.get("/").status_code == 200
    publish(session, "2026V1")
    assert client.get("/").status_code == 200  # accepted at the next login, not in the middle of a visit
    post_form(client, "/deconnexion", {}, form_url="/")
    client = app.test_client()
    assert sign_in(client, session, member, PASSWORD).location == "/conditions-generales"
    assert "Conditions 2026V1" in client.get("/conditions-generales").get_data(as_text=True)
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "terms.accepted")).all()
    assert [e.details["version"] for e in events] == ["2025V2"]
