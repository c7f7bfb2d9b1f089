"""A family's requests as the member area lists them: every type in one query, the family's only."""

from __future__ import annotations

from datetime import timedelta

from models.requests.contact import ContactInput, submit_contact
from models.requests.documents import submit_documents
from models.requests.queries import family_requests
from tests.models.test_requests import NOW, documents, lists, member, other_family  # noqa: F401


def test_the_lines_are_the_requests_of_mes_demandes_newest_first_with_their_person(session, member, other_family,
                                                                                   lists):
    doc = submit_documents(session, member, documents(member, lists), now=NOW)
    ctc = submit_contact(session, member, ContactInput(reason_id=lists["reason"].id,
                                                       beneficiary_id=member.beneficiaries[0].id, message="Bonjour"),
                         now=NOW + timedelta(minutes=1))
    submit_contact(session, other_family, ContactInput(reason_id=lists["reason"].id,
                                                       beneficiary_id=other_family.beneficiaries[0].id,
                                                       message="Autre famille"), now=NOW + timedelta(minutes=2))
    session.commit()
    lines = family_requests(session, member.id)
    entities = [ctc, doc]
    assert [line.reference for line in lines] == [ctc.reference, doc.reference]
    assert [line.beneficiary for line in lines] == [r.beneficiary.full_name if r.beneficiary else None
                                                    for r in entities]
    assert [(line.status, line.due_on, line.type_label) for line in lines] == [(r.status, r.due_on, r.type_label)
                                                                              for r in entities]
    assert [line.reference for line in family_requests(session, member.id, limit_per_type=5, limit=1)] == \
        [ctc.reference]
    assert family_requests(session, member.id + 10_000) == []
