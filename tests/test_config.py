"""Configuration: defaults run locally, production refuses development secrets and a missing Redis."""

import re
from pathlib import Path

import pytest

from backoffice.config import BackofficeConfig
from jobs.config import JobsConfig
from member_app.config import MemberAppConfig
from models.config import ModelsConfig
from web import check_redis_reachable

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION_SECRETS = {
    "MESE_ENV": "production",
    "DATABASE_URL": "postgresql://mese@db/mese",
    "FIELD_ENCRYPTION_KEY": "cHJvZHVjdGlvbi1rZXktMzItYnl0ZXMtbG9uZy0xMjM=",
    "MEMBER_SECRET_KEY": "x" * 40,
    "BACKOFFICE_SECRET_KEY": "y" * 40,
    "CAPTCHA_SECRET": "z" * 40,
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "MAIL_SERVER": "smtp.example.test",
    "PUBLIC_URL": "https://adherents.mese.example",
    "FAX_GATEWAY_DOMAIN": "fax.example.test",
    "SMS_GATEWAY_URL": "https://sms.example.test/send",
}


def test_embedded_defaults_need_no_server():
    models_config, jobs_config = ModelsConfig.from_env({}), JobsConfig.from_env({})
    assert models_config.database_url.startswith("sqlite:///")
    assert jobs_config.embedded
    assert MemberAppConfig.from_env({}).problems() == []
    assert BackofficeConfig.from_env({}).problems() == []


def test_postgres_urls_use_psycopg3():
    assert ModelsConfig.from_env({"DATABASE_URL": "postgres://u@h/db"}).database_url == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize("config_class", [MemberAppConfig, BackofficeConfig])
def test_production_refuses_development_secrets(config_class):
    problems = config_class.from_env({"MESE_ENV": "production"}).problems()
    text = "\n".join(problems)
    assert "FIELD_ENCRYPTION_KEY" in text and "SECRET_KEY" in text
    assert "REDIS_URL is required in production" in text
    assert "FAX_GATEWAY_DOMAIN is required in production" in text and "SMS_GATEWAY_URL" in text


@pytest.mark.parametrize("config_class", [MemberAppConfig, BackofficeConfig])
def test_production_with_real_secrets_is_accepted(config_class):
    assert config_class.from_env(PRODUCTION_SECRETS).problems() == []


def test_member_app_start_stops_with_a_clear_message_in_production_with_dev_secrets():
    from member_app import create_app

    with pytest.raises(SystemExit) as stop:
        create_app(MemberAppConfig.from_env({"MESE_ENV": "production"}))
    assert "refuses to start with MESE_ENV=production" in str(stop.value)
    assert "REDIS_URL is required in production" in str(stop.value)


def test_start_stops_when_redis_does_not_answer_in_production():
    from tests.conftest import free_port

    env = dict(PRODUCTION_SECRETS, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(SystemExit) as stop:
        check_redis_reachable(env)
    assert "Redis at REDIS_URL does not answer" in str(stop.value)


def test_every_environment_variable_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    names = set()
    for config_file in ROOT.glob("*/config.py"):
        names |= set(re.findall(r'env\.get\("([A-Z0-9_]+)"', config_file.read_text()))
    assert names, "no configuration variable found"
    missing = sorted(n for n in names if f"`{n}`" not in readme)
    assert missing == []


def test_the_readme_explains_the_security_choices_a_reviewer_must_know():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Security", 1)[1].split("\n## ", 1)[0]
    for needed in ("ASVS 6.2.5", "ASVS 6.2.10", "180 days", "Serve the back office on its own internal host",
                   "path `/`", "Sessions live on the server"):
        assert needed in section, needed
