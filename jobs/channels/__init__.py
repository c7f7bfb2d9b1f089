"""Channels that take a message out of the outbox: SMTP, fax gateway, SMS gateway, or the local folder."""

from __future__ import annotations

from models.outbox.entities import Channel

from ..config import JobsConfig
from .base import Attachment, DeliveryError, PermanentDeliveryError, Sender
from .fax import FaxGatewayChannel
from .folder import FolderChannel
from .mail import MailChannel
from .sms import SmsGatewayChannel

__all__ = ["Attachment", "DeliveryError", "PermanentDeliveryError", "Sender", "sender_for"]


def sender_for(channel: Channel, config: JobsConfig) -> Sender:
    """The way out of ``channel`` under ``config``: the real service when configured, else the folder."""
    if channel is Channel.EMAIL and config.mail_server:
        return MailChannel(config)
    if channel is Channel.FAX and config.mail_server and config.fax_gateway_domain:
        return FaxGatewayChannel(config)
    if channel is Channel.SMS and config.sms_gateway_url:
        return SmsGatewayChannel(config)
    return FolderChannel(config)
