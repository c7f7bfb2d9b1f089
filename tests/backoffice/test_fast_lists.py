"""Lists at a million rows: keyset pages, no count, the agent's scope in parts, only the columns a list shows."""

from __future__ import annotations

import re
import time
from datetime import timedelta

from psycopg import pq
from sqlalchemy import event, select, text

from models.audit.entities import AuditEvent
from models.base import utcnow
from models.requests.entities import HospitalCoverageRequest, RequestStatus
from models.staff.entities import StaffRole
from tests.factories import make_member, make_staff
from tests.helpers import login_staff, statements_of

REFERENCE = re.compile(r"<td>(PEC-\d{4}-\d{6})</td>")


def references(html: str) -> list[str]:
    return list(dict.fromkeys(REFERENCE.findall(html)))


def links(html: str) -> dict[str, str]:
    """The pager's links by their text."""
    found = re.findall(r'<a class="page-link" href="([^"]+)">([^<]+)</a>', html)
    return {label.strip(): href.replace("&amp;", "&").removeprefix("/backoffice") for href, label in found}


def test_pages_follow_each_other_by_keyset_and_back(session, as_staff, manager, coverage_request):
    start = utcnow() - timedelta(days=1)
    made = [coverage_request(created_at=start + timedelta(minutes=i)) for i in range(45)]
    client = as_staff(manager)
    first = client.get("/prises-en-charge/").get_data(as_text=True)
    assert references(first) == [r.reference for r in made[:20]]
    assert "Page suivante ›" in links(first) and "‹ Page précédente" not in links(first)
    second = client.get(links(first)["Page suivante ›"]).get_data(as_text=True)
    assert "apres=" in links(first)["Page suivante ›"]
    assert references(second) == [r.reference for r in made[20:40]] and "Page 2" in second
    third = client.get(links(second)["Page suivante ›"]).get_data(as_text=True)
    assert references(third) == [r.reference for r in made[40:]] and "Page suivante ›" not in links(third)
    back = client.get(links(third)["‹ Page précédente"]).get_data(as_text=True)
    assert "avant=" in links(third)["‹ Page précédente"]
    assert references(back) == [r.reference for r in made[20:40]]
    assert references(client.get(links(back)["‹ Page précédente"]).get_data(as_text=True)) == \
        [r.reference for r in made[:20]]


def test_a_sorted_list_pages_by_its_sort_key(session, as_staff, manager, coverage_request):
    made = [coverage_request() for _ in range(25)]
    for i, request in enumerate(made):
        request.due_on = request.due_on + timedelta(days=25 - i)
    session.commit()
    client = as_staff(manager)
    first = client.get("/prises-en-charge/?sort=6").get_data(as_text=True)  # Échéance, ascending
    by_due = sorted(made, key=lambda r: (r.due_on, r.id))
    assert references(first) == [r.reference for r in by_due[:20]]
    assert references(client.get(links(first)["Page suivante ›"]).get_data(as_text=True)) == \
        [r.reference for r in by_due[20:]]


def test_a_forged_cursor_is_refused_not_an_error(as_staff, manager, coverage_request):
    coverage_request()
    client = as_staff(manager)
    for cursor in ("nope", "W1sidCIsIjIwMjYiXV0", "W1siaSIsMV1d", "x" * 500):
        assert client.get(f"/prises-en-charge/?apres={cursor}").status_code == 400


def test_no_list_counts_its_table(backoffice_app, as_staff, manager, admin, coverage_request):
    from backoffice.extensions import db

    coverage_request()
    statements = []
    with backoffice_app.app_context():
        engine = db.engine
    listener = lambda *args: statements.append(args[2].lower())  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        for path in ("/prises-en-charge/", "/prises-en-charge/?flt0_0=all", "/envois/", "/journal/",
                     "/mes-exports/", "/depots-documents/?flt0_0=done"):
            assert as_staff(manager).get(path).status_code == 200
        assert as_staff(admin).get("/personnel/").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert not [s for s in statements if "count(" in s]


def test_an_agent_sees_open_requests_and_their_own_closed_ones_on_every_page(session, as_staff, agent, manager,
                                                                             coverage_request):
    start = utcnow() - timedelta(days=2)
    rows = [coverage_request(created_at=start + timedelta(minutes=i)) for i in range(75)]
    for i, request in enumerate(rows):
        if i % 3 == 0:
            request.status, request.assigned_to_id = RequestStatus.DONE, agent.id  # mine, closed
        elif i % 3 == 1:
            request.status, request.assigned_to_id = RequestStatus.DONE, manager.id  # a colleague's, closed
    session.commit()
    visible = [r.reference for i, r in enumerate(rows) if i % 3 != 1]
    client = as_staff(agent)
    first = client.get("/prises-en-charge/?flt0_0=all").get_data(as_text=True)
    second = client.get(links(first)["Page suivante ›"]).get_data(as_text=True)
    third = client.get(links(second)["Page suivante ›"]).get_data(as_text=True)
    assert references(first) + references(second) + references(third) == visible
    assert "avant=" in links(third)["‹ Page précédente"]
    back = client.get(links(third)["‹ Page précédente"]).get_data(as_text=True)
    assert references(back) == references(second)
    done = client.get("/prises-en-charge/?flt0_0=done").get_data(as_text=True)
    assert references(done) == [r.reference for i, r in enumerate(rows) if i % 3 == 0][:20]


def test_an_agents_list_in_parts_is_one_statement(as_staff, agent, coverage_request):
    """The agent's scope is read in parts (open requests, their own closed ones), each through its index; the
    parts are merged and the page's rows loaded in the same statement: one round trip, as any list."""
    coverage_request()
    client = as_staff(agent)
    client.get("/prises-en-charge/?flt0_0=all")  # the list's statement built, the session's cookie settled
    statements, response = statements_of(client, "/prises-en-charge/?flt0_0=all")
    assert response.status_code == 200
    listing = [s for s in statements if "FROM hospital_coverage_request" in s]
    assert len(listing) == 1 and "UNION ALL" in listing[0]


def test_search_by_member_number_through_the_list(session, as_staff, manager, coverage_request):
    other = make_member(session, number="5598765")
    mine = coverage_request(for_member=other)
    coverage_request()
    html = as_staff(manager).get("/prises-en-charge/?flt0_0=all&search=5598765").get_data(as_text=True)
    assert references(html) == [mine.reference]


def test_lists_never_decrypt_a_nir_or_a_totp_secret(session, as_staff, manager, admin, coverage_request, member):
    coverage_request()
    # A ciphertext no key opens: reading it would fail the page, so a list that shows it has not read it.
    session.execute(text("UPDATE member SET nir = 'v1:unreadable'"))
    agent = make_staff(session, StaffRole.AGENT)
    session.execute(text("UPDATE staff_user SET totp_secret = 'v1:unreadable' WHERE id = :agent"), {"agent": agent.id})
    session.commit()
    for path in ("/prises-en-charge/", "/prises-en-charge/?flt0_0=all", "/depots-documents/", "/messages/",
                 "/coordonnees-bancaires/", "/teletransmission/", "/envois/", "/journal/"):
        assert as_staff(manager).get(path).status_code == 200, path
    assert as_staff(admin).get("/personnel/").status_code == 200


def test_a_list_loads_no_whole_member_row(as_staff, manager, coverage_request):
    coverage_request()
    statements, _response = statements_of(as_staff(manager), "/prises-en-charge/")
    listing = [s for s in statements if "FROM hospital_coverage_request" in s]
    assert listing and all("member_1.nir" not in s and "email" not in s for s in listing)


def test_agent_scope_holds_for_another_agents_queue(session, as_staff, manager):
    colleague = make_staff(session, StaffRole.AGENT)
    newcomer = make_staff(session, StaffRole.AGENT)
    member = make_member(session)
    from models.requests.workflow import start_request

    request = HospitalCoverageRequest(member_id=member.id, beneficiary_id=member.beneficiaries[0].id,
                                      establishment_name="Clinique", start_on=utcnow().date())
    start_request(session, request, now=utcnow())
    request.status, request.assigned_to_id = RequestStatus.REJECTED, colleague.id
    session.commit()
    assert references(as_staff(newcomer).get("/prises-en-charge/?flt0_0=all").get_data(as_text=True)) == []
    assert session.scalar(select(HospitalCoverageRequest.reference)) == request.reference


def _statements_and_ends(backoffice_app, run) -> list[tuple[str, object]]:
    """(first word, the server's transaction status as it was sent) of each statement the request(s) of ``run``
    sent, and ("COMMIT", None) / ("ROLLBACK", None) where a transaction ended."""
    from backoffice.extensions import db

    seen = []
    with backoffice_app.app_context():
        engine = db.engine
    listeners = {
        "before_cursor_execute": lambda conn, cursor, statement, *rest: seen.append(
            (statement.split()[0], conn.connection.dbapi_connection.info.transaction_status)),
        "commit": lambda conn: seen.append(("COMMIT", None)),
        "rollback": lambda conn: seen.append(("ROLLBACK", None)),
    }
    for name, listener in listeners.items():
        event.listen(engine, name, listener)
    try:
        run()
    finally:
        for name, listener in listeners.items():
            event.remove(engine, name, listener)
    return seen


def test_a_list_read_sends_no_begin_and_its_audit_row_commits_as_written(backoffice_app, session, as_staff, manager,
                                                                         coverage_request):
    coverage_request()
    client = as_staff(manager)
    seen = _statements_and_ends(backoffice_app, lambda: client.get("/prises-en-charge/"))
    reads = [status for word, status in seen if word == "SELECT"]
    assert reads and set(reads) == {pq.TransactionStatus.IDLE}  # each read on its own: no BEGIN sent
    writes = [word for word, _status in seen if word not in ("SELECT", "ROLLBACK")]
    assert writes == ["INSERT", "COMMIT"]
    session.expire_all()
    assert session.scalar(select(AuditEvent.id).where(AuditEvent.action == "backoffice.listed")) is not None


def test_the_idle_sign_out_on_a_list_page_writes_in_one_transaction(backoffice_app, backoffice_client, session,
                                                                   agent):
    login_staff(backoffice_client, agent)
    with backoffice_client.session_transaction() as sess:
        sess["last_seen"] = int(time.time()) - 24 * 3600
    seen = _statements_and_ends(backoffice_app, lambda: backoffice_client.get("/prises-en-charge/"))
    words = [word for word, _status in seen]
    first_write = next(i for i, word in enumerate(words) if word not in ("SELECT", "COMMIT", "ROLLBACK"))
    written = words[first_write:words.index("COMMIT", first_write)]
    assert {"UPDATE", "INSERT"} <= set(written)  # the session's end and its audit row: one COMMIT for both
    assert all(status == pq.TransactionStatus.INTRANS for word, status in seen[first_write:]
               if word not in ("COMMIT", "ROLLBACK"))


# -- list frames: a list page is its template rendered once per role and list state, filled in per request ----


def _page(client, path: str) -> tuple[str, str]:
    response = client.get(path)
    assert response.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    return response.get_data(as_text=True), nonce


def test_a_list_frame_is_filled_for_each_request_and_staff_member(session, as_staff, new_client, manager,
                                                                   coverage_request):
    made = coverage_request()
    other = make_staff(session, StaffRole.MANAGER)
    other.full_name = "Odile Autre"
    session.commit()
    client = as_staff(manager)
    first, first_nonce = _page(client, "/prises-en-charge/")
    second, second_nonce = _page(client, "/prises-en-charge/")
    other_client = new_client()
    login_staff(other_client, other)
    theirs, their_nonce = _page(other_client, "/prises-en-charge/")
    for html, nonce in ((first, first_nonce), (second, second_nonce), (theirs, their_nonce)):
        assert set(re.findall(r'nonce="([^"]+)"', html)) == {nonce}  # the nonce of this response's CSP
        assert len(set(re.findall(r'name="csrf_token" value="([^"]+)"', html))) == 1
        assert made.reference in html and not re.search(r"slot[0-9a-f]{24}Z", html)
    assert first_nonce != second_nonce
    assert f'<span class="navbar-text">{manager.full_name}</span>' in first
    assert '<span class="navbar-text">Odile Autre</span>' in theirs
    assert f'<span class="navbar-text">{manager.full_name}</span>' not in theirs
    token = re.search(r'name="csrf_token" value="([^"]+)"', theirs).group(1)
    assert token not in first
    # The staff member's name is theirs at each request, not the one of the frame's first rendering.
    other.full_name = "Odile <Nouveau>"
    session.commit()
    assert '<span class="navbar-text">Odile &lt;Nouveau&gt;</span>' in _page(other_client, "/prises-en-charge/")[0]


def test_a_list_frame_is_one_role_s(as_staff, new_client, agent, manager, coverage_request):
    coverage_request()
    managers = as_staff(manager).get("/prises-en-charge/").get_data(as_text=True)
    agents_client = new_client()
    login_staff(agents_client, agent)
    agents = agents_client.get("/prises-en-charge/").get_data(as_text=True)
    assert "Exporter (CSV ou XLSX)" in managers and "Exporter (CSV ou XLSX)" not in agents


def test_a_list_frame_shows_a_new_filter_option_after_its_time(session, monkeypatch, as_staff, manager,
                                                               coverage_request):
    from backoffice.views import base

    coverage_request()
    client = as_staff(manager)
    assert "Agent Nouvelle" not in client.get("/prises-en-charge/").get_data(as_text=True)
    newcomer = make_staff(session, StaffRole.AGENT)
    newcomer.full_name = "Agent Nouvelle"
    session.commit()
    later = time.monotonic() + base.FRAGMENT_SECONDS + 1
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert '>Agent Nouvelle</option>' in client.get("/prises-en-charge/").get_data(as_text=True)


def test_a_message_and_an_empty_list_go_through_the_template(as_staff, manager, coverage_request):
    coverage_request()
    client = as_staff(manager)
    client.get("/prises-en-charge/")
    flagged = client.get("/prises-en-charge/?flt0_0=nonsense").get_data(as_text=True)
    assert "bo-flash" in flagged and "PEC-" in flagged
    assert "Aucun élément." in client.get("/prises-en-charge/?search=PEC-1999-000001").get_data(as_text=True)


def test_a_list_s_statements_are_built_for_each_staff_member(session, as_staff, new_client, coverage_request):
    colleague = make_staff(session, StaffRole.AGENT)
    newcomer = make_staff(session, StaffRole.AGENT)
    mine, open_one = coverage_request(), coverage_request()
    mine.status, mine.assigned_to_id = RequestStatus.DONE, colleague.id
    open_one.assigned_to_id = colleague.id
    session.commit()
    for path in ("/prises-en-charge/?flt0_0=all", "/prises-en-charge/?flt0_0=open&flt1_2=me"):
        theirs = references(as_staff(colleague).get(path).get_data(as_text=True))
        other = new_client()
        login_staff(other, newcomer)
        assert theirs and references(other.get(path).get_data(as_text=True)) == (
            [open_one.reference] if path.endswith("all") else [])


def test_the_sign_in_check_decrypts_no_totp_secret_of_the_staff_member(session, as_staff, manager, coverage_request):
    coverage_request()
    client = as_staff(manager)
    # A ciphertext no key opens: a page that read it would fail.
    session.execute(text("UPDATE staff_user SET totp_secret = 'v1:unreadable' WHERE id = :id"), {"id": manager.id})
    session.commit()
    for path in ("/", "/prises-en-charge/", "/prises-en-charge/?flt0_0=all", "/envois/", "/journal/", "/mes-exports/"):
        assert client.get(path).status_code == 200, path


def test_a_list_read_skips_the_rate_limiter_unless_a_limit_of_the_whole_app_counts_it(as_staff, manager,
                                                                                       coverage_request):
    from flask_limiter import ApplicationLimit

    from backoffice.extensions import limiter

    coverage_request()
    client = as_staff(manager)
    assert {client.get("/prises-en-charge/").status_code for _ in range(5)} == {200}
    limiter.limit_manager.set_application_limits([ApplicationLimit("2 per minute").bind(limiter)])
    try:
        statuses = [client.get("/prises-en-charge/").status_code for _ in range(3)]
    finally:
        limiter.limit_manager.set_application_limits([])
    assert statuses == [200, 200, 429]
