"""Forms shown before anything is sent, and "Mes informations personnelles" (member_app.forms.FreshForm): kept once
drawn, they give the text WTForms and the template draw with the same values, escaped, in both languages."""

from __future__ import annotations

import re
from datetime import date

import pytest

from models.contracts.entities import BeneficiaryRole
from tests.factories import make_member
from tests.helpers import login_member

TOKEN = re.compile(r'(name="form_token" type="hidden" value=")([^"]+)"')


@pytest.fixture
def member(session):
    return make_member(session, password=None, address=('<b>"O\'Brien" & Cie</b>', "38000", "GRENOBLE"),
                       family=[(BeneficiaryRole.SPOUSE, "Samuel", date(1982, 5, 14), None),
                               (BeneficiaryRole.CHILD, 'Zoé "<i>"', date(2012, 9, 3), None)])


@pytest.fixture
def client(member_client, member):
    login_member(member_client, member)
    return member_client


@pytest.fixture
def drawn(monkeypatch):
    """Each fresh form drawn, with the text WTForms draws for the same form (choices, data and tokens)."""
    from wtforms.fields.choices import SelectChoice

    from member_app.forms import FreshForm

    seen: list[tuple[str, str]] = []
    fresh = FreshForm.fresh

    def checked(self, *, choices=None, texts=None, data=None, **values):
        kept = fresh(self, choices=choices, texts=texts, data=data, **values)
        if self.form_class is None:
            seen.append((str(kept), str(self.render(None, **values, **texts))))
            return kept
        form = self.form_class(formdata=None)
        for name, (items, chosen) in (choices or {}).items():
            field = getattr(form, name)
            field.choices = items if isinstance(items, dict) else [SelectChoice(*item) for item in items]
            field.data = None if chosen is None else field.coerce(str(chosen))
        for name, value in (data or {}).items():
            getattr(form, name).data = value
        token = TOKEN.search(str(kept))
        if token:
            form.form_token.data = token.group(2)
        seen.append((str(kept), str(self.render(form, **values, **(texts or {})))))
        return kept

    monkeypatch.setattr(FreshForm, "fresh", checked)
    return seen


@pytest.mark.parametrize("language", ["fr", "en"])
def test_a_fresh_form_is_the_text_wtforms_draws(client, member, drawn, language):
    client.get(f"/mes-informations?lang={language}")
    drawn.clear()
    child = member.beneficiaries[-1].id
    paths = ["/coordonnees-bancaires/changement/", f"/coordonnees-bancaires/changement/?beneficiary_id={child}",
             "/coordonnees-bancaires/changement/?beneficiary_id=x", "/contacter-la-mutuelle/",
             "/depot-de-documents/", "/prise-en-charge-hospitaliere/", f"/teletransmission/{child}",
             "/mes-informations/adresse", "/mes-informations", "/services/professionnel-de-sante"]
    for path in paths * 2:  # drawn, then kept
        assert client.get(path).status_code == 200, path
    assert len(drawn) == 2 * len(paths)
    for kept, wtforms in drawn:
        assert kept == wtforms


def test_a_fresh_form_escapes_what_it_shows(client, member):
    page = client.get("/mes-informations/adresse").get_data(as_text=True)
    assert 'value="&lt;b&gt;&#34;O&#39;Brien&#34; &amp; Cie&lt;/b&gt;"' in page
    page = client.get("/mes-informations").get_data(as_text=True)
    assert "&lt;b&gt;&#34;O&#39;Brien&#34; &amp; Cie&lt;/b&gt; 38000 GRENOBLE" in page and "<b>" not in page
    page = client.get(f"/teletransmission/{member.beneficiaries[-1].id}").get_data(as_text=True)
    assert "Zoé &#34;&lt;i&gt;&#34;" in page and "<i>" not in page
    page = client.get("/coordonnees-bancaires/changement/").get_data(as_text=True)
    assert "&lt;i&gt;" in page and "<i>" not in page


def test_two_members_see_their_own_tokens_and_people(member_client, session, member):
    other = make_member(session, password=None)
    pages = []
    for who in (member, other):
        client = member_client.application.test_client()
        login_member(client, who)
        pages.append(client.get("/contacter-la-mutuelle/").get_data(as_text=True))
    tokens = [TOKEN.search(page).group(2) for page in pages]
    assert tokens[0] != tokens[1]
    csrf = [re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1) for page in pages]
    assert csrf[0] != csrf[1]
    assert "&lt;i&gt;" in pages[0] and "&lt;i&gt;" not in pages[1] and "Samuel RIMON" in pages[1]
