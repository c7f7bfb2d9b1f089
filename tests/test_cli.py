"""The `mese` tool on the embedded defaults: schema, demo data (twice), staff accounts."""

from click.testing import CliRunner
from sqlalchemy import create_engine, func, select

from backoffice.cli import cli
from models.members.entities import Member
from models.staff.entities import StaffUser


def test_db_upgrade_demo_and_staff_create_on_a_fresh_sqlite_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'mese.db'}"
    env = {"DATABASE_URL": url, "FILES_DIR": str(tmp_path / "files"), "OUTBOX_DIR": str(tmp_path / "outbox"),
           "REDIS_URL": "", "MAIL_SERVER": ""}
    runner = CliRunner()

    assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0
    first = runner.invoke(cli, ["demo"], env=env)
    assert first.exit_code == 0, first.output
    assert "identifiant 4400000, mot de passe Rimon-Demo-2026" in first.output
    assert "agent@mese.fr" in first.output
    again = runner.invoke(cli, ["demo"], env=env)
    assert again.exit_code == 0 and "déjà présentes" in again.output

    created = runner.invoke(cli, ["staff", "create", "--email", "Claire@MESE.fr", "--name", "Claire Martin",
                                  "--role", "manager"], input="Un-mot-de-passe-2026\nUn-mot-de-passe-2026\n", env=env)
    assert created.exit_code == 0, created.output
    assert "otpauth://totp/" in created.output

    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Member)) == 3
        roles = dict(conn.execute(select(StaffUser.email, StaffUser.role)).all())
    engine.dispose()
    assert roles["claire@mese.fr"] == "manager"


def test_demo_refuses_to_touch_a_production_database(tmp_path):
    env = {"MESE_ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}"}
    result = CliRunner().invoke(cli, ["demo", "--reset"], env=env)
    assert result.exit_code != 0 and "refuses to run with MESE_ENV=production" in result.output
    assert not (tmp_path / "prod.db").exists()


def test_the_local_server_log_hides_password_reset_tokens():
    import logging

    from backoffice.cli import _hide_link_tokens

    record = logging.LogRecord("werkzeug", logging.INFO, __file__, 1, '%s - - "%s" %s',
                               ("127.0.0.1", "GET /mot-de-passe/nouveau/SECRETTOKEN123 HTTP/1.1", "200"), None)
    assert _hide_link_tokens(record) and "SECRETTOKEN123" not in record.getMessage()


def _create(runner, env, email, password, role="admin"):
    return runner.invoke(cli, ["staff", "create", "--email", email, "--name", "Claire Martin", "--role", role],
                         input=f"{password}\n{password}\n", env=env)


def test_staff_create_applies_the_password_rules_and_answers_errors_in_one_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'mese.db'}"
    env = {"DATABASE_URL": url, "FILES_DIR": str(tmp_path / "files"), "OUTBOX_DIR": str(tmp_path / "outbox"),
           "REDIS_URL": "", "MAIL_SERVER": ""}
    runner = CliRunner()
    assert runner.invoke(cli, ["db", "upgrade"], env=env).exit_code == 0

    weak = _create(runner, env, "claire@mese.fr", "a")
    assert weak.exit_code == 1 and "au moins 12 caractères" in weak.output
    assert weak.exception is None or isinstance(weak.exception, SystemExit)

    assert _create(runner, env, "claire@mese.fr", "Un-mot-de-passe-2026").exit_code == 0
    duplicate = _create(runner, env, "Claire@MESE.fr", "Un-autre-secret-2027")
    assert duplicate.exit_code == 1
    lines = [line for line in duplicate.output.splitlines() if line.startswith("Error")]
    assert lines == ["Error: Un compte existe déjà pour cette adresse e-mail."]
    for leak in ("Traceback", "$argon2", "otpauth", "IntegrityError", "totp_secret"):
        assert leak not in duplicate.output
    engine = create_engine(url)
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(StaffUser)) == 1
    engine.dispose()
