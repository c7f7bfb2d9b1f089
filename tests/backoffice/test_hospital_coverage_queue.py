"""The hospital coverage queue: list, next request, details, approve, reject, release."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import event, select

from backoffice.extensions import db
from models.audit.entities import AuditEvent
from models.base import utcnow
from models.db import session_factory
from models.files.entities import StoredFile
from models.outbox.entities import Channel, OutboxMessage, OutboxStatus
from models.requests.entities import HospitalCoverageRequest, RequestEvent, RequestStatus
from models.requests.operations import claim, claim_next
from models.staff.entities import StaffRole
from tests.factories import make_staff
from tests.helpers import login_staff

from .support import csrf_from, local

QUEUE = "/prises-en-charge/"


def _outbox(session, reference: str) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.related == reference)
                                .order_by(OutboxMessage.id)))


def _claimed(session, request, staff):
    claim(session, request, staff=staff, now=utcnow())
    session.commit()
    return request


def _post(client, path: str, data: dict | None = None, *, page: str):
    return client.post(path, data={**(data or {}), "csrf_token": csrf_from(client, page)})


# -- list ----------------------------------------------------------------------------------

def test_list_shows_open_requests_with_their_columns(as_staff, agent, member, coverage_request):
    request = coverage_request(establishment_name="Clinique des Cèdres")
    html = as_staff(agent).get(QUEUE).get_data(as_text=True)
    for expected in (request.reference, member.number, "Samuel RIMON", "Clinique des Cèdres", "Nouvelle",
                     request.due_on.strftime("%d/%m/%Y"), "Prendre la demande suivante"):
        assert expected in html, expected


def test_list_shows_open_requests_by_default_and_closed_ones_on_demand(session, as_staff, manager,
                                                                       coverage_request):
    open_one = coverage_request()
    closed = coverage_request()
    closed.status = RequestStatus.REJECTED
    session.commit()
    client = as_staff(manager)
    html = client.get(QUEUE).get_data(as_text=True)
    assert open_one.reference in html and closed.reference not in html
    html = client.get(QUEUE + "?flt0_0=rejected").get_data(as_text=True)
    assert closed.reference in html and open_one.reference not in html
    html = client.get(QUEUE + "?flt0_0=all").get_data(as_text=True)
    assert closed.reference in html and open_one.reference in html


def test_search_by_reference_finds_the_request_whatever_its_status(session, as_staff, manager, coverage_request):
    wanted = coverage_request()
    other = coverage_request()
    wanted.status = RequestStatus.DONE
    session.commit()
    html = as_staff(manager).get(QUEUE + f"?search={wanted.reference.lower()}").get_data(as_text=True)
    assert wanted.reference in html and other.reference not in html


def test_list_runs_no_count_over_the_table(backoffice_app, as_staff, agent, coverage_request):
    coverage_request()
    statements = []
    with backoffice_app.app_context():
        engine = db.engine
    listener = lambda conn, cursor, statement, *args: statements.append(statement.lower())  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert as_staff(agent).get(QUEUE + "?flt0_0=new").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    listing = [s for s in statements if "from hospital_coverage_request" in s]
    assert listing and not any("count(" in s for s in listing)
    assert any("hospital_coverage_request.status = " in s and "order by hospital_coverage_request.created_at"
               in s for s in listing)


def test_agents_see_closed_requests_only_when_they_handled_them(session, as_staff, agent, coverage_request):
    colleague = make_staff(session, StaffRole.AGENT)
    theirs = _claimed(session, coverage_request(), colleague)
    mine = _claimed(session, coverage_request(), agent)
    theirs.status = mine.status = RequestStatus.DONE
    session.commit()
    client = as_staff(agent)
    html = client.get(QUEUE + "?flt0_0=done").get_data(as_text=True)
    assert mine.reference in html and theirs.reference not in html
    response = client.get(QUEUE + f"details/?id={theirs.id}")
    assert response.status_code == 302  # same answer as a missing record
    assert client.get(QUEUE + f"details/?id={mine.id}").status_code == 200


def test_status_cannot_be_edited_by_hand(session, as_staff, manager, coverage_request, reload):
    request = coverage_request()
    client = as_staff(manager)
    response = client.get(QUEUE + f"edit/?id={request.id}")
    assert response.status_code == 302
    response = client.post(QUEUE + f"edit/?id={request.id}",
                           data={"status": "done", "csrf_token": csrf_from(client, QUEUE)})
    assert reload(HospitalCoverageRequest, request.id).status is RequestStatus.NEW
    assert client.get(QUEUE + "new/").status_code == 302


# -- next request ------------------------------------------------------------------------------

def test_next_request_is_the_oldest_new_one(session, as_staff, agent, coverage_request, reload):
    now = utcnow()
    newest = coverage_request(created_at=now - timedelta(minutes=1))
    oldest = coverage_request(created_at=now - timedelta(hours=3))
    _taken = _claimed(session, coverage_request(created_at=now - timedelta(days=1)), make_staff(session))
    client = as_staff(agent)
    assert "nouvelle(s) demande(s) en attente" in client.get(QUEUE + "suivante/").get_data(as_text=True)
    response = _post(client, QUEUE + "suivante/", page=QUEUE)
    assert local(response.location) == QUEUE + f"details/?id={oldest.id}"
    got = reload(HospitalCoverageRequest, oldest.id)
    assert got.status is RequestStatus.IN_PROGRESS and got.assigned_to_id == agent.id
    assert reload(HospitalCoverageRequest, newest.id).status is RequestStatus.NEW
    assert oldest.reference in client.get(local(response.location)).get_data(as_text=True)


def test_next_request_on_an_empty_queue_says_so(as_staff, agent):
    client = as_staff(agent)
    response = _post(client, QUEUE + "suivante/", page=QUEUE)
    assert local(response.location) == QUEUE
    assert "Aucune nouvelle demande en attente." in client.get(QUEUE).get_data(as_text=True)


def test_concurrent_claims_never_hand_out_the_same_request(session, models_config, member, coverage_request):
    threads_count, claims_each = 4, 5
    ids = {coverage_request().id for _ in range(threads_count * claims_each)}
    agents = [make_staff(session, StaffRole.AGENT) for _ in range(threads_count)]
    factory = session_factory(models_config)
    start = threading.Barrier(threads_count)
    got: dict[int, list[int]] = {a.id: [] for a in agents}
    errors = []

    def work(staff_id: int) -> None:
        try:
            with factory() as own:  # each agent has its own session and connection
                staff = own.get(type(agents[0]), staff_id)
                start.wait()
                for _ in range(claims_each):
                    request = claim_next(own, HospitalCoverageRequest, staff=staff, now=utcnow())
                    own.commit()
                    if request is not None:
                        got[staff_id].append(request.id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a.id,)) for a in agents]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    claimed = [i for ids_ in got.values() for i in ids_]
    assert len(claimed) == len(set(claimed)) == len(ids)
    assert set(claimed) == ids
    session.expire_all()
    rows = session.scalars(select(HospitalCoverageRequest)).all()
    assert all(r.status is RequestStatus.IN_PROGRESS for r in rows)
    assert {r.id: r.assigned_to_id for r in rows} == {i: s for s, ids_ in got.items() for i in ids_}


def test_concurrent_next_buttons_give_each_agent_a_different_request(session, new_client, coverage_request):
    requests = [coverage_request() for _ in range(4)]
    agents = [make_staff(session, StaffRole.AGENT) for _ in range(4)]
    clients = []
    for staff in agents:
        client = new_client()
        login_staff(client, staff)
        clients.append((client, csrf_from(client, QUEUE)))
    start = threading.Barrier(len(clients))
    locations = []

    def press(client, token):
        start.wait()
        locations.append(local(client.post(QUEUE + "suivante/", data={"csrf_token": token}).location))

    threads = [threading.Thread(target=press, args=c) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(locations) == sorted(QUEUE + f"details/?id={r.id}" for r in requests)


# -- details -----------------------------------------------------------------------------------

def test_details_are_audited(session, as_staff, agent, member, coverage_request):
    request = coverage_request()
    assert as_staff(agent).get(QUEUE + f"details/?id={request.id}").status_code == 200
    session.expire_all()
    events = session.scalars(select(AuditEvent).where(AuditEvent.action == "backoffice.viewed")).all()
    assert len(events) == 1
    assert (events[0].actor_type, events[0].actor_id, events[0].member_id, events[0].subject_id) == (
        "staff", agent.id, member.id, request.id)
    assert events[0].details["view"] == "hospital_coverage"


def test_details_show_the_request_its_history_and_its_messages(session, as_staff, agent, member,
                                                               coverage_request):
    request = _claimed(session, coverage_request(admission_fax="0476000001"), agent)
    session.add(OutboxMessage(channel=Channel.FAX, recipient="0476000001", subject="Prise en charge",
                              related=request.reference, member_id=member.id, status=OutboxStatus.DEAD,
                              attempts=6, last_error="gateway timeout"))
    session.commit()
    html = as_staff(agent).get(QUEUE + f"details/?id={request.id}").get_data(as_text=True)
    for expected in (request.reference, "Samuel RIMON", "0476000001", "Demande reçue",
                     "Prise en charge par un agent", agent.full_name, "Échec définitif", "gateway timeout",
                     "Accepter et envoyer la prise en charge", "Motif du refus", "Remettre dans la file"):
        assert expected in html, expected


# -- approve -----------------------------------------------------------------------------------

def test_approve_queues_the_fax_to_the_hospital_and_the_email_to_the_member(
        session, as_staff, agent, member, coverage_request, reload):
    request = _claimed(session, coverage_request(admission_fax="0476000001"), agent)
    client = as_staff(agent)
    page = QUEUE + f"details/?id={request.id}"
    response = _post(client, QUEUE + f"{request.id}/accepter/", page=page)
    assert local(response.location) == page
    assert "acceptée" in client.get(page).get_data(as_text=True)

    done = reload(HospitalCoverageRequest, request.id)
    assert done.status is RequestStatus.DONE and done.closed_at is not None
    messages = _outbox(session, request.reference)
    fax = [m for m in messages if m.channel is Channel.FAX]
    mails = [m for m in messages if m.channel is Channel.EMAIL]
    assert [m.recipient for m in fax] == ["0476000001"]
    assert [m.recipient for m in mails] == [member.email]
    assert all(m.status is OutboxStatus.PENDING for m in messages)
    # The letter is rendered later, by the job: the web request only describes it.
    assert fax[0].attachments == [{"render": "coverage_letter", "request_id": request.id,
                                   "filename": f"prise-en-charge-{request.reference}.pdf"}]
    assert done.letter_file_id is None and session.scalar(select(StoredFile.id)) is None


def test_approve_also_emails_the_admission_service_when_given(session, as_staff, agent, member, coverage_request):
    request = _claimed(session, coverage_request(admission_fax=None, admission_email="admissions@chu.example"), agent)
    client = as_staff(agent)
    _post(client, QUEUE + f"{request.id}/accepter/", page=QUEUE)
    recipients = sorted(m.recipient for m in _outbox(session, request.reference))
    assert recipients == sorted(["admissions@chu.example", member.email])


def test_approve_needs_the_request_to_be_taken_first(session, as_staff, agent, coverage_request, reload):
    request = coverage_request()
    client = as_staff(agent)
    page = QUEUE + f"details/?id={request.id}"
    _post(client, QUEUE + f"{request.id}/accepter/", page=page)
    assert "Prenez d&#39;abord la demande en charge" in client.get(page).get_data(as_text=True)
    assert reload(HospitalCoverageRequest, request.id).status is RequestStatus.NEW
    assert _outbox(session, request.reference) == []


def test_approve_by_list_action_requires_csrf(session, as_staff, agent, coverage_request, reload):
    request = _claimed(session, coverage_request(), agent)
    client = as_staff(agent)
    data = {"action": "approve", "rowid": [str(request.id)], "url": QUEUE}
    assert client.post(QUEUE + "action/", data=data).status_code == 400
    assert reload(HospitalCoverageRequest, request.id).status is RequestStatus.IN_PROGRESS

    response = client.post(QUEUE + "action/", data={**data, "csrf_token": csrf_from(client, QUEUE)})
    assert response.status_code == 302
    assert reload(HospitalCoverageRequest, request.id).status is RequestStatus.DONE
    assert len(_outbox(session, request.reference)) == 2


def test_list_action_reports_refused_rows_and_applies_the_others(session, as_staff, agent, coverage_request,
                                                                 reload):
    ready = _claimed(session, coverage_request(), agent)
    not_taken = coverage_request()
    client = as_staff(agent)
    client.post(QUEUE + "action/", data={"action": "approve", "rowid": [str(ready.id), str(not_taken.id)],
                                         "url": QUEUE, "csrf_token": csrf_from(client, QUEUE)})
    html = client.get(QUEUE).get_data(as_text=True)
    assert "1 demande(s) acceptée(s)." in html and f"{not_taken.reference} : Prenez" in html
    assert reload(HospitalCoverageRequest, ready.id).status is RequestStatus.DONE
    assert reload(HospitalCoverageRequest, not_taken.id).status is RequestStatus.NEW


def test_one_click_actions_require_csrf(session, as_staff, agent, coverage_request, reload):
    request = coverage_request()
    client = as_staff(agent)
    for action in ("prendre", "accepter", "refuser", "remettre"):
        assert client.post(QUEUE + f"{request.id}/{action}/", data={"reason": "x"}).status_code == 400
    assert reload(HospitalCoverageRequest, request.id).status is RequestStatus.NEW


# -- reject ------------------------------------------------------------------------------------

def test_reject_without_a_reason_is_refused(session, as_staff, agent, coverage_request, reload):
    request = _claimed(session, coverage_request(), agent)
    client = as_staff(agent)
    page = QUEUE + f"details/?id={request.id}"
    _post(client, QUEUE + f"{request.id}/refuser/", {"reason": "   "}, page=page)
    assert "Indiquez le motif du refus." in client.get(page).get_data(as_text=True)
    assert reload(HospitalCoverageRequest, request.id).status is RequestStatus.IN_PROGRESS
    assert _outbox(session, request.reference) == []


def test_reject_with_a_reason_tells_the_member(session, as_staff, agent, member, coverage_request, reload):
    request = _claimed(session, coverage_request(), agent)
    client = as_staff(agent)
    reason = "Le contrat ne couvre pas ce type de séjour."
    _post(client, QUEUE + f"{request.id}/refuser/", {"reason": reason}, page=QUEUE)
    rejected = reload(HospitalCoverageRequest, request.id)
    assert rejected.status is RequestStatus.REJECTED and rejected.resolution_note == reason
    messages = _outbox(session, request.reference)
    assert [(m.channel, m.recipient) for m in messages] == [(Channel.EMAIL, member.email)]
    notes = session.scalars(select(RequestEvent.note).where(RequestEvent.request_id == request.id)).all()
    assert reason in notes


def test_an_agent_cannot_reject_a_request_a_colleague_is_handling(session, as_staff, agent, coverage_request,
                                                                   reload):
    request = _claimed(session, coverage_request(), make_staff(session))
    client = as_staff(agent)
    _post(client, QUEUE + f"{request.id}/refuser/", {"reason": "Pas pour moi"}, page=QUEUE)
    assert reload(HospitalCoverageRequest, request.id).status is RequestStatus.IN_PROGRESS
    assert _outbox(session, request.reference) == []


# -- claim and release -----------------------------------------------------------------------

def test_taking_a_given_request_twice_is_refused(session, as_staff, agent, coverage_request, reload):
    request = _claimed(session, coverage_request(), make_staff(session))
    client = as_staff(agent)
    page = QUEUE + f"details/?id={request.id}"
    _post(client, QUEUE + f"{request.id}/prendre/", page=page)
    assert "déjà été prise en charge" in client.get(page).get_data(as_text=True)
    assert reload(HospitalCoverageRequest, request.id).assigned_to_id != agent.id


def test_release_puts_the_request_back_in_the_queue(session, as_staff, agent, coverage_request, reload):
    request = _claimed(session, coverage_request(), agent)
    client = as_staff(agent)
    _post(client, QUEUE + f"{request.id}/remettre/", page=QUEUE)
    back = reload(HospitalCoverageRequest, request.id)
    assert back.status is RequestStatus.NEW and back.assigned_to_id is None


def test_an_agent_cannot_release_a_colleagues_request_but_a_manager_can(session, as_staff, agent, manager,
                                                                        coverage_request, reload):
    request = _claimed(session, coverage_request(), make_staff(session))
    client = as_staff(agent)
    page = QUEUE + f"details/?id={request.id}"
    _post(client, QUEUE + f"{request.id}/remettre/", page=page)
    assert "Seul l&#39;agent en charge" in client.get(page).get_data(as_text=True)
    assert reload(HospitalCoverageRequest, request.id).status is RequestStatus.IN_PROGRESS
    client = as_staff(manager)
    _post(client, QUEUE + f"{request.id}/remettre/", page=page)
    assert reload(HospitalCoverageRequest, request.id).status is RequestStatus.NEW


def test_unknown_request_is_404(as_staff, agent):
    client = as_staff(agent)
    assert _post(client, QUEUE + "999999/accepter/", page=QUEUE).status_code == 404


def test_home_page_shows_the_state_of_the_queue(session, as_staff, agent, coverage_request):
    late = coverage_request(created_at=utcnow() - timedelta(days=10))
    mine = _claimed(session, coverage_request(), agent)
    coverage_request()
    html = as_staff(agent).get("/").get_data(as_text=True)
    compact = " ".join(html.split())
    row = compact.split('href="/backoffice/prises-en-charge/">Prises en charge hospitalières</a></th>')[1].split("</tr>")[0]
    # new, in progress, waiting for the member, due today, late (the one received ten days ago)
    assert row.strip().startswith('<td>2</td> <td>1</td> <td>0</td> <td>0</td> <td><strong class="text-danger">1</strong></td>')
    assert mine.reference in html and late.reference not in html
