"""Member 360: who may search and open a file, each search key, the audit of every look, numbers shown in full only
for a stated reason and only in that answer, the lock lifted; the lists read only what they show."""

from __future__ import annotations

import html
from datetime import date, timedelta

import pytest
from sqlalchemy import event, select

from models.audit.entities import AuditEvent
from models.base import utcnow
from models.contracts.entities import BankAccount
from models.formats import nir_with_key
from models.members.entities import Member
from models.outbox.entities import Channel, OutboxMessage
from models.staff.entities import StaffRole
from tests.factories import make_member

from .support import csrf_from

LEA_NIR = "2848013809111"
IBAN = "FR7610278000001000000038136"


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def events(session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


@pytest.fixture
def lea(session):
    """Léa RIMON with a current bank account and a replaced one, a code SMS and a locked account."""
    member = make_member(session, number="4400000")
    now = utcnow()
    session.add_all([
        BankAccount(member_id=member.id, holder="Léa RIMON", iban="FR7630006000011234567890189", bic="AGRIFRPP",
                    valid_from=now - timedelta(days=900), valid_to=now - timedelta(days=30)),
        BankAccount(member_id=member.id, holder="Léa RIMON", iban=IBAN, bic="CMCIFR2A",
                    valid_from=now - timedelta(days=30)),
        OutboxMessage(channel=Channel.SMS, recipient="+33606060606", subject="", text_body="Votre code : 482913",
                      template="sign_in_code", member_id=member.id, secret=True),
    ])
    session.commit()
    return member


@pytest.fixture
def other(session):
    """A member of another family, born the same day, with another NIR."""
    return make_member(session, number="4400999", first_name="Paul", last_name="RIMONET", nir="1840175056123",
                       email="paul@example.test")


# -- who may do what ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(StaffRole))
def test_every_role_may_search(session, as_staff, lea, role):
    from tests.factories import make_staff

    client = as_staff(make_staff(session, role))
    response = client.get("/adherents/?number=4400000")
    assert response.status_code == 200
    assert "Léa RIMON" in text(response)


def test_an_agent_finds_the_member_but_not_their_file(session, as_staff, agent, lea, coverage_request):
    made = coverage_request(for_member=lea)
    client = as_staff(agent)
    page = text(client.get("/adherents/?number=4400000"))
    # The agent is led to the member's requests in the queues, not to the file.
    assert "/prises-en-charge/?search=4400000" in page and f"/adherents/fiche/{lea.id}/" not in page
    assert client.get(f"/adherents/fiche/{lea.id}/").status_code == 403
    queue = text(client.get("/prises-en-charge/?search=4400000&flt0_0=all"))
    assert made.reference in queue  # the link of the search row leads to the member's requests
    token = csrf_from(client, "/adherents/")
    assert client.post(f"/adherents/fiche/{lea.id}/", data={
        "csrf_token": token, "target": "nir", "reason": "Appel de l'adhérente"}).status_code == 403
    assert client.post(f"/adherents/fiche/{lea.id}/debloquer/", data={"csrf_token": token}).status_code == 403
    assert not events(session, "member360.viewed") and not events(session, "member360.unmasked")
    refused = events(session, "backoffice.refused")
    assert len(refused) == 3 and all(e.details["reason"] == "role" for e in refused)


@pytest.mark.parametrize("role", [StaffRole.MANAGER, StaffRole.ADMIN])
def test_supervisors_open_the_file(session, as_staff, lea, role):
    from tests.factories import make_staff

    client = as_staff(make_staff(session, role))
    assert f"/adherents/fiche/{lea.id}/" in text(client.get("/adherents/?number=4400000"))
    assert client.get(f"/adherents/fiche/{lea.id}/").status_code == 200


def test_signed_out_visitors_are_sent_to_the_sign_in(backoffice_client, lea):
    for path in ("/adherents/?number=4400000", f"/adherents/fiche/{lea.id}/"):
        response = backoffice_client.get(path)
        assert response.status_code == 302 and "/connexion" in response.location


def test_an_unknown_member_is_404(as_staff, manager, lea):
    client = as_staff(manager)
    assert client.get("/adherents/fiche/99999999/").status_code == 404
    assert client.get("/adherents/fiche/0/").status_code == 404


# -- search -------------------------------------------------------------------------------------------


def test_search_by_number(session, as_staff, manager, lea, other):
    page = text(as_staff(manager).get("/adherents/?number=44 000 00"))
    assert "Léa RIMON" in page and "RIMONET" not in page
    assert events(session, "member360.searched")[-1].details == {"kind": "number", "rows": 1, "role": "manager"}


def test_search_by_name_and_birth_date(session, as_staff, manager, lea, other):
    client = as_staff(manager)
    page = text(client.get("/adherents/?last_name=rimon&birth_date=10/01/1984"))
    assert "Léa RIMON" in page and "Paul RIMONET" in page  # the start of the name, without case
    page = text(client.get("/adherents/?last_name=Rimonet&birth_date=1984-01-10"))
    assert "Paul RIMONET" in page and "Léa RIMON" not in page
    assert "Aucun adhérent" in text(client.get("/adherents/?last_name=rimon&birth_date=11/01/1984"))
    searched = events(session, "member360.searched")
    assert [e.details["kind"] for e in searched] == ["name"] * 3
    assert all("rimon" not in str(e.details).lower() for e in searched)  # the name typed is not kept


def test_search_by_nir_through_its_blind_index(session, as_staff, manager, lea, other):
    client = as_staff(manager)
    statements = []

    from backoffice.extensions import db

    with client.application.app_context():
        engine = db.engine
    listener = lambda *args: statements.append((args[2], args[3]))  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        response = client.get(f"/adherents/?nir={nir_with_key(LEA_NIR)}")
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    page = text(response)
    assert "Léa RIMON" in page and "RIMONET" not in page
    # The NIR typed is never sent back, nor sent to the database: only its keyed hash is.
    assert LEA_NIR not in page
    assert not any(LEA_NIR in str(params) for _sql, params in statements)
    assert any("nir_index" in sql for sql, _params in statements)
    assert events(session, "member360.searched")[-1].details["kind"] == "nir"


def test_a_wrong_nir_finds_nothing(as_staff, manager, lea):
    client = as_staff(manager)
    page = text(client.get("/adherents/?nir=2848013809112"))  # one digit off, a well-formed NIR
    assert "Aucun adhérent ne correspond" in page and "Léa RIMON" not in page
    response = client.get("/adherents/?nir=2848013809111 99")  # a key that does not match
    assert response.status_code == 400 and "Ce NIR n'est pas valide" in text(response)


def test_bad_search_input_is_shown_next_to_the_field(as_staff, manager, lea):
    client = as_staff(manager)
    response = client.get("/adherents/?last_name=RIMON")
    page = text(response)
    assert response.status_code == 400 and "<title>Erreur :" in page
    assert 'id="birth_date-error"' in page and "Indiquez la date de naissance" in page
    response = client.get("/adherents/?last_name=RIMON&birth_date=31/02/1984")
    assert response.status_code == 400 and "Date de naissance non valide" in text(response)
    response = client.get("/adherents/?number=%3Cscript%3E")
    assert response.status_code == 400 and 'id="number-error"' in text(response)
    assert client.get("/adherents/").status_code == 200  # the empty form, no search


def test_the_search_reads_only_the_listed_columns(backoffice_app, as_staff, manager, lea):
    from backoffice.extensions import db

    statements = []
    with backoffice_app.app_context():
        engine = db.engine
    listener = lambda *args: statements.append(args[2].lower())  # noqa: E731
    client = as_staff(manager)
    event.listen(engine, "before_cursor_execute", listener)
    try:
        for query in ("number=4400000", "last_name=rimon&birth_date=10/01/1984", f"nir={LEA_NIR}"):
            assert client.get(f"/adherents/?{query}").status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    searches = [s for s in statements if "from member" in s and "member.number" in s and "insert" not in s]
    assert len(searches) == 3
    for sql in searches:
        assert "member.nir," not in sql and "member.nir " not in sql and "totp_secret" not in sql
        assert "password_hash" not in sql and "count(" not in sql and "limit" in sql


# -- the file -----------------------------------------------------------------------------------------


def test_the_file_shows_everything_masked_and_each_opening_is_audited(session, as_staff, manager, lea, other):
    from models.members.security import SignInPolicy, check_password

    check_password(session, "4400000", "pas-le-bon", policy=SignInPolicy(), ip="192.0.2.9", now=utcnow())
    session.commit()
    client = as_staff(manager)
    response = client.get(f"/adherents/fiche/{lea.id}/")
    page = text(response)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    for shown in ("Léa RIMON", "4400000", "284801XXXX", "C40SOCLE", "Samuel RIMON", "Zoé RIMON",
                  "XXXX.XXXXXXXX.XXXXXXXX.XXXX.136", "XXXX.XXXXXXXX.XXXXXXXX.XXXX.189", "En cours",
                  "Échec de connexion (mot de passe erroné)", "192.0.2.9", "SMS"):
        assert shown in page, shown
    for hidden in (LEA_NIR, nir_with_key(LEA_NIR), IBAN, "482913", "Paul RIMONET"):
        assert hidden not in page, hidden
    client.get(f"/adherents/fiche/{lea.id}/")
    opened = events(session, "member360.viewed")
    assert [(e.member_id, e.actor_id, e.details["role"]) for e in opened] == [(lea.id, manager.id, "manager")] * 2


def test_the_file_lists_requests_of_every_type(session, as_staff, manager, lea, coverage_request):
    made = coverage_request(for_member=lea)
    page = text(as_staff(manager).get(f"/adherents/fiche/{lea.id}/"))
    assert made.reference in page and f"/prises-en-charge/details/?id={made.id}" in page


# -- numbers shown in full ------------------------------------------------------------------------------


def _unmask(client, member, **data):
    token = csrf_from(client, f"/adherents/fiche/{member.id}/")
    return client.post(f"/adherents/fiche/{member.id}/", data={"csrf_token": token, **data})


def test_showing_a_number_needs_a_reason(session, as_staff, manager, lea):
    client = as_staff(manager)
    response = _unmask(client, lea, target="nir", reason="  ")
    page = text(response)
    assert response.status_code == 400 and "<title>Erreur :" in page
    assert 'id="reason-error"' in page and "Indiquez le motif" in page
    assert 'aria-describedby="reason-help reason-error"' in page
    assert nir_with_key(LEA_NIR) not in page
    assert not events(session, "member360.unmasked")


def test_a_number_of_another_family_cannot_be_shown(session, as_staff, manager, lea, other):
    client = as_staff(manager)
    foreign = session.scalar(select(BankAccount.id).where(BankAccount.member_id == lea.id))
    response = _unmask(client, other, target=f"iban:{foreign}", reason="Vérification d'un virement")
    assert response.status_code == 400 and "Choisissez le numéro" in text(response)
    response = _unmask(client, other, target=f"beneficiary:{lea.beneficiaries[1].id}",
                       reason="Vérification d'un virement")
    assert response.status_code == 400
    assert not events(session, "member360.unmasked")


def test_a_csrf_token_is_required(as_staff, manager, lea):
    client = as_staff(manager)
    response = client.post(f"/adherents/fiche/{lea.id}/", data={"target": "nir", "reason": "x" * 20})
    assert response.status_code == 400 and nir_with_key(LEA_NIR) not in text(response)


def test_the_nir_is_shown_in_that_answer_only_and_audited_with_the_reason(session, as_staff, manager, lea):
    client = as_staff(manager)
    response = _unmask(client, lea, target="nir", reason="Appel de l'adhérente, vérification d'identité")
    page = text(response)
    assert response.status_code == 200 and nir_with_key(LEA_NIR) in page
    assert response.headers["Cache-Control"] == "no-store"
    assert nir_with_key(LEA_NIR) not in text(client.get(f"/adherents/fiche/{lea.id}/"))
    [shown] = events(session, "member360.unmasked")
    assert shown.member_id == lea.id and shown.actor_id == manager.id
    assert shown.details == {"target": "nir", "target_id": lea.id, "role": "manager",
                             "reason": "Appel de l'adhérente, vérification d'identité"}
    assert LEA_NIR not in str(shown.details)


def test_the_iban_is_shown_in_full_once(session, as_staff, admin, lea):
    client = as_staff(admin)
    account = session.scalar(select(BankAccount).where(BankAccount.member_id == lea.id,
                                                       BankAccount.valid_to.is_(None)))
    response = _unmask(client, lea, target=f"iban:{account.id}", reason="Contrôle d'un remboursement rejeté")
    page = text(response)
    assert "FR76 1027 8000 0010 0000 0038 136" in page
    [shown] = events(session, "member360.unmasked")
    assert shown.details["target"] == "iban" and shown.details["role"] == "admin"
    assert IBAN not in str(shown.details)


# -- lock --------------------------------------------------------------------------------------------


def test_a_supervisor_unlocks_a_locked_account(session, as_staff, manager, lea, reload):
    lea.locked_at, lea.failed_login_count, lea.last_failed_login_at = utcnow(), 10, utcnow()
    session.commit()
    client = as_staff(manager)
    page = text(client.get(f"/adherents/fiche/{lea.id}/"))
    assert "Compte bloqué" in page and "Débloquer l'accès" in page
    token = csrf_from(client, f"/adherents/fiche/{lea.id}/")
    response = client.post(f"/adherents/fiche/{lea.id}/debloquer/", data={"csrf_token": token})
    assert response.status_code == 303
    unlocked = reload(Member, lea.id)
    assert unlocked.locked_at is None and unlocked.failed_login_count == 0
    [done] = events(session, "member.unlocked")
    assert done.member_id == lea.id and done.actor_id == manager.id and done.details["was_locked"] is True
    assert "Débloquer l'accès" not in text(client.get(f"/adherents/fiche/{lea.id}/"))


def test_born_and_named_index_serves_the_name_search(session):
    """The name search reads the (birth_date, last_name) index, the number its unique index, the NIR the blind
    index (plans of PostgreSQL with sequential scans switched off: the table is small in tests)."""
    from sqlalchemy import text as sql

    make_member(session, number="4400000")
    session.execute(sql("SET enable_seqscan = off"))
    plans = {name: "\n".join(row[0] for row in session.execute(sql("EXPLAIN " + query), params))
             for name, query, params in (
                 ("number", "SELECT id FROM member WHERE number = :v LIMIT 50", {"v": "4400000"}),
                 ("name", "SELECT id FROM member WHERE birth_date = :v ORDER BY last_name, id LIMIT 1000",
                  {"v": date(1984, 1, 10)}),
                 ("nir", "SELECT id FROM member WHERE nir_index = :v LIMIT 50", {"v": "x"}))}
    session.rollback()
    assert "uq_member_number" in plans["number"]
    assert "ix_member_birth_date_last_name" in plans["name"]
    assert "ix_member_nir_index" in plans["nir"]


def test_files_opened_lately_are_listed_for_their_reader_only(session, as_staff, manager, admin, lea, other):
    client = as_staff(manager)
    client.get(f"/adherents/fiche/{lea.id}/")
    client.get(f"/adherents/fiche/{other.id}/")
    client.get(f"/adherents/fiche/{lea.id}/")
    page = text(client.get("/adherents/fiche/"))
    assert page.count("Léa RIMON</a>") == 1 and page.index("Léa RIMON") < page.index("Paul RIMONET")
    assert "Léa RIMON" not in text(as_staff(admin).get("/adherents/fiche/"))


def test_the_rule_itself_refuses_an_agent_whatever_the_view(session, agent, lea):
    from models.errors import ValidationFailed
    from models.members.member360 import member_file, unmask

    with pytest.raises(ValidationFailed):
        unmask(session, member_file(session, lea), target="nir", reason="Une raison assez longue", staff=agent,
               ip=None, now=utcnow())
    session.rollback()
    assert not events(session, "member360.unmasked")


def test_the_member_sees_these_looks_by_role_only(session, as_staff, manager, agent, lea, coverage_request,
                                                  member_client, new_client):
    """End to end: a manager opens the file and shows the NIR, an agent opens one of the family's requests in its
    queue; the member reads the three in "Consultations de mon dossier", by role, never by name."""
    from tests.helpers import login_member, login_staff

    made = coverage_request(for_member=lea)
    client = as_staff(manager)
    client.get(f"/adherents/fiche/{lea.id}/")
    _unmask(client, lea, target="nir", reason="Appel de l'adhérente, carte perdue")
    other_browser = new_client()
    login_staff(other_browser, agent)
    assert other_browser.get(f"/prises-en-charge/details/?id={made.id}").status_code == 200
    login_member(member_client, lea)
    page = text(member_client.get("/mon-compte/consultations"))
    assert f"Consultation de votre demande {made.reference}" in page
    assert "Affichage en clair de votre numéro de sécurité sociale, motif : « Appel de l'adhérente, carte perdue »" \
        in page
    assert "Consultation de votre dossier d'adhérent" in page
    assert "Gestionnaire MESE" in page and "Responsable d'équipe MESE" in page
    assert manager.full_name not in page and agent.full_name not in page and manager.email not in page
