"""The e-mail and fax templates as the hospital coverage use cases render them: French, signed, escaped, no NIR."""

from __future__ import annotations

from sqlalchemy import select

from models.base import utcnow
from models.outbox.entities import Channel, OutboxMessage
from models.requests.hospital_coverage import reject_hospital_coverage
from models.requests.operations import claim
from tests.factories import make_member, make_staff

from .conftest import approve_request, submit_request


def test_every_hospital_coverage_message_is_signed_escaped_and_free_of_personal_numbers(session):
    member = make_member(session)
    approved = submit_request(session, member, establishment="Clinique <b>l'Étoile</b>")
    approve_request(session, approved)
    rejected = submit_request(session, member)
    agent = make_staff(session)
    claim(session, rejected, staff=agent, now=utcnow())
    reject_hospital_coverage(session, rejected, staff=agent, reason="Contrat résilié <i>le 1er</i>", now=utcnow())
    session.commit()

    messages = {m.template: m for m in session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))}

    assert set(messages) == {"hospital_coverage_received", "hospital_coverage_approved", "hospital_coverage_fax",
                             "hospital_coverage_letter", "hospital_coverage_rejected"}
    secrets = [member.nir] + [b.nir for b in member.beneficiaries if b.nir]
    for message in messages.values():
        everything = " ".join([message.subject, message.text_body, message.html_body or ""])
        assert message.subject and "Le service adhérents MESE" in message.text_body
        assert "04 76 60 56 36" in message.text_body and "fr-contact@mese.se.com" in message.text_body
        assert "&#39;" not in message.subject + message.text_body  # plain text is not HTML-escaped
        assert not any(secret in everything.replace(" ", "") for secret in secrets)
        if message.channel is Channel.EMAIL:
            assert "<b>" not in message.html_body and "Le service adhérents MESE" in message.html_body
    assert "Clinique <b>l'Étoile</b>" in messages["hospital_coverage_approved"].text_body
    assert "Clinique &lt;b&gt;l&#39;Étoile&lt;/b&gt;" in messages["hospital_coverage_approved"].html_body
    assert "Contrat résilié <i>le 1er</i>" in messages["hospital_coverage_rejected"].text_body
    assert "Contrat résilié &lt;i&gt;le 1er&lt;/i&gt;" in messages["hospital_coverage_rejected"].html_body
    assert approved.reference in messages["hospital_coverage_letter"].subject
    assert "Zoé" not in messages["hospital_coverage_letter"].subject  # the patient's name stays out of headers
    assert messages["hospital_coverage_fax"].html_body is None
