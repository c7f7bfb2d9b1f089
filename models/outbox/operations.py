"""Queueing messages in the outbox, rendered from templates/email in the recipient's language."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy.orm import Session

from ..base import utcnow
from ..formats import date_fr
from ..i18n import DEFAULT_LANGUAGE, LANGUAGES, localize, supported, translations
from .entities import Channel, OutboxMessage

if TYPE_CHECKING:
    from ..members.entities import Member

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
#: Key of ``session.info`` set when a message is queued, read by the after-commit nudge in jobs/.
NEW_MESSAGES_KEY = "outbox_new_messages"


def template_environment(language: str = DEFAULT_LANGUAGE) -> Environment:
    """Jinja environment for e-mails, SMS and PDFs in ``language`` (HTML autoescaped, undefined names fail).

    Templates write their texts in French inside ``_()`` (or ``{% trans %}``), as the member area does;
    ``|tr`` gives a Message of the rules (a status, a role) in the same language.
    """
    return _environment(supported(language))


@lru_cache(maxsize=len(LANGUAGES))
def _environment(language: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(language), newstyle=True)
    env.globals["language"] = language
    env.filters["date_fr"] = date_fr
    env.filters["tr"] = lambda text: localize(text, language)
    # A value of a plain-text part, written as it is (never HTML-escaped), from a macro of an HTML file.
    env.filters["plain"] = lambda value: Markup(str(value))
    env.filters["euros"] = lambda cents: f"{cents / 100:,.2f} €".replace(",", " ").replace(".", ",")
    return env


def render_blocks(template_name: str, context: dict[str, Any], language: str = DEFAULT_LANGUAGE) -> dict[str, str]:
    """Render each top-level block (subject, text, html) of a template separately, in ``language``."""
    template = template_environment(language).get_template(template_name)
    ctx = template.new_context(dict(context))
    return {name: "".join(block(ctx)).strip() for name, block in template.blocks.items()}


def _add(session: Session, message: OutboxMessage) -> OutboxMessage:
    session.add(message)
    session.info[NEW_MESSAGES_KEY] = True
    return message


def queue_email(
    session: Session,
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    member_id: int | None = None,
    related: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    secret: bool = False,
    language: str = DEFAULT_LANGUAGE,
) -> OutboxMessage:
    """Render ``templates/email/<template>.html`` in ``language`` and queue it for ``to``.

    The template defines the blocks ``subject``, ``text`` and ``html``; ``secret`` marks a body holding
    a code or a personal link (masked once delivered, never shown to staff).
    """
    parts = render_blocks(f"email/{template}.html", context, language)
    return _add(session, OutboxMessage(
        channel=Channel.EMAIL, recipient=to, subject=parts["subject"], text_body=parts["text"],
        html_body=parts.get("html"), template=template, member_id=member_id, related=related,
        attachments=attachments or [], next_attempt_at=utcnow(), secret=secret,
    ))


def notify_member(session: Session, member: Member, *, template: str, context: dict[str, Any] | None = None,
                  **options: Any) -> OutboxMessage | None:
    """Queue an e-mail to ``member`` in the member's language; None when no address is on file.

    ``context`` gets ``member``; ``options`` are those of :func:`queue_email` (related, attachments, secret).
    """
    if not member.email:
        return None
    return queue_email(session, to=member.email, template=template, context={"member": member, **(context or {})},
                       member_id=member.id, language=member.language, **options)


def queue_sms(session: Session, *, to: str, text: str, member_id: int | None = None,
              template: str = "", secret: bool = False) -> OutboxMessage:
    """Queue an SMS to ``to`` (E.164). ``text`` is the whole message; ``secret`` as for e-mails."""
    return _add(session, OutboxMessage(
        channel=Channel.SMS, recipient=to, text_body=text, template=template, member_id=member_id,
        next_attempt_at=utcnow(), secret=secret,
    ))


def queue_fax(
    session: Session,
    *,
    to: str,
    template: str,
    context: dict[str, Any],
    attachments: list[dict[str, Any]],
    member_id: int | None = None,
    related: str | None = None,
) -> OutboxMessage:
    """Queue a fax to ``to``: a cover text rendered from ``templates/email/<template>.html`` and documents."""
    parts = render_blocks(f"email/{template}.html", context)
    return _add(session, OutboxMessage(
        channel=Channel.FAX, recipient=to, subject=parts["subject"], text_body=parts["text"],
        html_body=None, template=template, member_id=member_id, related=related,
        attachments=attachments, next_attempt_at=utcnow(),
    ))
