"""Links in e-mails come from PUBLIC_URL or an allowed host, never from the request's Host header alone."""

from __future__ import annotations

from dataclasses import replace

from tests.factories import make_member
from tests.member_app.test_auth_support import CSRF, auth_config, outbox  # noqa: F401


def app_with(auth_config, **settings):
    from member_app import create_app

    return create_app(replace(auth_config, **settings))


def ask_reset(client, member, host: str, identifier: str | None = None):
    """The forgotten-password form, reached with ``host`` in the Host header."""
    base = f"http://{host}"
    match = CSRF.search(client.get("/mot-de-passe-oublie", base_url=base).get_data(as_text=True))
    token = match.group(1) or match.group(2)
    return client.post("/mot-de-passe-oublie", base_url=base,
                       data={"csrf_token": token, "identifiant": identifier or member.number})


def test_a_forged_host_never_reaches_an_e_mail(migrated_database, auth_config, session):
    member = make_member(session)
    client = app_with(auth_config, public_url="").test_client()
    assert ask_reset(client, member, "evil.example").status_code == 400
    assert outbox(session) == []
    unknown = ask_reset(client, member, "evil.example", identifier="9999999")
    assert unknown.status_code == 400  # the same answer whoever is asked for
    assert ask_reset(client, member, "localhost").status_code == 302
    message = outbox(session, template="account_password_reset")[-1]
    assert "http://localhost/mot-de-passe/nouveau/" in message.text_body and "evil" not in message.text_body


def test_with_a_public_url_links_use_it_whatever_the_host(migrated_database, auth_config, session):
    member = make_member(session)
    client = app_with(auth_config, public_url="https://adherents.mese.example").test_client()
    assert ask_reset(client, member, "evil.example").status_code == 302
    message = outbox(session, template="account_password_reset")[-1]
    assert "https://adherents.mese.example/mot-de-passe/nouveau/" in message.text_body
    assert "evil" not in message.text_body + (message.html_body or "")


def test_allowed_hosts_come_from_the_environment():
    from member_app.config import MemberAppConfig

    assert MemberAppConfig.from_env({"ALLOWED_HOSTS": " Adherents.mese.fr, intranet "}).allowed_hosts == (
        "adherents.mese.fr", "intranet")
    assert MemberAppConfig.from_env({}).allowed_hosts == ("localhost", "127.0.0.1")
