"""Fax channel: an e-mail to ``<digits>@FAX_GATEWAY_DOMAIN``, the cover text as body, the documents attached."""

from __future__ import annotations

import re

from models.outbox.entities import OutboxMessage

from ..config import JobsConfig
from .base import Attachment, PermanentDeliveryError
from .mail import MailChannel


def gateway_address(number: str, domain: str) -> str:
    """The gateway address of a fax number (French numbers keep their leading 0)."""
    digits = re.sub(r"\D", "", number)
    if number.strip().startswith("+33"):
        digits = "0" + digits[2:]
    if not 6 <= len(digits) <= 15:
        raise PermanentDeliveryError(f"not a fax number: {number!r}")
    return f"{digits}@{domain}"


class FaxGatewayChannel:
    """Sends faxes through the e-mail-to-fax gateway, over the same SMTP server as e-mails."""

    def __init__(self, config: JobsConfig):
        self.domain = config.fax_gateway_domain
        self.mail = MailChannel(config)

    def send(self, message: OutboxMessage, attachments: list[Attachment]) -> str:
        """Mail the fax to the gateway; the receipt is the Message-ID of that e-mail."""
        to = gateway_address(message.recipient, self.domain)
        receipt = self.mail.send_mail(to=to, subject=message.subject, text=message.text_body, html=None,
                                      attachments=attachments, outbox_id=message.id)
        return f"fax:{to} {receipt}"
