"""Folder channel of embedded mode: every message becomes readable files in OUTBOX_DIR."""

from __future__ import annotations

import os
import tempfile
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from models.outbox.entities import Channel, OutboxMessage

from ..config import JobsConfig
from .base import Attachment, message_id_for, safe_filename

CHANNEL_LABELS = {Channel.EMAIL: "e-mail", Channel.SMS: "SMS", Channel.FAX: "fax"}


def build_email(*, sender: str, to: str | None, subject: str, text: str, html: str | None,
                attachments: list[Attachment], outbox_id: int, extra_headers: dict[str, str] | None = None
                ) -> EmailMessage:
    """A complete MIME e-mail (text, optional HTML alternative, attachments) as the folder keeps it."""
    msg = EmailMessage()
    msg["From"] = sender
    if to:
        msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = message_id_for(outbox_id, sender)
    msg["X-Outbox-Id"] = str(outbox_id)
    for name, value in (extra_headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        msg.add_attachment(attachment.data, maintype=maintype, subtype=subtype or "octet-stream",
                           filename=attachment.filename)
    return msg


def _write(path: Path, data: bytes) -> None:
    # Write then rename: a second delivery of the same message replaces the file whole, never appends.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _summary(message: OutboxMessage, attachments: list[Attachment]) -> str:
    lines = [
        f"Canal : {CHANNEL_LABELS[message.channel]}",
        f"Destinataire : {message.recipient}",
        f"Message n° {message.id} ({message.template or 'sans modèle'})",
    ]
    if message.subject:
        lines.append(f"Objet : {message.subject}")
    for attachment in attachments:
        lines.append(f"Pièce jointe : {attachment.filename} ({len(attachment.data)} octets)")
    return "\n".join(lines) + "\n\n" + message.text_body + "\n"


class FolderChannel:
    """Writes e-mails as .eml plus a .txt summary, SMS as .txt, faxes as a folder with the .eml and the PDFs."""

    def __init__(self, config: JobsConfig):
        self.root = config.outbox_dir
        self.sender = config.mail_sender

    def send(self, message: OutboxMessage, attachments: list[Attachment]) -> str:
        """Write ``message`` into the folder; the receipt is the path written, relative to the folder."""
        self.root.mkdir(parents=True, exist_ok=True)
        stem = f"{message.channel.value}-{message.id:06d}"
        summary = _summary(message, attachments).encode("utf-8")
        if message.channel is Channel.SMS:
            _write(self.root / f"{stem}.txt", summary)
            return f"folder:{stem}.txt"
        if message.channel is Channel.FAX:
            folder = self.root / stem
            folder.mkdir(exist_ok=True)
            eml = build_email(sender=self.sender, to=None, subject=message.subject, text=message.text_body,
                              html=None, attachments=attachments, outbox_id=message.id,
                              extra_headers={"X-Fax-Number": message.recipient})
            _write(folder / "fax.eml", eml.as_bytes())
            _write(folder / "fax.txt", summary)
            for attachment in attachments:
                _write(folder / safe_filename(attachment.filename), attachment.data)
            return f"folder:{stem}/"
        eml = build_email(sender=self.sender, to=message.recipient, subject=message.subject,
                          text=message.text_body, html=message.html_body, attachments=attachments,
                          outbox_id=message.id)
        _write(self.root / f"{stem}.eml", eml.as_bytes())
        _write(self.root / f"{stem}.txt", summary)
        return f"folder:{stem}.eml"
