"""Mes remboursements: labels, order, filters, totals, keyset pages, CSV and PDF downloads, other families' ids."""

import csv
import html
import io
import re
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import text as sql

from models.contracts.entities import CareKind, PaidTo, Reimbursement
from models.contracts.operations import record_reimbursements
from models.contracts.reimbursements import PAGE_SIZE, STATEMENT_LIMIT, safe_cell
from models.formats import money
from tests.factories import make_member
from tests.helpers import login_member, statements_of

URL = "/mes-remboursements"


def page_text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def member(session):
    return make_member(session, password=None)


@pytest.fixture
def client(member_client, member):
    login_member(member_client, member)
    return member_client


def add(session, member, *, person=0, care_on=date(2025, 3, 10), act="Consultation généraliste",
        kind=CareKind.CONSULTATION, spent=3000, ss=2100, mese=900, paid_to=PaidTo.MEMBER, paid_on=None):
    row = Reimbursement(member_id=member.id, beneficiary_id=member.beneficiaries[person].id, care_on=care_on, act=act,
                        care_kind=kind, spent_cents=spent, social_security_cents=ss, mese_cents=mese,
                        left_to_pay_cents=spent - ss - mese, paid_to=paid_to, paid_on=paid_on)
    record_reimbursements(session, [row])
    return row


def bulk(session, member, count, start=date(2024, 12, 31)):
    """``count`` reimbursements, one a day going back from ``start``, spread over the family."""
    for i in range(count):
        add(session, member, person=i % 3, care_on=start - timedelta(days=i), act=f"Acte {i:04d}", spent=1000 + i,
            ss=500, mese=300)
    session.commit()


def rows_of(page: str) -> list[str]:
    return re.findall(r"<tr>\s*<td data-label=\"Date des soins\">(.*?)</tr>", page, re.S)


# -- money ---------------------------------------------------------------------------------------------------


def test_amounts_are_written_the_french_way_and_the_english_way():
    assert money(123456) == "1\u00a0234,56\u00a0€"
    assert money(5) == "0,05\u00a0€" and money(-150) == "-1,50\u00a0€" and money(0) == "0,00\u00a0€"
    assert money(123456789) == "1\u00a0234\u00a0567,89\u00a0€"
    assert money(123456, "en") == "€1,234.56" and money(-150, "en") == "-€1.50"


def test_amounts_with_and_without_thousands_are_written_alike():
    # money writes amounts under 1 000 € without grouping (its quick way): the same text either side of it.
    assert money(99999) == "999,99\u00a0€" and money(100000) == "1\u00a0000,00\u00a0€"
    assert money(99999, "en") == "€999.99" and money(100000, "en") == "€1,000.00"
    assert money(-99999) == "-999,99\u00a0€" and money(-5, "en") == "-€0.05" and money(0, "en") == "€0.00"


@pytest.mark.parametrize("query", [
    "", "beneficiaire=&du=&au=&soins=", "du=2025-01-01&au=01/02/2025&soins=pharmacy", "soins=other&soins=dental",
    "beneficiaire={samuel}", "beneficiaire=%20{samuel}&soins=%20dental", "du=%20%3Cb%3E%22'%26&au=%E2%82%AC",
])
@pytest.mark.parametrize("language", ["fr", "en"])
def test_filters_without_messages_are_written_as_the_form_writes_them(member_app, session, member, query, language):
    """The page's part writes the filters' fields when none has a message (member/reimbursements/_page.html): the
    same text as the form's fields written by member_app.forms.field_html."""
    from flask import g, request

    from member_app.reimbursements import page
    from member_app.reimbursements.views import _form_with_messages
    from models.contracts.reimbursements import (FilterResult, ReimbursementFilters, ReimbursementPage, Totals,
                                                 family_people)

    def fields(form) -> str:
        html = str(page.content(fields=page.filter_fields(request.args, people, form), filters=ReimbursementFilters(),
                                has_errors=form is not None, page=ReimbursementPage([], None, None),
                                totals=Totals(0, 0, 0, 0, 0), cursor_error=None, language=language))
        return html.split('<div class="filter-fields">')[1].split('<div class="actions">')[0]

    people = family_people(session, member.id)
    with member_app.test_request_context(f"{URL}?{query.format(samuel=people[1].id)}"):
        g._language = language
        assert fields(None) == fields(_form_with_messages(FilterResult(ReimbursementFilters()), people))


# -- the page ------------------------------------------------------------------------------------------------


def test_an_anonymous_visitor_is_sent_to_the_login_page(member_client):
    for path in (URL, URL + "/releve.pdf", URL + "/export.csv"):
        response = member_client.get(path)
        assert response.status_code == 302 and "/connexion" in response.headers["Location"]


def test_the_page_lists_the_family_reimbursements_newest_first_with_the_labels(client, session, member):
    add(session, member, person=1, care_on=date(2025, 1, 5), act="Pharmacie", kind=CareKind.PHARMACY, spent=2480,
        ss=1612, mese=868, paid_to=PaidTo.PROFESSIONAL, paid_on=date(2025, 1, 9))
    add(session, member, person=2, care_on=date(2025, 6, 1), act="Hospitalisation - frais de séjour",
        kind=CareKind.HOSPITAL, spent=182000, ss=145600, mese=30000)
    other = make_member(session, password=None, number="5599999")
    add(session, other, care_on=date(2025, 7, 1), act="Acte d'une autre famille")
    session.commit()
    page = page_text(client.get(URL))
    for label in ("Mes remboursements", "Date des soins", "Bénéficiaire", "Acte", "Montant dépensé",
                  "Part Sécurité sociale", "Part MESE", "Reste à charge", "Payé à", "Date de paiement"):
        assert label in page
    rows = rows_of(page)
    assert len(rows) == 2 and "01/06/2025" in rows[0] and "05/01/2025" in rows[1]
    assert "Zoé RIMON" in rows[0] and "1\u00a0820,00\u00a0€" in rows[0] and "En cours" in rows[0]
    assert "Samuel RIMON" in rows[1] and "Professionnel de santé" in rows[1] and "09/01/2025" in rows[1]
    assert "autre famille" not in page
    assert "Total : 2 remboursements" in page and "1\u00a0844,80\u00a0€" in page  # 1 820,00 + 24,80


def test_the_text_of_a_line_is_escaped(client, session, member):
    add(session, member, act='<b>Acte</b> & "soins" d\'urgence')
    session.commit()
    body = client.get(URL).get_data(as_text=True)
    assert "&lt;b&gt;Acte&lt;/b&gt; &amp; &#34;soins&#34; d&#39;urgence" in body and "<b>Acte" not in body


def test_the_page_in_english(client, session, member):
    add(session, member, spent=123456, ss=0, mese=0)
    session.commit()
    page = page_text(client.get(URL + "?lang=en"))
    assert "My Reimbursements" in page or "Mes remboursements" not in page.split("<main")[1]
    assert "Date of care" in page and "€1,234.56" in page and "Total: 1 reimbursement" in page


def test_an_empty_family_is_told_so(client):
    page = page_text(client.get(URL))
    assert "Vous n'avez pas encore de remboursement." in page and "Total : 0 remboursement" in page
    assert "releve.pdf" not in page


def test_filters_by_person_period_and_kind_of_care_with_totals_of_what_is_shown(client, session, member):
    add(session, member, person=0, care_on=date(2025, 1, 10), kind=CareKind.CONSULTATION, spent=3000)
    add(session, member, person=1, care_on=date(2025, 2, 10), kind=CareKind.PHARMACY, act="Pharmacie", spent=2000,
        ss=1300, mese=700)
    add(session, member, person=1, care_on=date(2025, 3, 10), kind=CareKind.OPTICAL, act="Optique", spent=40000,
        ss=100, mese=30000)
    add(session, member, person=2, care_on=date(2025, 4, 10), kind=CareKind.PHARMACY, act="Pharmacie", spent=1000,
        ss=650, mese=350)
    session.commit()
    samuel = member.beneficiaries[1].id
    page = page_text(client.get(f"{URL}?beneficiaire={samuel}"))
    assert len(rows_of(page)) == 2 and "Total de votre sélection : 2 remboursements" in page
    assert "420,00\u00a0€" in page  # 20,00 + 400,00 spent
    page = page_text(client.get(f"{URL}?du=2025-02-01&au=2025-03-31"))
    assert [r[:10] for r in rows_of(page)] == ["10/03/2025", "10/02/2025"]
    page = page_text(client.get(f"{URL}?du=01/04/2025"))  # typed the French way
    assert [r[:10] for r in rows_of(page)] == ["10/04/2025"]
    page = page_text(client.get(f"{URL}?soins=pharmacy"))
    assert [r[:10] for r in rows_of(page)] == ["10/04/2025", "10/02/2025"] and "30,00\u00a0€" in page
    page = page_text(client.get(f"{URL}?soins=pharmacy&beneficiaire={samuel}&du=2025-01-01&au=2025-12-31"))
    assert len(rows_of(page)) == 1 and "Total de votre sélection : 1 remboursement" in page
    assert f'<option selected value="{samuel}">' in page or f'value="{samuel}" selected' in page
    page = page_text(client.get(f"{URL}?soins=dental"))
    assert rows_of(page) == [] and "Aucun remboursement ne correspond à votre sélection." in page


@pytest.mark.parametrize("query, field, message", [
    ("du=31/02/2025", "du", "Saisissez une date valide, au format jj/mm/aaaa."),
    ("au=demain", "au", "Saisissez une date valide, au format jj/mm/aaaa."),
    ("du=0001-01-01", "du", "Saisissez une date entre 1900 et 2199."),
    ("du=2025-05-01&au=2025-04-01", "au", "La date de fin de la période doit être postérieure ou égale"),
    ("beneficiaire=abc", "beneficiaire", "Choisissez un bénéficiaire dans la liste."),
    ("beneficiaire=%EF%BC%91", "beneficiaire", "Choisissez un bénéficiaire dans la liste."),  # full-width 1
    ("soins=chirurgie", "soins", "Choisissez un type de soins dans la liste."),
    ("du=" + "9" * 5000, "du", "Saisissez une date valide"),
])
def test_malformed_filters_get_a_message_next_to_their_field(client, session, member, query, field, message):
    add(session, member, care_on=date(2025, 6, 10))
    session.commit()
    response = client.get(f"{URL}?{query}")
    page = page_text(response)
    assert response.status_code == 200
    assert "<title>Erreur :" in page and f'id="{field}-error"' in page and message in page
    assert len(rows_of(page)) == 1  # the filters that could be read still apply


def test_downloads_with_malformed_filters_send_back_to_the_page_with_its_messages(client, session, member):
    add(session, member)
    session.commit()
    for path in ("/releve.pdf", "/export.csv"):
        response = client.get(f"{URL}{path}?du=2025-05-01&au=2025-04-01")
        assert response.status_code == 303 and response.headers["Location"].startswith(URL + "?")
        page = page_text(client.get(response.headers["Location"]))
        assert "La date de fin de la période doit être postérieure" in page


def test_another_familys_person_is_a_404_on_the_page_and_the_downloads(client, session, member):
    other = make_member(session, password=None, number="5599998")
    add(session, other)
    session.commit()
    for path in ("", "/releve.pdf", "/export.csv"):
        assert client.get(f"{URL}{path}?beneficiaire={other.beneficiaries[0].id}").status_code == 404
        assert client.get(f"{URL}{path}?beneficiaire=99999999").status_code == 404


def test_keyset_pages_walk_the_whole_list_both_ways_without_gaps_or_repeats(client, session, member):
    bulk(session, member, PAGE_SIZE * 2 + 7)
    seen, url, pages = [], URL, []
    while url:
        page = page_text(client.get(url))
        pages.append(page)
        seen += [re.search(r"Acte \d{4}", r).group(0) for r in rows_of(page)]
        older = re.search(r'href="(/mes-remboursements\?apres=[^"]+)"', page)
        url = older and older.group(1)
    assert seen == [f"Acte {i:04d}" for i in range(PAGE_SIZE * 2 + 7)]
    assert len(pages) == 3 and "Remboursements plus récents" not in pages[0]
    assert "Remboursements plus anciens" not in pages[2]
    newer = re.search(r'href="(/mes-remboursements\?avant=[^"]+)"', pages[2]).group(1)
    back = page_text(client.get(newer))
    assert [re.search(r"Acte \d{4}", r).group(0) for r in rows_of(back)] == \
        [f"Acte {i:04d}" for i in range(PAGE_SIZE, PAGE_SIZE * 2)]


def test_pages_keep_the_filters_and_a_broken_page_link_starts_again(client, session, member):
    bulk(session, member, PAGE_SIZE * 3 + 3)  # PAGE_SIZE + 1 rows of each person
    samuel = member.beneficiaries[1].id
    page = page_text(client.get(f"{URL}?beneficiaire={samuel}"))
    older = re.search(r'href="(/mes-remboursements\?apres=[^"]+)"', page).group(1)
    assert f"beneficiaire={samuel}" in older
    second = page_text(client.get(older))
    assert "Total de votre sélection : 26 remboursements" in second and "Samuel RIMON" in second
    assert "Zoé RIMON" not in second.split("<tbody>")[1]
    for bad in ("apres=nimportequoi", "avant=W1siaSIsMV0sWyJpIiwyXV0", "apres=" + "A" * 500):
        response = client.get(f"{URL}?{bad}")
        assert response.status_code == 200 and "Ce lien de page n'est plus valable" in page_text(response)


def test_the_list_uses_the_index_of_its_order_and_never_counts_the_table(client, session, member):
    indexes = session.execute(sql("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_reimbursement_member_care'"))
    definition = indexes.scalar()
    assert "(member_id, care_on DESC, id DESC)" in definition
    # The lines and the totals of a period are index-only scans: the index carries every column they read.
    assert ("INCLUDE (beneficiary_id, care_kind, spent_cents, social_security_cents, mese_cents, left_to_pay_cents, "
            "act, paid_to, paid_on)"
            in definition)
    statements, _response = statements_of(client, URL)
    reimbursement_queries = [s for s in statements if "FROM reimbursement" in s]
    # One round trip: the page's lines and the totals, in one statement; without a period, the totals add up the
    # family's totals by person and kind of care, not its reimbursements.
    assert len(reimbursement_queries) == 1 and "FROM reimbursement_total" in reimbursement_queries[0]
    assert "count(*)" not in reimbursement_queries[0]
    statements, _response = statements_of(client, f"{URL}?du=2024-01-01")
    assert "count(*)" in next(s for s in statements if "FROM reimbursement" in s)
    assert "LIMIT" in reimbursement_queries[0]
    assert all("member_id = " in s for s in reimbursement_queries)
    assert not any("OFFSET" in s for s in reimbursement_queries)


# -- downloads -----------------------------------------------------------------------------------------------


def test_the_csv_holds_what_is_shown_for_french_excel_and_is_formula_safe(client, session, member):
    add(session, member, person=1, care_on=date(2025, 2, 1), act="=HYPERLINK(\"http://x\")", spent=123456, ss=100,
        mese=200, paid_on=date(2025, 2, 5))
    add(session, member, person=0, care_on=date(2025, 3, 1), act="+cmd|' /C calc'!A0", kind=CareKind.PHARMACY)
    add(session, member, person=2, care_on=date(2025, 1, 1), act="@SUM(A1)", kind=CareKind.DENTAL)
    session.commit()
    response = client.get(f"{URL}/export.csv?du=2025-01-15")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert 'attachment; filename="remboursements_2025-01-15_' in response.headers["Content-Disposition"]
    body = response.get_data()
    assert body.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == ["Date des soins", "Bénéficiaire", "Acte", "Type de soins", "Montant dépensé (€)",
                       "Part Sécurité sociale (€)", "Part MESE (€)", "Reste à charge (€)", "Payé à",
                       "Date de paiement"]
    assert len(rows) == 3  # the row before the period is left out
    assert rows[1][:4] == ["01/03/2025", "Léa RIMON", "'+cmd|' /C calc'!A0", "Pharmacie"]
    assert rows[2] == ["01/02/2025", "Samuel RIMON", "'=HYPERLINK(\"http://x\")", "Consultations", "1234,56", "1,00",
                       "2,00", "1231,56", "Adhérent", "05/02/2025"]
    english = client.get(f"{URL}/export.csv?lang=en").get_data().decode("utf-8-sig")
    assert english.startswith("Date of care;Beneficiary;Procedure;Kind of care;Amount spent (€)")
    assert "'@SUM(A1)" in english


def test_safe_cell_neutralises_every_formula_start():
    for start in "=+-@\t\r|%":
        assert safe_cell(start + "1") == "'" + start + "1"
    assert safe_cell("Pharmacie") == "Pharmacie"


def test_the_pdf_statement_holds_the_selection_and_its_totals(client, session, member):
    add(session, member, person=1, care_on=date(2025, 2, 1), act="Optique - verres progressifs",
        kind=CareKind.OPTICAL, spent=38000, ss=76, mese=28443, paid_to=PaidTo.PROFESSIONAL,
        paid_on=date(2025, 2, 10))
    add(session, member, person=0, care_on=date(2024, 2, 1), act="Consultation généraliste")
    session.commit()
    response = client.get(f"{URL}/releve.pdf?du=2025-01-01&au=2025-12-31")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"] == \
        'attachment; filename="remboursements_2025-01-01_2025-12-31.pdf"'
    pdf_text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(response.get_data())).pages)
    flat = " ".join(pdf_text.split())
    for expected in ("Relevé de remboursements", "Soins du 01/01/2025 au 31/12/2025", "Samuel RIMON",
                     "Optique - verres progressifs", "380,00", "284,43", "Professionnel de santé", "10/02/2025",
                     "Total : 1 remboursement", member.number):
        assert expected in flat, expected
    assert "Consultation généraliste" not in flat
    english = client.get(f"{URL}/releve.pdf?lang=en").get_data()
    english_text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(english)).pages)
    assert "Reimbursement statement" in english_text and "€380.00" in english_text


def test_a_statement_too_big_is_refused_with_a_message(client, session, member, monkeypatch):
    import models.contracts.reimbursements as model

    monkeypatch.setattr(model, "STATEMENT_LIMIT", 3)
    bulk(session, member, 4)
    response = client.get(f"{URL}/releve.pdf")
    assert response.status_code == 303
    page = page_text(client.get(response.headers["Location"]))
    assert "Votre sélection compte plus de 1 000 remboursements" in page
    assert STATEMENT_LIMIT == 1000


def test_the_page_reads_the_embedded_sqlite_database_as_sqlalchemy_does(tmp_path, models_config):
    """The embedded mode (``make run``) keeps its data in SQLite, whose driver gives dates as text: the page's reads
    on the driver (the family, the lines and their totals) give dates, kinds of care and payees, as a query would."""
    from dataclasses import replace

    from models.contracts.entities import BeneficiaryRole
    from models.contracts.reimbursements import (ReimbursementFilters, family_people, read_filters,
                                                 reimbursement_page_and_totals)
    from models.db import session_factory
    from models.schema import upgrade

    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    upgrade(url)
    with session_factory(replace(models_config, database_url=url))() as embedded:
        member = make_member(embedded, password=None)
        add(embedded, member, person=1, care_on=date(2025, 1, 5), kind=CareKind.PHARMACY, paid_to=PaidTo.PROFESSIONAL,
            paid_on=date(2025, 1, 9))
        add(embedded, member, person=2, care_on=date(2025, 6, 1))
        embedded.commit()
        people = family_people(embedded, member.id)
        assert [p.id for p in people] == [b.id for b in member.beneficiaries]
        assert all(isinstance(p.role, BeneficiaryRole) for p in people)
        filters = read_filters(embedded, member.id, {"soins": "pharmacy"}, people).filters
        page, totals = reimbursement_page_and_totals(embedded, member.id, filters,
                                                     names={p.id: p.full_name for p in people})
        assert totals.count == 1 and totals.spent_cents == 3000
        [line] = page.lines
        assert line.care_on == date(2025, 1, 5) and line.paid_on == date(2025, 1, 9)
        assert line.care_kind is CareKind.PHARMACY and line.paid_to is PaidTo.PROFESSIONAL
        page, totals = reimbursement_page_and_totals(embedded, member.id, ReimbursementFilters(),
                                                     names={p.id: p.full_name for p in people})
        assert totals.count == 2 and [line.care_on for line in page.lines] == [date(2025, 6, 1), date(2025, 1, 5)]
        assert page.lines[0].paid_on is None and page.lines[0].beneficiary == people[2].full_name


@pytest.mark.parametrize("backwards", [False, True])
def test_a_page_orders_its_lines_itself_whatever_order_the_database_gives(session, member, monkeypatch, backwards):
    """The page's statement has no ORDER BY of its own (its 26 lines come from the index in order, the join with
    the totals keeps it in practice, SQL does not promise it): the lines are put in the cursor's order in Python."""
    from models.contracts import reimbursements as model
    from models.db import DriverRead
    from models.pagination import Cursor

    for day in range(1, 8):
        add(session, member, care_on=date(2025, 3, day))
    names = {p.id: p.full_name for p in model.family_people(session, member.id)}
    cursor = Cursor((date(2025, 2, 1), 0), before=True) if backwards else None  # newer than 1 February
    rows = DriverRead.rows

    def shuffled(self, session_, parameters):
        found = rows(self, session_, parameters)
        return found[:1] + found[1:][::-1] if len(found) > 2 else found

    monkeypatch.setattr(DriverRead, "rows", shuffled)
    page, totals = model.reimbursement_page_and_totals(session, member.id, model.ReimbursementFilters(), cursor,
                                                       names=names)
    assert totals.count == 7 and type(totals.spent_cents) is int
    assert [line.care_on.day for line in page.lines] == [7, 6, 5, 4, 3, 2, 1]
