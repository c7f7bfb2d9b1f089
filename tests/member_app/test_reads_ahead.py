"""A page's reads ride with the sign-in check (member_app.ahead, models.db.DriverRead.first_with): one statement
per page, and the page drawn from them is the page drawn without them."""

import re
from datetime import date

import pytest
from sqlalchemy import bindparam, select

import member_app.auth.views as auth_views
from psycopg import _queries as psycopg_queries
from models.contracts import queries
from models.contracts.entities import Beneficiary
from models.db import DriverRead, _plain_read
from models.demo import load_demo
from models.members.entities import Member
from tests.factories import make_member
from tests.helpers import login_member, statements_of

CONVERSION_KEPT_UP_TO = psycopg_queries.MAX_CACHED_STATEMENT_LENGTH  # as models.db sets it


@pytest.fixture
def lea(session):
    load_demo(session)
    session.commit()
    return session.scalar(select(Member).where(Member.number == "4400000"))


def _ahead_pages(app, lea) -> list[str]:
    """The address of every GET page whose view names its reads ahead, filled with Léa's ids."""
    values = {"contract_id": lea.contracts[0].id,
              "beneficiary_id": next(b.id for b in lea.beneficiaries if b.role.value == "spouse")}
    paths = []
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            view = app.view_functions[rule.endpoint]
            if "GET" in rule.methods and hasattr(view, "reads_ahead"):
                paths.append(url_for(rule.endpoint, **{name: values[name] for name in rule.arguments}))
    return sorted(set(paths))


def _same_page(html: bytes) -> bytes:
    return re.sub(rb'(nonce|value)="[^"]*"', b"", html)  # tokens and nonces differ from one answer to the next


def test_each_page_with_reads_ahead_sends_one_statement_and_shows_what_it_shows_without(member_app, lea,
                                                                                           monkeypatch):
    client = member_app.test_client()
    login_member(client, lea)
    paths = _ahead_pages(member_app, lea)
    assert {"/", "/mon-contrat", "/mes-remboursements", "/coordonnees-bancaires", "/cotisations"} <= set(paths)
    spouse = next(b.id for b in lea.beneficiaries if b.role.value == "spouse")
    first = client.get("/mes-remboursements").get_data(as_text=True)
    older = re.search(r'href="(/mes-remboursements\?apres=[^"]+)"', first).group(1).replace("&amp;", "&")
    paths += ["/mes-remboursements?soins=pharmacy", f"/mes-remboursements?beneficiaire={spouse}", older,
              "/mes-remboursements?du=2031-99-01", "/mon-compte/consultations?apres=nope"]
    for path in paths:
        client.get(path)  # the first visit may note the session's activity
        seen, ahead = statements_of(client, path)
        with monkeypatch.context() as patched:
            patched.setattr(auth_views, "page_reads", lambda now: [])
            alone = client.get(path)
        assert ahead.status_code == alone.status_code, path
        assert _same_page(ahead.data) == _same_page(alone.data), path
        if ahead.status_code == 200:  # the reimbursements' lines and totals run on their own (DriverRead.first_with)
            assert len(seen) == (2 if path.startswith("/mes-remboursements") else 1), (path, seen)
        # psycopg converts a longer statement again at each execution (it keeps the conversion of shorter ones:
        # models.db.LONGEST_KEPT_CONVERSION)
        assert all(len(statement) <= CONVERSION_KEPT_UP_TO for statement in seen), path


def test_another_familys_ids_still_answer_404_with_reads_ahead(member_app, lea, session):
    other = make_member(session, number="9900001", email="other@example.test", mobile="+33611111111")
    client = member_app.test_client()
    login_member(client, lea)
    for path in (f"/mon-contrat/{other.contracts[0].id}", f"/teletransmission/{other.beneficiaries[1].id}",
                 f"/mes-remboursements?beneficiaire={other.beneficiaries[1].id}"):
        assert client.get(path).status_code == 404, path


def test_a_read_ahead_serves_its_own_parameters_once(session):
    lea, other = make_member(session), make_member(session, number="9900002", email=None, mobile=None)
    lea_contract = lea.contracts[0].id
    signed = DriverRead(select(Member.id, Member.first_name).where(Member.id == bindparam("id")))
    key = select(Member.id).where(Member.id == bindparam("id")).correlate(None).scalar_subquery()
    ahead = queries.member_contracts_reads()
    assert signed.first_with(session, {"id": lea.id}, ahead, key="member_id", key_value=key) == (
        lea.id, "Léa")
    read, _params = ahead[0]
    connection = session.connection()
    sent: list[str] = []
    from sqlalchemy import event

    event.listen(connection, "before_cursor_execute", lambda *args: sent.append(args[2]))
    assert [row[1] for row in read.rows(session, {"member_id": other.id})] == ["C40SOCLE"]  # not the one read ahead
    assert len(sent) == 1
    assert [row[0] for row in read.rows(session, {"member_id": lea.id})] == [lea_contract]
    assert len(sent) == 1  # served from what was read ahead
    read.rows(session, {"member_id": lea.id})
    assert len(sent) == 2  # once only
    assert signed.first_with(session, {"id": -1}, ahead, key="member_id", key_value=key) is None
    read.rows(session, {"member_id": -1})
    assert len(sent) == 4  # nothing kept for a row not found


def test_values_read_ahead_have_the_types_and_values_of_a_driver_read(session):
    """Dates, encrypted bytes (the NIR), enums and texts come back through JSON as the driver gives them."""
    member = make_member(session)
    person = DriverRead(select(Beneficiary.id, Beneficiary.birth_date, Beneficiary.nir, Beneficiary.role,
                               Beneficiary.first_name, Beneficiary.teletransmission_active)
                        .where(Beneficiary.member_id == bindparam("member_id")).order_by(Beneficiary.id.desc()))
    alone = person.all(session.connection(), {"member_id": member.id})
    signed = DriverRead(select(Member.id).where(Member.id == bindparam("id")))
    key = select(Member.id).where(Member.id == bindparam("id")).correlate(None).scalar_subquery()
    signed.first_with(session, {"id": member.id}, [(person, {})], key="member_id", key_value=key)
    ahead = person.rows(session, {"member_id": member.id})
    assert ahead == alone and len(ahead) == 3
    assert [type(value) for value in ahead[0]] == [type(value) for value in alone[0]]
    assert isinstance(ahead[0][1], date) and ahead[-1][2] == "2848013809111"


def test_a_with_query_reads_without_a_transaction_unless_it_writes():
    assert _plain_read("WITH first_row AS (SELECT 1 AS id) SELECT id FROM first_row")
    assert not _plain_read("WITH gone AS (DELETE FROM member RETURNING id) SELECT id FROM gone")
    assert not _plain_read("WITH first_row AS (SELECT 1 AS id) SELECT id FROM first_row FOR UPDATE")
