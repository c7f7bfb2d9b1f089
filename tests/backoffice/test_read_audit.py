"""Reads of member data in the back office are audited, page by page, and so are refused accesses."""

from __future__ import annotations

from sqlalchemy import select

from models.audit.entities import AuditEvent
from models.base import utcnow
from models.outbox.entities import Channel, OutboxMessage, OutboxStatus
from models.requests.entities import RequestStatus
from tests.factories import make_member
from tests.helpers import login_member


def events(session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def test_each_view_of_the_queue_list_and_its_search_is_one_audit_event(session, as_staff, agent, coverage_request):
    first, second = coverage_request(), coverage_request()
    client = as_staff(agent)
    assert client.get("/prises-en-charge/").status_code == 200
    assert client.get(f"/prises-en-charge/?search={second.reference.lower()}").status_code == 200
    listed = events(session, "backoffice.listed")
    assert [(e.actor_id, e.details["view"], e.details["rows"]) for e in listed] == [
        (agent.id, "hospital_coverage", 2), (agent.id, "hospital_coverage", 1)]
    assert listed[0].details["filters"] == [["Statut", "open"]] and listed[0].details["search"] is None
    assert listed[1].details["search"] == second.reference.lower()
    assert first.reference not in str([e.details for e in listed])


def test_an_identical_list_read_moments_later_is_covered_by_the_first_event(backoffice_app, session, as_staff,
                                                                          agent, coverage_request):
    from backoffice.extensions import RECENT_READS_KEY

    coverage_request()
    client = as_staff(agent)
    for path in ("/prises-en-charge/", "/prises-en-charge/", "/prises-en-charge/?flt0_0=all", "/prises-en-charge/"):
        assert client.get(path).status_code == 200
    listed = events(session, "backoffice.listed")
    assert [e.details["filters"] for e in listed] == [[["Statut", "open"]], [["Statut", "all"]]]
    backoffice_app.extensions[RECENT_READS_KEY].seconds = 0  # the window is over: the same read is written again
    assert client.get("/prises-en-charge/").status_code == 200
    assert len(events(session, "backoffice.listed")) == 3


def test_outbox_and_audit_lists_are_audited_with_their_filters(session, as_staff, manager, member):
    session.add(OutboxMessage(channel=Channel.EMAIL, recipient="lea@example.test", subject="x", member_id=member.id,
                              status=OutboxStatus.SENT, next_attempt_at=utcnow()))
    session.commit()
    client = as_staff(manager)
    assert client.get("/envois/?flt0_0=sent").status_code == 200
    assert client.get("/journal/").status_code == 200
    listed = events(session, "backoffice.listed")
    assert [(e.details["view"], e.details["filters"], e.details["rows"]) for e in listed] == [
        ("outbox", [["État", "sent"]], 1), ("audit", [], 2)]  # staff.created and the first listing


def test_a_list_without_member_data_is_not_audited(session, as_staff, manager):
    assert as_staff(manager).get("/actualites/").status_code == 200
    assert events(session, "backoffice.listed") == []


def test_the_home_page_listing_my_requests_is_audited(session, as_staff, agent, coverage_request):
    item = coverage_request()
    item.status, item.assigned_to_id = RequestStatus.IN_PROGRESS, agent.id
    session.commit()
    assert as_staff(agent).get("/").status_code == 200
    assert [(e.details["view"], e.details["rows"]) for e in events(session, "backoffice.listed")] == [("admin", 1)]


def test_a_page_refused_to_the_role_is_audited(session, as_staff, agent):
    assert as_staff(agent).get("/journal/").status_code == 403
    refused = events(session, "backoffice.refused")
    assert [(e.actor_id, e.details["reason"], e.details["endpoint"]) for e in refused] == [
        (agent.id, "role", "audit.index_view")]


def test_a_record_out_of_scope_is_audited(session, as_staff, agent, manager, coverage_request):
    done = coverage_request()
    done.status, done.assigned_to_id = RequestStatus.DONE, manager.id  # closed by someone else: not for an agent
    session.commit()
    client = as_staff(agent)
    assert client.get(f"/prises-en-charge/details/?id={done.id}").status_code == 302
    refused = events(session, "backoffice.refused")
    assert [(e.details["reason"], e.details["view"], e.details["record_id"]) for e in refused] == [
        ("not_found_or_out_of_scope", "hospital_coverage", str(done.id))]
    assert events(session, "backoffice.viewed") == []


def test_a_member_asking_for_another_family_s_reference_is_audited(member_client, session, coverage_request):
    other_family = coverage_request()
    curious = make_member(session, number="5599990")
    login_member(member_client, curious)
    assert member_client.get(f"/prise-en-charge-hospitaliere/{other_family.reference}").status_code == 404
    assert member_client.get("/prise-en-charge-hospitaliere/PEC-2026-999999").status_code == 404
    refused = events(session, "member.refused")
    assert [(e.member_id, e.details["reference"], e.details["other_family"]) for e in refused] == [
        (curious.id, other_family.reference, True), (curious.id, "PEC-2026-999999", False)]
