"""The member area on the embedded SQLite database (``make run``): every page a signed-in member opens answers, in
French and in English, from the statements SQLite takes (a PostgreSQL-only form is an outage page there)."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy import select

from member_app import create_app
from models.db import session_factory
from models.demo import load_demo
from models.members.entities import Member
from models.schema import upgrade
from tests.helpers import login_member

#: Pages a member does not simply open: the sign-in journey, downloads, and steps that need one before them.
NOT_OPENED = ("auth.", "static", "health", "card.send", "profile.email", "profile.mobile")


def test_every_member_page_answers_on_the_embedded_database(tmp_path, member_app_config, models_config):
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    upgrade(url)
    config = replace(member_app_config, models=replace(models_config, database_url=url))
    app = create_app(config)
    with session_factory(config.models)() as embedded:
        load_demo(embedded)
        embedded.commit()
        lea = embedded.scalar(select(Member).where(Member.number == "4400000"))
        client = app.test_client()
        login_member(client, lea)
        values = {"contract_id": lea.contracts[0].id,
                  "beneficiary_id": next(b.id for b in lea.beneficiaries if b.role.value == "spouse")}
    answers = {}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint.startswith(NOT_OPENED) or rule.endpoint in NOT_OPENED:
            continue
        if not set(rule.arguments) <= set(values):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<int:{name}>", str(values[name]))
        for language in ("fr", "en"):
            answers[f"{path}?lang={language}"] = client.get(f"{path}?lang={language}")
    assert len(answers) > 40
    refused = {path: response.status_code for path, response in answers.items() if response.status_code >= 400}
    assert refused == {}
    home = answers["/?lang=fr"].get_data(as_text=True)
    assert "Bienvenue Léa RIMON" in home and 'href="/mes-demandes/TLT-' in home  # her latest requests
    assert answers["/mes-demandes/?lang=en"].get_data(as_text=True).count("<tr") > 3
