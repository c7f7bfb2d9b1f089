"""The hospital coverage pages of the member area, driven like a browser: form, notice, confirmation."""

import html
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from models.audit.entities import AuditEvent
from models.base import utcnow
from models.content.entities import NoCoverageEstablishment
from models.contracts.entities import Coverage
from models.outbox.entities import OutboxMessage
from models.requests import hospital_coverage as hc
from models.requests.entities import HospitalCoverageRequest, RequestStatus
from models.requests.workflow import local_today
from tests.factories import make_member
from tests.helpers import login_member

URL = "/prise-en-charge-hospitaliere/"


class Forms(HTMLParser):
    """The forms of a page: for each, its id and the values a browser would send (hidden fields included)."""

    def __init__(self, text: str):
        super().__init__()
        self.forms: list[dict] = []
        self._select: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"id": a.get("id"), "action": a.get("action"), "fields": {}})
        elif not self.forms:
            return
        elif tag == "input" and a.get("name"):
            self.forms[-1]["fields"][a["name"]] = a.get("value") or ""
        elif tag == "select":
            self._select = a.get("name")
            self.forms[-1]["fields"].setdefault(self._select, "")
        elif tag == "option" and self._select and "selected" in a:
            self.forms[-1]["fields"][self._select] = a.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None

    def by_id(self, form_id: str) -> dict:
        return next(f for f in self.forms if f["id"] == form_id)["fields"]


def text(response) -> str:
    """The page's HTML with entities decoded, so that French apostrophes compare as typed."""
    return html.unescape(response.get_data(as_text=True))


def written(session) -> dict:
    session.rollback()
    return {m.__name__: session.scalar(select(func.count()).select_from(m))
            for m in (HospitalCoverageRequest, OutboxMessage)}


def today():
    return local_today(utcnow())


@pytest.fixture
def member(session):
    return make_member(session)


@pytest.fixture
def client(member_client, member):
    login_member(member_client, member)
    return member_client


def open_form(client) -> dict:
    """GET the form page and return the fields a browser would send as they are."""
    response = client.get(URL)
    assert response.status_code == 200
    return Forms(response.get_data(as_text=True)).by_id("formulaire")


def good_values(member) -> dict:
    return {
        "beneficiary_id": str(member.beneficiaries[2].id),
        "establishment_name": "Clinique des Cèdres",
        "finess": "010003820",
        "start_on": (today() + timedelta(days=10)).isoformat(),
        "admission_fax": "04 76 00 00 00",
        "admission_email": "",
    }


def send(client, member, **changes):
    """Fill the form like the member would (good values changed by ``changes``) and press Valider."""
    data = {**open_form(client), **good_values(member), **changes}
    return client.post(URL, data=data)


def error_next_to(page: str, field: str) -> str:
    """The error message shown right under ``field``, or an empty string."""
    match = re.search(rf'<p class="error" id="{field}-error"><span class="visually-hidden">Erreur : </span>(.*?)</p>',
                      page)
    return match.group(1) if match else ""


# The page -------------------------------------------------------------------------------------------

def test_an_anonymous_visitor_is_sent_to_the_login_page(member_client):
    response = member_client.get(URL)
    assert response.status_code == 302
    assert "/connexion" in response.headers["Location"]


def test_the_form_shows_the_guide_texts_and_labels(client, member, session):
    session.add(NoCoverageEstablishment(label="Clinique Pasteur à Evreux", match_terms="pasteur evreux"))
    for town in ("Grenoble", "Échirolles"):
        session.add(NoCoverageEstablishment(label=f"Établissements de l'agglomération grenobloise ({town})",
                                            match_terms=town))
    session.add(NoCoverageEstablishment(label="Clinique de Chartreuse à Voiron (prise en charge nécessaire)",
                                        match_terms="chartreuse", needs_coverage=True))
    session.commit()
    page = text(client.get(URL))
    for sentence in [
        "<h1>Prise en charge hospitalière</h1>",
        "La prise en charge vous permet de ne pas faire l'avance des frais hospitaliers, à l'exception des "
        "dépassements d'honoraires.",
        "La prise en charge ne concerne pas les frais de télévision ou de téléphone, non pris en charge par la MESE.",
        "Dans certains cas la prise en charge n'est pas nécessaire, la présentation de votre carte Mutuelle est "
        "suffisante. Les établissements qui ne nécessitent pas de prise en charge sont :",
        "La prise en charge sera envoyée par nos soins par fax, à l'hôpital ou à la clinique.",
        ">N° adhérent<", ">Personne<", ">Nom de l'établissement<", ">N° Finess de l'hôpital ou de la clinique<",
        ">Date de début d'hospitalisation<", ">Fax du service d'admission<", ">Email du service d'admission<",
        ">Valider</button>",
        "Il est nécessaire de saisir au moins le fax ou l'email afin de pouvoir envoyer la demande",
        "Les champs marqués d'une étoile (*) rouge sont obligatoires.",
        ">Retour accueil</a>",
        "<li>Clinique Pasteur à Evreux",
        "<li>Établissements de l'agglomération grenobloise",
        "Grenoble, Échirolles",
        "Clinique de Chartreuse à Voiron",
    ]:
        assert sentence in page
    assert f'id="member_number" value="{member.number}" readonly' in page
    assert re.search(r'<input[^>]*id="start_on"[^>]*type="date"', page)
    for name in ("beneficiary_id", "establishment_name", "start_on"):
        assert re.search(rf'<label for="{name}">[^<]+<span class="req" aria-hidden="true">\*</span>', page)
    assert not re.search(r'<label for="finess">[^<]+<span class="req"', page)


def test_scripts_are_external_with_the_csp_nonce(client):
    response = client.get(URL)
    page = response.get_data(as_text=True)
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    assert f'<script src="/static/js/hospital_coverage.js" nonce="{nonce}" defer></script>' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert client.get("/static/js/hospital_coverage.js").status_code == 200


def test_only_people_who_may_be_covered_are_offered_with_their_periods(client, member, session):
    lea, samuel, zoe = member.beneficiaries
    session.execute(Coverage.__table__.update().where(Coverage.beneficiary_id == samuel.id)
                    .values(end_on=today() - timedelta(days=1)))
    session.commit()
    page = client.get(URL).get_data(as_text=True)
    options = [tuple(html.unescape(part) for part in option) for option in re.findall(
        r'<option(?: data-periods="([^"]*)")?(?: selected)? value="([^"]*)">([^<]*)</option>', page)]
    assert [(value, label) for _periods, value, label in options] == [
        ("", "Choisissez une personne"),
        (str(lea.id), "Léa RIMON (Assuré Principal)"),
        (str(zoe.id), "Zoé RIMON (Enfant)"),
    ]
    assert options[1][0] == '[["2018-01-01", null]]'


# Success --------------------------------------------------------------------------------------------

def test_a_correct_request_leads_to_its_confirmation_page_and_queues_the_acknowledgement(client, member, session):
    response = send(client, member)
    assert response.status_code == 303
    request = session.scalar(select(HospitalCoverageRequest))
    assert response.headers["Location"].endswith(f"{URL}{request.reference}")
    assert re.fullmatch(r"PEC-\d{4}-\d{6}", request.reference)
    assert (request.member_id, request.beneficiary_id, request.finess) == (
        member.id, member.beneficiaries[2].id, "010003820")
    ack = session.scalar(select(OutboxMessage))
    assert (ack.recipient, ack.template, ack.related) == (member.email, "hospital_coverage_received", request.reference)

    page = text(client.get(response.headers["Location"]))
    assert request.reference in page
    assert "Nouvelle" in page
    assert "un accusé de réception vous a été envoyé par email" in page
    assert "Zoé RIMON" in page and "Clinique des Cèdres" in page and "04 76 00 00 00" in page
    assert (today() + timedelta(days=10)).strftime("%d/%m/%Y") in page


def test_the_confirmation_page_shows_the_current_status_and_the_reason_of_a_refusal(client, member, session):
    send(client, member)
    request = session.scalar(select(HospitalCoverageRequest))
    request.status = RequestStatus.REJECTED
    request.resolution_note = "Séjour hors contrat"
    session.commit()
    page = text(client.get(f"{URL}{request.reference}"))
    assert "Refusée" in page and "Séjour hors contrat" in page


def test_a_double_click_makes_one_request_and_both_answers_lead_to_it(client, member, session):
    data = {**open_form(client), **good_values(member)}
    first = client.post(URL, data=data)
    second = client.post(URL, data=data)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert written(session) == {"HospitalCoverageRequest": 1, "OutboxMessage": 1}


def test_two_forms_opened_one_after_the_other_make_two_requests(client, member, session):
    assert send(client, member).status_code == 303
    assert send(client, member).status_code == 303
    assert written(session)["HospitalCoverageRequest"] == 2


# Bad input ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, field, message", [
    ({"establishment_name": ""}, "establishment_name", hc.REQUIRED_MESSAGE),
    ({"beneficiary_id": ""}, "beneficiary_id", hc.REQUIRED_MESSAGE),
    ({"start_on": ""}, "start_on", hc.REQUIRED_MESSAGE),
    ({"finess": "010003821"}, "finess", hc.FINESS_KEY_MESSAGE),
    ({"finess": "0100038"}, "finess", hc.FINESS_LENGTH_MESSAGE),
    ({"start_on": "2020-01-01"}, "start_on", hc.PAST_DATE_MESSAGE),
    ({"start_on": "31/02/2030"}, "start_on", "Saisissez une date valide, au format jj/mm/aaaa."),
    ({"admission_fax": "123"}, "admission_fax", hc.FAX_FORMAT_MESSAGE),
    ({"admission_email": "pas-une-adresse"}, "admission_email", hc.EMAIL_FORMAT_MESSAGE),
    ({"beneficiary_id": "abc"}, "beneficiary_id", hc.NOT_IN_FAMILY_MESSAGE),
    ({"beneficiary_id": "99999999999999999999"}, "beneficiary_id", hc.NOT_IN_FAMILY_MESSAGE),
])
def test_each_bad_value_gets_its_message_next_to_the_field_and_nothing_is_written(
    client, member, session, changes, field, message
):
    response = send(client, member, **changes)
    assert response.status_code == 200
    page = text(response)
    assert error_next_to(page, field) == message
    assert re.search(rf'<[^>]*aria-describedby="[^"]*{field}-error[^"]*"[^>]*aria-invalid="true"[^>]*id="{field}"', page)
    assert "Votre demande n'a pas été envoyée" in page
    assert written(session) == {"HospitalCoverageRequest": 0, "OutboxMessage": 0}


def test_no_fax_and_no_email_shows_the_guide_sentence_as_the_error(client, member, session):
    page = text(send(client, member, admission_fax="", admission_email=""))
    assert ('<p id="fax-email-rule" class="error"><span class="visually-hidden">Erreur : </span>'
            "Il est nécessaire de saisir au moins le fax ou l'email afin de pouvoir envoyer la demande</p>") in page
    assert re.search(r'aria-describedby="[^"]*fax-email-rule"[^>]*aria-invalid="true"[^>]*id="admission_email"', page)
    assert written(session) == {"HospitalCoverageRequest": 0, "OutboxMessage": 0}


def test_a_person_of_another_family_is_refused(client, member, session):
    stranger = make_member(session, password=None, first_name="Axel", last_name="DUMONT")
    page = text(send(client, member, beneficiary_id=str(stranger.beneficiaries[0].id)))
    assert error_next_to(page, "beneficiary_id") == hc.NOT_IN_FAMILY_MESSAGE
    assert "Axel" not in page
    assert written(session) == {"HospitalCoverageRequest": 0, "OutboxMessage": 0}


def test_a_person_not_covered_on_the_start_date_is_refused(client, member, session):
    zoe = member.beneficiaries[2]
    session.execute(Coverage.__table__.update().where(Coverage.beneficiary_id == zoe.id)
                    .values(end_on=today() + timedelta(days=5)))
    session.commit()
    page = text(send(client, member, start_on=(today() + timedelta(days=6)).isoformat()))
    assert error_next_to(page, "beneficiary_id") == hc.NOT_COVERED_MESSAGE
    assert written(session) == {"HospitalCoverageRequest": 0, "OutboxMessage": 0}


def test_a_refused_form_keeps_what_was_typed_and_its_token(client, member):
    data = {**open_form(client), **good_values(member), "finess": "123"}
    fields = Forms(client.post(URL, data=data).get_data(as_text=True)).by_id("formulaire")
    assert fields["establishment_name"] == "Clinique des Cèdres"
    assert fields["beneficiary_id"] == data["beneficiary_id"]
    assert fields["start_on"] == data["start_on"]
    assert fields["finess"] == "123"
    assert fields["form_token"] == data["form_token"]


def test_a_post_without_the_csrf_token_is_refused_and_writes_nothing(client, member, session):
    data = {**open_form(client), **good_values(member)}
    del data["csrf_token"]
    response = client.post(URL, data=data)
    assert response.status_code == 400
    assert written(session) == {"HospitalCoverageRequest": 0, "OutboxMessage": 0}


# Establishments that need no coverage ----------------------------------------------------------------

def test_a_listed_establishment_shows_the_notice_then_the_member_may_send_anyway(client, member, session):
    session.add(NoCoverageEstablishment(label="Clinique Pasteur à Evreux", match_terms="pasteur evreux"))
    session.commit()
    response = send(client, member, establishment_name="Clinique Pasteur Evreux")
    assert response.status_code == 200
    page = text(response)
    assert "la présentation de votre carte Mutuelle est suffisante" in page
    assert "« Clinique Pasteur Evreux » fait partie des établissements" in page
    assert ">Envoyer quand même</button>" in page
    assert written(session) == {"HospitalCoverageRequest": 0, "OutboxMessage": 0}

    forms = Forms(response.get_data(as_text=True))
    notice_form = next(f for f in forms.forms if f["fields"].get("confirm_no_coverage") == "1")["fields"]
    assert notice_form["establishment_name"] == "Clinique Pasteur Evreux"
    # pressing "Valider" again on the form below still stops at the notice
    assert client.post(URL, data=forms.by_id("formulaire")).status_code == 200
    assert written(session)["HospitalCoverageRequest"] == 0

    confirmed = client.post(URL, data=notice_form)
    assert confirmed.status_code == 303
    request = session.scalar(select(HospitalCoverageRequest))
    assert request.no_coverage_notice_shown is True
    assert written(session) == {"HospitalCoverageRequest": 1, "OutboxMessage": 1}


# Who sees what ---------------------------------------------------------------------------------------

def test_another_members_request_is_not_found(client, member, session, member_app):
    stranger = make_member(session, password=None, first_name="Axel", last_name="DUMONT",
                           email="axel@example.test")
    other_client = member_app.test_client()
    login_member(other_client, stranger)
    data = {**Forms(other_client.get(URL).get_data(as_text=True)).by_id("formulaire"), **good_values(stranger)}
    location = other_client.post(URL, data=data).headers["Location"]
    assert other_client.get(location).status_code == 200
    response = client.get(location)
    assert response.status_code == 404
    assert "Axel" not in text(response)


def test_an_unknown_reference_is_not_found(client):
    assert client.get(f"{URL}PEC-2026-999999").status_code == 404


def test_the_submission_is_audited_with_the_members_address(client, member, session):
    send(client, member)
    audit = session.scalar(select(AuditEvent).where(AuditEvent.action == "hospital_coverage.submitted"))
    assert (audit.actor_id, audit.ip) == (member.id, "127.0.0.1")
