"""Mes contrats, the contract page and its beneficiaries, the guarantees, Cotisations, Coordonnées bancaires.

Labels and rules of the guide; masked numbers never sent in full; another family's ids answer 404; each page
reads the database a fixed number of times, whatever the size of the family or of the schedule.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from models.base import utcnow
from models.contracts.entities import (BankAccount, BeneficiaryRole, ContractKind, Contribution,
                                       ContributionStatus)
from models.demo_consult_contract import guarantees_pdf
from models.files.storage import store_bytes
from models.requests.entities import TeletransmissionRequest
from models.requests.workflow import start_request
from tests.factories import make_member
from tests.helpers import login_member, statements_of
from tests.member_app.test_hospital_coverage import text

LEA_IBAN = "FR7610278000001000000038136"
SAMUEL_IBAN = "FR7630006000011234567890189"


@pytest.fixture
def member(session):
    member = make_member(session, contracts=[
        ("C40SOCLE", "Socle", ContractKind.COLLECTIVE, date(2018, 1, 1)),
        ("C40ZPREMIUM", "Premium", ContractKind.COLLECTIVE, date(2020, 1, 1))],
        family=[(BeneficiaryRole.SPOUSE, "Samuel", date(1982, 5, 14), "1820538185049"),
                (BeneficiaryRole.CHILD, "Zoé", date(2012, 9, 3), None)])
    now = utcnow()
    session.add(BankAccount(member_id=member.id, holder="Léa RIMON", iban=LEA_IBAN, bic="CMCIFR2A",
                            valid_from=now - timedelta(days=30)))
    socle = member.contracts[0]
    stored = store_bytes(session, guarantees_pdf(socle), filename="garanties-C40SOCLE.pdf",
                         content_type="application/pdf")
    session.flush()
    socle.guarantees_file_id = stored.id
    session.commit()
    return member


@pytest.fixture
def client(member_client, member):
    login_member(member_client, member)
    return member_client


@pytest.fixture
def other(session):
    """Another family, with a contract and its guarantees."""
    other = make_member(session, email="autre@example.test")
    stored = store_bytes(session, guarantees_pdf(other.contracts[0]), filename="g.pdf", content_type="application/pdf")
    session.flush()
    other.contracts[0].guarantees_file_id = stored.id
    session.commit()
    return other


def people(member):
    return {b.role: b for b in member.beneficiaries}


# --- Mes contrats ----------------------------------------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_the_login_page(member_client, member):
    for url in ("/mon-contrat", f"/mon-contrat/{member.contracts[0].id}", f"/mon-contrat/{member.contracts[0].id}"
                "/garanties", "/cotisations", "/coordonnees-bancaires"):
        response = member_client.get(url)
        assert response.status_code == 302 and "/connexion" in response.location, url


def test_mes_contrats_shows_one_card_per_health_contract(client, member):
    page = text(client.get("/mon-contrat"))
    assert "<title>Mes contrats · MESE</title>" in page and "Santé" in page
    assert page.count("Contrat santé") == 2
    assert "N°C40SOCLE" in page and "N°C40ZPREMIUM" in page
    assert page.index("C40SOCLE") < page.index("C40ZPREMIUM")
    for contract in member.contracts:
        assert f'href="/mon-contrat/{contract.id}"' in page


def test_the_contract_page_shows_the_contract_and_its_beneficiaries(client, member):
    socle = member.contracts[0]
    page = text(client.get(f"/mon-contrat/{socle.id}"))
    assert "← Contrat santé" in page
    assert "N° C40SOCLE - Souscrit le 01/01/2018" in page
    assert f'href="/mon-contrat/{socle.id}/garanties"' in page and "Afficher les garanties de remboursements" in page
    assert "Bénéficiaires" in page
    for name, role in (("Léa RIMON", "Assuré Principal"), ("Samuel RIMON", "Conjoint"), ("Zoé RIMON", "Enfant")):
        assert name in page and role in page
    assert "Né(e) le 10/01/1984" in page and "Né(e) le 14/05/1982" in page
    assert "Sécurité sociale" in page and "N° Sécurité sociale" in page
    assert "284801XXXX1174" in page and "182053XXXX4957" in page
    assert "N° Organisme de rattachement" in page and "5001-381000" in page
    assert "La télétransmission est un échange informatique entre votre caisse d'assurance maladie et Harmonie " \
           "Mutuelle en tant qu'opérateur de tiers payant pour le compte de votre mutuelle." in page
    assert "Elle vous dispense de nous envoyer vos décomptes de remboursements." in page
    assert "Remboursements" in page and "IBAN" in page and "BIC" in page
    assert "XXXX.XXXXXXXX.XXXXXXXX.XXXX.136" in page and "CMCI XXXX" in page


def test_no_guarantees_link_without_a_document(client, member):
    page = text(client.get(f"/mon-contrat/{member.contracts[1].id}"))
    assert "N° C40ZPREMIUM - Souscrit le 01/01/2020" in page
    assert "Afficher les garanties de remboursements" not in page
    assert client.get(f"/mon-contrat/{member.contracts[1].id}/garanties").status_code == 404


def test_full_numbers_are_never_sent_to_the_browser(client, session, member):
    by_role = people(member)
    session.add(BankAccount(member_id=member.id, beneficiary_id=by_role[BeneficiaryRole.SPOUSE].id,
                            holder="Samuel RIMON", iban=SAMUEL_IBAN, bic="AGRIFRPP", valid_from=utcnow()))
    session.commit()
    for url in (f"/mon-contrat/{member.contracts[0].id}", "/coordonnees-bancaires", "/mes-informations"):
        page = text(client.get(url))
        for secret in ("2848013809111", "284801380911174", "1820538185049", LEA_IBAN, SAMUEL_IBAN, "CMCIFR2A",
                       "AGRIFRPP", "FR76 1027", "3809111"):
            assert secret not in page, (url, secret)


def test_teletransmission_states_and_the_way_to_activate_it(client, session, member):
    by_role = people(member)
    spouse, child = by_role[BeneficiaryRole.SPOUSE], by_role[BeneficiaryRole.CHILD]
    spouse.teletransmission_active = True
    request = TeletransmissionRequest(member_id=member.id, beneficiary_id=child.id)
    start_request(session, request, now=utcnow())
    session.commit()
    page = text(client.get(f"/mon-contrat/{member.contracts[0].id}"))
    principal = page[page.index('id="personne-%d"' % by_role[BeneficiaryRole.PRINCIPAL].id):
                     page.index('id="personne-%d"' % spouse.id)]
    samuel = page[page.index('id="personne-%d"' % spouse.id):page.index('id="personne-%d"' % child.id)]
    zoe = page[page.index('id="personne-%d"' % child.id):]
    assert "Désactivée" in principal and "Activer la télétransmission" in principal
    assert f'href="/teletransmission/{by_role[BeneficiaryRole.PRINCIPAL].id}"' in principal
    assert "Activée" in samuel and "Activer la télétransmission" not in samuel
    assert "Demande en cours" in zoe and "Activer la télétransmission" not in zoe
    assert f"/mes-demandes/{request.reference}" in zoe
    # The link leads to the existing request page of that person.
    assert client.get(f"/teletransmission/{by_role[BeneficiaryRole.PRINCIPAL].id}").status_code == 200


def test_a_beneficiary_without_an_account_is_reimbursed_on_the_member_s(client, session, member):
    by_role = people(member)
    session.add(BankAccount(member_id=member.id, beneficiary_id=by_role[BeneficiaryRole.SPOUSE].id,
                            holder="Samuel RIMON", iban=SAMUEL_IBAN, bic="AGRIFRPP", valid_from=utcnow()))
    session.commit()
    page = text(client.get(f"/mon-contrat/{member.contracts[0].id}"))
    samuel = page[page.index('id="personne-%d"' % by_role[BeneficiaryRole.SPOUSE].id):
                  page.index('id="personne-%d"' % by_role[BeneficiaryRole.CHILD].id)]
    zoe = page[page.index('id="personne-%d"' % by_role[BeneficiaryRole.CHILD].id):]
    assert "XXXX.XXXXXXXX.XXXXXXXX.XXXX.189" in samuel and "AGRI XXXX" in samuel
    assert "XXXX.XXXXXXXX.XXXXXXXX.XXXX.136" in zoe and "versés sur le compte de l'adhérent" in zoe


def test_the_guarantees_document_opens_as_a_pdf(client, member):
    response = client.get(f"/mon-contrat/{member.contracts[0].id}/garanties")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf" and response.data.startswith(b"%PDF")
    assert "inline" in response.headers["Content-Disposition"]
    assert "no-store" in response.headers["Cache-Control"]


@pytest.mark.parametrize("suffix", ["", "/garanties"])
def test_another_family_s_contract_is_not_found(client, other, suffix):
    assert client.get(f"/mon-contrat/{other.contracts[0].id}{suffix}").status_code == 404
    assert client.get(f"/mon-contrat/999999{suffix}").status_code == 404
    assert client.get(f"/mon-contrat/99999999999999999999{suffix}").status_code == 404
    assert client.get(f"/mon-contrat/abc{suffix}").status_code == 404


def test_a_contract_lists_only_the_people_it_covers(client, session, member):
    other_family = make_member(session, email="x@example.test")
    page = text(client.get(f"/mon-contrat/{member.contracts[0].id}"))
    assert page.count("Assuré Principal") == 2  # the list and the person's section: Léa only
    assert f"personne-{other_family.beneficiaries[0].id}" not in page


# --- Cotisations -------------------------------------------------------------------------------------------------


def test_a_collective_contract_points_to_the_payslip(client):
    page = text(client.get("/cotisations"))
    assert "Cotisations" in page
    assert page.count("le montant de votre cotisation est indiqué sur votre bulletin de salaire") == 2
    assert "Échéancier" not in page


def test_an_individual_contract_shows_its_amount_and_schedule(member_client, session):
    retiree = make_member(session, first_name="Michel", last_name="BERTRAND", family=[],
                          contracts=[("C40RETRAITE", "Individuel retraités", ContractKind.INDIVIDUAL,
                                      date(2017, 4, 1))])
    contract = retiree.contracts[0]
    today = date.today()
    for month, status in ((1, ContributionStatus.PAID), (2, ContributionStatus.UNPAID),
                          (3, ContributionStatus.SCHEDULED)):
        start = date(today.year + 1, month, 1)
        session.add(Contribution(contract_id=contract.id, period_start=start, period_end=start + timedelta(days=27),
                                 due_on=start + timedelta(days=4), amount_cents=123456 if month == 3 else 12840,
                                 status=status))
    session.commit()
    login_member(member_client, retiree)
    page = text(member_client.get("/cotisations"))
    assert "Contrat santé N°C40RETRAITE" in page and "bulletin de salaire" not in page
    assert "Montant de votre cotisation : 128,40\u00a0€" in page
    assert "Échéancier" in page and "Échéance" in page and "Montant" in page and "État" in page
    assert f"05/01/{today.year + 1}" in page and f"du 01/02/{today.year + 1} au 28/02/{today.year + 1}" in page
    assert "Payée" in page and "Impayée" in page and "À payer" in page
    assert '<td data-label="État"><span class="state state-unpaid">Impayée</span></td>' in page
    assert "1\u00a0234,56\u00a0€" in page and "1\u00a0491,36\u00a0€" in page  # the last one, and the total
    english = text(member_client.get("/cotisations?lang=en"))
    assert "Contributions" in english and "€1,234.56" in english and "Paid" in english


# --- Coordonnées bancaires ------------------------------------------------------------------------------------------


def test_bank_details_of_the_member_and_each_beneficiary_with_the_change_request(client, session, member):
    by_role = people(member)
    session.add(BankAccount(member_id=member.id, beneficiary_id=by_role[BeneficiaryRole.SPOUSE].id,
                            holder="Samuel RIMON", iban=SAMUEL_IBAN, bic="AGRIFRPP", valid_from=utcnow()))
    session.commit()
    page = text(client.get("/coordonnees-bancaires"))
    assert "Coordonnées bancaires" in page
    assert "XXXX.XXXXXXXX.XXXXXXXX.XXXX.136" in page and "CMCI XXXX" in page
    assert "XXXX.XXXXXXXX.XXXXXXXX.XXXX.189" in page and "AGRI XXXX" in page
    assert 'href="/coordonnees-bancaires/changement/"' in page
    assert f'href="/coordonnees-bancaires/changement/?beneficiary_id={by_role[BeneficiaryRole.SPOUSE].id}"' in page
    # The entry point preselects the person on the existing change request form.
    form = text(client.get(f"/coordonnees-bancaires/changement/?beneficiary_id={by_role[BeneficiaryRole.SPOUSE].id}"))
    assert f'value="{by_role[BeneficiaryRole.SPOUSE].id}" selected' in form or \
        f'selected value="{by_role[BeneficiaryRole.SPOUSE].id}"' in form


def test_a_replaced_account_is_no_longer_shown(client, session, member):
    old = session.query(BankAccount).filter_by(member_id=member.id).one()
    old.valid_to = utcnow() - timedelta(seconds=1)
    session.add(BankAccount(member_id=member.id, holder="Léa RIMON", iban=SAMUEL_IBAN, bic="AGRIFRPP",
                            valid_from=utcnow() - timedelta(seconds=1)))
    session.commit()
    page = text(client.get("/coordonnees-bancaires"))
    assert "XXXX.XXXXXXXX.XXXXXXXX.XXXX.189" in page and "XXXX.XXXXXXXX.XXXXXXXX.XXXX.136" not in page


# --- English, and a fixed number of queries --------------------------------------------------------------------------


def test_the_pages_are_translated(client, member):
    page = text(client.get(f"/mon-contrat/{member.contracts[0].id}?lang=en"))
    assert "Beneficiaries" in page and "Main policyholder" in page and "Spouse" in page and "Child" in page
    assert "Activate tele-transmission" in page and "Born on 10/01/1984" in page
    assert "Bénéficiaires" not in page
    assert "My contracts" in text(client.get("/mon-contrat"))
    assert "Bank details" in text(client.get("/coordonnees-bancaires"))


def _count_queries(app, client, url: str) -> int:
    statements, response = statements_of(client, url)
    assert response.status_code == 200
    return len(statements)


def test_each_page_reads_a_fixed_small_number_of_times(member_app, session):
    small = make_member(session, email="s@example.test", family=[],
                        contracts=[("C40SOCLE", "Socle", ContractKind.COLLECTIVE, date(2018, 1, 1)),
                                   ("C40RETRAITE", "Retraités", ContractKind.INDIVIDUAL, date(2018, 1, 1))])
    large = make_member(session, email="l@example.test", family=[
        (BeneficiaryRole.SPOUSE, "Samuel", date(1982, 5, 14), "1820538185049")] + [
        (BeneficiaryRole.CHILD, f"Enfant{i}", date(2010 + i, 1, 1), None) for i in range(6)],
        contracts=[("C40SOCLE", "Socle", ContractKind.COLLECTIVE, date(2018, 1, 1)),
                   ("C40RETRAITE", "Retraités", ContractKind.INDIVIDUAL, date(2018, 1, 1))])
    for person in large.beneficiaries:
        session.add(BankAccount(member_id=large.id, beneficiary_id=person.id, holder=person.full_name,
                                iban=SAMUEL_IBAN, bic="AGRIFRPP", valid_from=utcnow()))
    for month in range(1, 13):
        start = date(2026, month, 1)
        session.add(Contribution(contract_id=large.contracts[1].id, period_start=start, period_end=start,
                                 due_on=start, amount_cents=100, status=ContributionStatus.PAID))
    session.commit()
    counts = {}
    for who in (small, large):
        client = member_app.test_client()
        login_member(client, who)
        contract = next(c for c in who.contracts if c.number == "C40SOCLE")
        counts[who.id] = [_count_queries(member_app, client, url) for url in (
            "/mon-contrat", f"/mon-contrat/{contract.id}", "/cotisations", "/coordonnees-bancaires",
            "/mes-informations")]
    assert counts[small.id] == counts[large.id]
    assert max(counts[large.id]) <= 6, counts  # session, member, then the page: [3, 5, 4, 5, 2]


def test_the_contract_model_is_not_loaded_lazily_from_the_page(session, member):
    """The contract page's data is complete once read: nothing is left to load while rendering."""
    from models.contracts.queries import ContractDetails, contract_page

    page = contract_page(session, member.id, member.contracts[0].id, at=utcnow())
    assert [p.beneficiary.first_name for p in page.people] == ["Léa", "Samuel", "Zoé"]
    assert isinstance(page.contract, ContractDetails)  # plain values, no ORM object


def test_the_demo_fills_the_pages_for_the_rimon_family_and_the_retiree(member_app, session):
    """The demo's guarantees are real PDFs, and the RIMON and BERTRAND pages show their data."""
    import io

    from pypdf import PdfReader
    from sqlalchemy import select

    from models.demo import load_demo
    from models.members.entities import Member

    load_demo(session)
    session.commit()
    lea, michel = (session.scalar(select(Member).where(Member.number == n)) for n in ("4400000", "4400001"))
    client = member_app.test_client()
    login_member(client, lea)
    assert "N°C40SOCLE" in text(client.get("/mon-contrat")) and "N°C40ZPREMIUM" in text(client.get("/mon-contrat"))
    socle = next(c for c in lea.contracts if c.number == "C40SOCLE")
    page = text(client.get(f"/mon-contrat/{socle.id}"))
    assert "Désactivée" in page and "Activée" in page and "Demande en cours" in page
    pdf = client.get(f"/mon-contrat/{socle.id}/garanties")
    assert "C40SOCLE" in PdfReader(io.BytesIO(pdf.data)).pages[0].extract_text()
    assert "XXXX.XXXXXXXX.XXXXXXXX.XXXX.189" in text(client.get("/coordonnees-bancaires"))
    retiree = member_app.test_client()
    login_member(retiree, michel)
    contributions = text(retiree.get("/cotisations"))
    assert "Échéancier" in contributions and "128,40\u00a0€" in contributions
    assert "XXXX.XXXXXXXX.XXXXXXXX.XXXX.606" in text(retiree.get("/coordonnees-bancaires"))


def test_an_open_change_of_bank_details_is_shown_with_its_follow_up(client, session, member):
    from models.requests.entities import BankDetailChangeRequest

    spouse = people(member)[BeneficiaryRole.SPOUSE]
    request = BankDetailChangeRequest(member_id=member.id, beneficiary_id=spouse.id, holder="Samuel RIMON",
                                      iban=SAMUEL_IBAN, bic="AGRIFRPP")
    start_request(session, request, now=utcnow())
    session.commit()
    page = text(client.get("/coordonnees-bancaires"))
    samuel = page[page.index(f'id="compte-{spouse.id}"'):]
    assert f"Suivre la demande {request.reference}" in samuel and "Demande en cours" in samuel
    assert page.count("Demande en cours") == 1
    assert SAMUEL_IBAN not in page


def test_values_written_in_the_parts_are_escaped(client, session, member):
    """The people's sections and the bank details are parts filled with the person's values: each value escaped."""
    child = people(member)[BeneficiaryRole.CHILD]
    child.first_name = 'Zoé <b>"%(id)s"</b>'
    session.add(BankAccount(member_id=member.id, beneficiary_id=child.id, holder="<i>Zoé</i> & co",
                            iban=SAMUEL_IBAN, bic="AGRIFRPP", valid_from=utcnow()))
    session.commit()
    for url in (f"/mon-contrat/{member.contracts[0].id}", "/coordonnees-bancaires"):
        page = client.get(url).get_data(as_text=True)  # as sent, entities not decoded
        assert "<b>" not in page and "Zoé &lt;b&gt;&#34;%(id)s&#34;&lt;/b&gt; RIMON" in page, url
    assert "&lt;i&gt;Zoé&lt;/i&gt; &amp; co" in client.get("/coordonnees-bancaires").get_data(as_text=True)
