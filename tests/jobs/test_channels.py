"""Channel choice, the folder channel of embedded mode, and the HTTP SMS gateway."""

from __future__ import annotations

import email
import json
import threading
from dataclasses import replace
from datetime import timedelta
from email import policy
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import select

from jobs import runtime
from jobs.channels import sender_for
from jobs.channels.fax import FaxGatewayChannel
from jobs.channels.folder import FolderChannel
from jobs.channels.mail import MailChannel
from jobs.channels.sms import SmsGatewayChannel
from jobs.deliver import deliver_message
from models.base import utcnow
from models.outbox.entities import Channel, OutboxMessage, OutboxStatus
from models.outbox.operations import queue_sms
from tests.factories import make_member

from .conftest import approve_request, submit_request


def test_each_channel_uses_its_service_when_configured_and_the_folder_otherwise(jobs_config, folder_config):
    assert isinstance(sender_for(Channel.EMAIL, jobs_config), MailChannel)
    assert isinstance(sender_for(Channel.FAX, jobs_config), FaxGatewayChannel)
    assert isinstance(sender_for(Channel.FAX, replace(jobs_config, fax_gateway_domain="")), FolderChannel)
    assert isinstance(sender_for(Channel.SMS, jobs_config), FolderChannel)
    assert isinstance(sender_for(Channel.SMS, replace(jobs_config, sms_gateway_url="https://sms.test/v1")),
                      SmsGatewayChannel)
    for channel in Channel:
        assert isinstance(sender_for(channel, folder_config), FolderChannel)


def test_the_folder_keeps_a_fax_as_an_eml_with_the_letter_and_an_sms_as_text(session, folder_config,
                                                                             models_config, migrated_database):
    runtime.configure(folder_config, models_config)
    member = make_member(session)
    request = submit_request(session, member)
    approve_request(session, request)
    queue_sms(session, to="+33606060606", text="MESE : votre code est 123456", member_id=member.id)
    session.commit()

    for message_id in session.scalars(select(OutboxMessage.id)).all():
        assert deliver_message(message_id) == "sent"

    fax = session.scalars(select(OutboxMessage).filter_by(channel=Channel.FAX)).one()
    folder = folder_config.outbox_dir / f"fax-{fax.id:06d}"
    eml = email.message_from_bytes((folder / "fax.eml").read_bytes(), policy=policy.default)
    assert eml["X-Fax-Number"] == "0476605636" and request.reference in eml["Subject"]
    [pdf] = [part for part in eml.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert (folder / f"prise-en-charge-{request.reference}.pdf").read_bytes() == pdf.get_content()
    sms = session.scalars(select(OutboxMessage).filter_by(channel=Channel.SMS)).one()
    summary = (folder_config.outbox_dir / f"sms-{sms.id:06d}.txt").read_text()
    assert "+33606060606" in summary and "votre code est 123456" in summary


@pytest.fixture
def sms_gateway():
    """A fake SMS gateway answering with the scripted (status, headers, body) replies, then 200."""
    received: list[dict] = []
    replies: list[tuple[int, dict, bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "auth": self.headers["Authorization"], "json": json.loads(body),
                             "key": self.headers["Idempotency-Key"]})
            status, headers, answer = replies.pop(0) if replies else (200, {}, b'{"id": "gw-42"}')
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/v1/sms", received, replies
    server.shutdown()
    server.server_close()


@pytest.fixture
def sms_setup(session, jobs_config, models_config, migrated_database, sms_gateway):
    url, received, replies = sms_gateway
    config = replace(jobs_config, sms_gateway_url=url, sms_gateway_key="k-123", sms_sender="MESE")
    runtime.configure(config, models_config)
    member = make_member(session)
    message = queue_sms(session, to="+33606060606", text="MESE : votre code est 123456", member_id=member.id)
    session.commit()
    return message, received, replies


def test_an_sms_is_posted_as_json_with_the_bearer_key(session, sms_setup):
    message, received, _replies = sms_setup

    assert deliver_message(message.id) == "sent"

    assert received == [{"path": "/v1/sms", "auth": "Bearer k-123",
                         "json": {"to": "+33606060606", "text": "MESE : votre code est 123456", "sender": "MESE"},
                         "key": f"outbox-{message.id}"}]  # the same on every attempt: a gateway may drop a copy
    session.refresh(message)
    assert message.receipt == "sms:gw-42"


def test_a_throttled_sms_waits_at_least_what_the_gateway_asks(session, sms_setup):
    message, received, replies = sms_setup
    replies.append((429, {"Retry-After": "120"}, b""))

    before = utcnow()
    assert deliver_message(message.id) == "pending"

    session.refresh(message)
    assert message.next_attempt_at >= before + timedelta(seconds=120)
    assert "429" in message.last_error and len(received) == 1


def test_an_sms_the_gateway_rejects_as_invalid_is_dead_at_once(session, sms_setup):
    message, _received, replies = sms_setup
    replies.append((400, {}, b'{"error": "invalid number"}'))

    assert deliver_message(message.id) == "dead"

    session.refresh(message)
    assert message.status is OutboxStatus.DEAD and "invalid number" in message.last_error


def test_a_worker_keeps_one_smtp_connection_and_makes_no_tls_context_without_tls(
        session, jobs_config, models_config, migrated_database, smtp, monkeypatch):
    from jobs.channels import base as channels_base
    from tests.faults.proxy import FaultProxy

    proxy = FaultProxy("127.0.0.1", jobs_config.mail_port)
    contexts = []
    monkeypatch.setattr(channels_base.ssl, "create_default_context", lambda *a, **k: contexts.append(1))
    channels_base.tls_context.cache_clear()
    config = replace(jobs_config, mail_port=proxy.port)
    runtime.configure(config, models_config)
    member = make_member(session)
    for n in range(3):
        submit_request(session, member, establishment=f"Clinique {n}", fax="")
    try:
        for message_id in session.scalars(select(OutboxMessage.id)).all():
            assert deliver_message(message_id) == "sent"
        proxy.drop_connections()  # the server hangs up: the next message opens a new connection, once
        submit_request(session, member, fax="")
        [last] = session.scalars(select(OutboxMessage.id).order_by(OutboxMessage.id.desc()).limit(1)).all()
        assert deliver_message(last) == "sent"
    finally:
        proxy.close()
        channels_base.tls_context.cache_clear()

    assert len(smtp.messages) == 4 and proxy.connections == 2
    assert contexts == []


def test_a_relay_pass_that_filled_its_batch_asks_for_the_next_one_at_once(session, jobs_config, models_config,
                                                                          migrated_database, redis_conn):
    from jobs.relay import relay_once

    config = replace(jobs_config, relay_batch_size=2)
    member = make_member(session)
    for _ in range(5):
        queue_sms(session, to="+33606060606", text="Rappel", member_id=member.id)
    session.commit()

    results = [relay_once(config, models_config) for _ in range(3)]

    assert [(r.enqueued, r.busy) for r in results] == [(2, True), (2, True), (1, False)]
