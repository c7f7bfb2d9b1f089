"""The ``mese`` command-line tool: database, demo data, worker, staff accounts, local server."""

from __future__ import annotations

import re

import click

from models.config import ModelsConfig


@click.group()
def cli() -> None:
    """MESE member area and back office."""


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Create or migrate the database to the latest schema."""
    from models.db import prepare
    from models.schema import upgrade

    config = ModelsConfig.from_env()
    prepare(config)
    upgrade(config.database_url)
    click.echo("Base de données à jour.")


@cli.command()
@click.option("--reset/--keep", default=False, help="Empty the demo tables first.")
def demo(reset: bool) -> None:
    """Load realistic demo data (the RIMON family of the guide, a retiree, staff) and print the credentials."""
    from models.db import session_scope
    from models.demo import load_demo

    if ModelsConfig.from_env().is_production:
        raise click.ClickException("mese demo refuses to run with MESE_ENV=production: it creates accounts with "
                                   "published passwords, and --reset empties every table.")
    with session_scope() as session:
        credentials = load_demo(session, reset=reset)
    click.echo("Données de démonstration chargées. Identifiants :")
    for line in credentials:
        click.echo(f"  {line}")


@cli.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty (for scripts and tests).")
@click.option("--check", is_flag=True, help="Health check: database, Redis and a recent relay pass; exit code 1 if not.")
def worker(burst: bool, check: bool) -> None:
    """Run the delivery processes and the outbox relay, supervised, until SIGTERM."""
    from jobs.worker import check_health, run_worker

    if check:
        healthy, checks = check_health()
        for name, state in checks.items():
            click.echo(f"{name}: {state}")
        raise SystemExit(0 if healthy else 1)
    run_worker(burst=burst)


@cli.group()
def staff() -> None:
    """Back-office staff accounts."""


@staff.command("create")
@click.option("--email", required=True)
@click.option("--name", "full_name", required=True)
@click.option("--role", type=click.Choice(["agent", "manager", "admin"]), required=True)
@click.option("--invite", is_flag=True,
              help="E-mail an invitation link (the person chooses the password and enrols the authenticator app "
                   "themselves) instead of typing a password here.")
def staff_create(email: str, full_name: str, role: str, invite: bool) -> None:
    """Create a staff user: with --invite, e-mail them a single-use link; else ask for the password here and print
    the TOTP secret to enrol in an authenticator app.

    The staff password rules apply; every error is answered in one line (never a traceback, which could
    show a password hash or a TOTP secret).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from models.base import utcnow
    from models.db import session_scope
    from models.errors import DomainError, ValidationFailed
    from models.staff.administration import invite_staff
    from models.staff.entities import StaffRole
    from models.staff.operations import create_staff

    from .config import BackofficeConfig

    password = None if invite else click.prompt(
        "Password (at least 12 characters, a lowercase and a capital letter, a digit or a symbol)", hide_input=True,
        confirmation_prompt=True)
    config = BackofficeConfig.from_env()
    base = (config.public_url or "http://127.0.0.1:5000") + config.mount_path
    try:
        with session_scope() as session:
            if invite:
                invite_staff(session, email=email, full_name=full_name, role=StaffRole(role), by=None,
                             make_link=lambda raw: f"{base}/invitation/{raw}", now=utcnow(),
                             valid_hours=config.invitation_hours)
            else:
                _user, totp_uri = create_staff(session, email=email, full_name=full_name, role=StaffRole(role),
                                               password=password)
    except ValidationFailed as exc:
        raise click.ClickException(" ".join(m for ms in exc.errors.values() for m in ms)) from None
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    except SQLAlchemyError as exc:
        raise click.ClickException(f"Le compte n'a pas pu être créé (base de données : "
                                   f"{type(exc).__name__}).") from None
    click.echo(f"Compte créé : {email.strip().lower()} ({role}).")
    if invite:
        click.echo(f"Invitation envoyée par e-mail (lien valable {config.invitation_hours} heures).")
    else:
        click.echo(f"Enrôlez ce code dans une application d'authentification : {totp_uri}")


@staff.command("unlock")
@click.option("--email", required=True)
def staff_unlock(email: str) -> None:
    """Unlock an account locked by failed sign-ins (when no admin can sign in to do it)."""
    from models.base import utcnow
    from models.db import session_scope
    from models.staff.operations import find_staff_by_email, unlock_staff

    with session_scope() as session:
        user = find_staff_by_email(session, email)
        if user is None:
            raise click.ClickException(f"Aucun compte pour {email}.")
        unlock_staff(session, user, by=None, now=utcnow())
    click.echo(f"Compte déverrouillé : {email}.")


@cli.command()
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def serve(host: str, port: int) -> None:
    """Serve the member area and the back office on one port (embedded use; gunicorn in production)."""
    import logging

    from werkzeug.serving import run_simple

    from wsgi import app

    logging.getLogger("werkzeug").addFilter(_hide_link_tokens)

    click.echo(f"Espace adhérent : http://{host}:{port}/   Back office : http://{host}:{port}/backoffice/")
    run_simple(host, port, app, threaded=True, use_reloader=False)


def _hide_link_tokens(record) -> bool:
    """Keep the single-use tokens of e-mailed links out of the request log."""
    message = record.getMessage()
    if "/mot-de-passe/nouveau/" in message or "/invitation/" in message:
        record.msg, record.args = re.sub(r"(/mot-de-passe/nouveau/|/invitation/)[^\s?\"]+", r"\1…", message), ()
    return True
