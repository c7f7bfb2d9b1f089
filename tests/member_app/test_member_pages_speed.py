"""Fixed costs of every member page: queries per page, no thread per request, translations found once per page."""

from datetime import date

import pytest

from tests.factories import make_member
from tests.helpers import login_member, statements_of


@pytest.fixture
def member(session):
    return make_member(session, password=None)


@pytest.fixture
def client(member_client, member):
    login_member(member_client, member)
    return member_client


def queries_of(client, path: str) -> list[str]:
    client.get(path)  # warm: the first visit may write the session's activity
    seen, response = statements_of(client, path)
    assert response.status_code == 200
    return seen


def test_no_asynchronous_teardown_runs_after_each_request(member_app):
    # Flask runs an async teardown through asgiref, which starts a thread at the end of every request.
    names = [getattr(f, "__name__", "") for f in member_app.teardown_appcontext_funcs]
    assert "_close_async_sessions" not in names and "_close_sessions" in names


def test_the_signed_in_member_and_the_session_are_read_in_one_query(client):
    statements = queries_of(client, "/documents-contractuels")
    assert len(statements) == 1  # the session with its member, and the documents with their files read ahead
    assert "JOIN member" in statements[0] and "content_document" in statements[0]


def test_the_coverage_form_reads_the_familys_coverages_in_one_query_whatever_its_size(client, session, member):
    before = len(queries_of(client, "/prise-en-charge-hospitaliere/"))
    from models.contracts.entities import Beneficiary, BeneficiaryRole, Coverage

    for n in range(4):
        child = Beneficiary(member_id=member.id, role=BeneficiaryRole.CHILD, first_name=f"Enfant{n}",
                            last_name="RIMON", birth_date=date(2015, 1, 1 + n))
        session.add(child)
        session.flush()
        session.add(Coverage(beneficiary_id=child.id, contract_id=member.contracts[0].id, start_on=date(2015, 1, 1)))
    session.commit()
    # The sign-in check with the family's coverages read ahead; the no-coverage list comes from its copy
    # (models.content.cache).
    assert len(queries_of(client, "/prise-en-charge-hospitaliere/")) == before == 1


def test_a_page_finds_its_catalogue_once(client, monkeypatch):
    import member_app.i18n as i18n

    calls = []
    original = i18n.translations
    monkeypatch.setattr(i18n, "translations", lambda language: calls.append(language) or original(language))
    page = client.get("/mes-remboursements?lang=en").get_data(as_text=True)
    assert "Amount spent" in page and calls == ["en"]


@pytest.mark.parametrize("attributes", [
    {"name": "du", "id": "du", "class_": "short", "type": "date", "value": ""},
    {"value": 'a "quoted" <b>&</b>', "selected": True, "disabled": False, "data_reveal": "Afficher"},
    {"aria_describedby": "x-help x-error", "aria_invalid": "true", "required": True, "maxlength": 256},
    {"value": 3, "label": "Léa RIMON (Assuré principal)", "for_": "x"},
])
def test_the_fields_attributes_are_written_as_wtforms_writes_them(attributes):
    import importlib.util

    from member_app.forms import html_params

    spec = importlib.util.find_spec("wtforms.widgets.core")
    untouched = importlib.util.module_from_spec(spec)  # WTForms' own module, before the member app's change
    spec.loader.exec_module(untouched)
    assert html_params(**attributes) == untouched.html_params(**attributes)
    assert type(html_params(**attributes)) is type(untouched.html_params(**attributes))


def test_selects_are_written_as_wtforms_writes_them(member_app):
    """The member app's Select widget (member_app.forms) gives WTForms' own text: options plain, chosen, with
    attributes, in groups; the field's flags; values that are no text."""
    import importlib.util

    from markupsafe import Markup
    from wtforms import Form, SelectField, validators
    from wtforms.fields.choices import SelectChoice

    spec = importlib.util.find_spec("wtforms.widgets.core")
    untouched = importlib.util.module_from_spec(spec)  # WTForms' own module, before the member app's change
    spec.loader.exec_module(untouched)

    class Choices(Form):
        plain = SelectField("Plain", choices=[("", "Choisissez"), ("1", 'Léa "RIMON" <b>'), ("2", "Zoé")],
                            validators=[validators.InputRequired()])
        numbers = SelectField("Numbers", coerce=int, choices=[(1, "un"), (2, Markup("<i>deux</i>")), (True, "oui")])
        grouped = SelectField("Grouped", choices=[
            SelectChoice("", "Choisissez"), SelectChoice("3", "Facture", optgroup="Soins"),
            SelectChoice("4", "Devis", optgroup="Autres"), SelectChoice("5", "Lettre", optgroup="Autres")])
        rich = SelectField("Rich", choices=[SelectChoice("", "Choisissez"),
                                            SelectChoice("7", "Paul", render_kw={"data-periods": '[["a", null]]'})])

    form = Choices(data={"plain": "1", "numbers": 2, "grouped": "5", "rich": "7"})
    for field in form:
        for attributes in ({}, {"required": True, "aria_describedby": "x-help"}, {"class_": "short"}):
            assert str(field(**attributes)) == str(untouched.Select()(field, **attributes)), field.name
