"""Hospital coverage requests as the use cases see them: rules, messages, what is written, the queue's end."""

import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from models.audit.entities import AuditEvent
from models.content.entities import NoCoverageEstablishment
from models.contracts.entities import Coverage
from models.demo import GRENOBLE_AGGLOMERATION
from models.errors import DomainError, InvalidTransition, ValidationFailed
from models.formats import mask_nir, nir_with_key
from models.outbox.entities import Channel, OutboxMessage
from models.requests import hospital_coverage as hc
from models.requests.entities import HospitalCoverageRequest, ReferenceCounter, RequestEvent, RequestStatus
from models.requests.queries import (
    family_requests, member_hospital_coverage_request, no_coverage_list,
)
from models.requests.operations import claim
from models.requests.workflow import local_today
from models.staff.entities import StaffRole
from tests.factories import make_member, make_staff

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)  # a Friday
TODAY = local_today(NOW)
WRITTEN = (HospitalCoverageRequest, OutboxMessage, AuditEvent, RequestEvent, ReferenceCounter)


def seed_no_coverage_list(session):
    """The guide's list, as the demo data writes it: Pasteur in Evreux, the Grenoble communes, Voiron's exception."""
    session.add(NoCoverageEstablishment(label="Clinique Pasteur à Evreux", match_terms="pasteur evreux"))
    for town in dict.fromkeys(GRENOBLE_AGGLOMERATION):
        session.add(NoCoverageEstablishment(label=f"Établissements de l'agglomération grenobloise ({town})",
                                            match_terms=town))
    session.add(NoCoverageEstablishment(label="Clinique de Chartreuse à Voiron (prise en charge nécessaire)",
                                        match_terms="chartreuse", needs_coverage=True))
    session.commit()


def counts(session) -> dict:
    return {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in WRITTEN}


def form(member, **changes) -> hc.HospitalCoverageInput:
    """A correct form for the member's child Zoé, changed by ``changes``."""
    data = hc.HospitalCoverageInput(
        beneficiary_id=member.beneficiaries[2].id,
        establishment_name="Clinique des Cèdres",
        finess="010003820",
        start_on=TODAY + timedelta(days=10),
        admission_fax="04 76 00 00 00",
        admission_email="",
    )
    return replace(data, **changes)


@pytest.fixture
def member(session):
    return make_member(session, password=None)


@pytest.fixture
def other_member(session):
    return make_member(session, password=None, first_name="Axel", last_name="DUMONT",
                       email="axel.dumont@example.test", nir="1740838123555")


def submit(session, member, data, now=NOW):
    return hc.submit_hospital_coverage(session, member, data, now=now, ip="192.0.2.1")


def refused(session, member, data) -> dict[str, list[str]]:
    """The messages per field of a refused form, after checking that nothing at all was written."""
    before = counts(session)
    with pytest.raises(ValidationFailed) as caught:
        submit(session, member, data)
    assert not session.new and not session.dirty
    session.commit()  # even a careless commit writes nothing
    assert counts(session) == before
    return caught.value.errors


# Success --------------------------------------------------------------------------------------------

def test_a_correct_request_is_stored_with_its_reference_due_date_and_history(session, member):
    request = submit(session, member, form(member, admission_email="Admissions@Clinique.example"))
    session.commit()
    assert request.reference == "PEC-2026-000001"
    assert request.status is RequestStatus.NEW
    assert request.due_on == date(2026, 12, 1)  # two working days after a Friday
    assert (request.beneficiary_id, request.establishment_name, request.finess) == (
        member.beneficiaries[2].id, "Clinique des Cèdres", "010003820")
    assert (request.admission_fax, request.admission_email) == ("0476000000", "Admissions@clinique.example")
    assert request.no_coverage_notice_shown is False
    assert [e.to_status for e in session.scalars(select(RequestEvent))] == [RequestStatus.NEW]
    audit = session.scalar(select(AuditEvent).where(AuditEvent.action == "hospital_coverage.submitted"))
    assert (audit.actor_type, audit.actor_id, audit.member_id, audit.ip) == ("member", member.id, member.id, "192.0.2.1")


def test_references_follow_each_other_and_restart_each_year(session, member):
    refs = [submit(session, member, form(member)).reference for _ in range(3)]
    assert refs == ["PEC-2026-000001", "PEC-2026-000002", "PEC-2026-000003"]
    new_year = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)
    assert submit(session, member, form(member, start_on=date(2027, 1, 10)), now=new_year).reference == \
        "PEC-2027-000001"


def test_the_reference_year_is_the_year_in_france(session, member):
    new_year_eve_utc = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)  # already 2027 in Paris
    assert submit(session, member, form(member, start_on=date(2027, 1, 5)), now=new_year_eve_utc).reference \
        .startswith("PEC-2027-")


def test_the_member_gets_an_acknowledgement_email_without_any_nir(session, member):
    request = submit(session, member, form(member))
    session.commit()
    message = session.scalar(select(OutboxMessage))
    assert message.channel is Channel.EMAIL
    assert message.recipient == "lea.rimon@example.test"
    assert message.template == "hospital_coverage_received"
    assert message.related == request.reference and message.member_id == member.id
    assert request.reference in message.subject and request.reference in message.text_body
    everything = " ".join([message.subject, message.text_body, message.html_body or ""])
    for secret in (member.nir, nir_with_key(member.nir), mask_nir(member.nir)):
        assert secret not in everything


def test_without_an_email_on_file_the_request_is_stored_but_no_acknowledgement_queued(session):
    member = make_member(session, password=None, email=None)
    submit(session, member, form(member))
    session.commit()
    assert counts(session)["HospitalCoverageRequest"] == 1
    assert counts(session)["OutboxMessage"] == 0


@pytest.mark.parametrize("typed, stored", [
    ("04 76 12 34 56", "0476123456"),
    ("04.76.12.34.56", "0476123456"),
    ("+33 4 76 12 34 56", "0476123456"),
    ("+33 (0)4 76 12 34 56", "0476123456"),
    ("0033 476 12 34 56", "0476123456"),
    ("09-72-00-00-00", "0972000000"),
])
def test_admission_fax_is_stored_as_ten_digits(session, member, typed, stored):
    assert submit(session, member, form(member, admission_fax=typed)).admission_fax == stored


def test_email_alone_is_enough(session, member):
    request = submit(session, member, form(member, admission_fax="", admission_email="admission@chu.example"))
    assert (request.admission_fax, request.admission_email) == (None, "admission@chu.example")


def test_finess_is_optional_and_stored_compact(session, member):
    assert submit(session, member, form(member, finess="")).finess is None
    assert submit(session, member, form(member, finess=" 01 000 382 0 ")).finess == "010003820"


def test_establishment_name_spaces_are_tidied(session, member):
    assert submit(session, member, form(member, establishment_name="  CHU   Nord ")).establishment_name == "CHU Nord"


def test_a_start_date_today_is_accepted(session, member):
    assert submit(session, member, form(member, start_on=TODAY)).start_on == TODAY


# Bad input: each field gets its message, nothing is written --------------------------------------------

def test_an_empty_form_gets_a_message_on_each_required_field(session, member):
    errors = refused(session, member, hc.HospitalCoverageInput(
        beneficiary_id=None, establishment_name="  ", finess="", start_on=None, admission_fax="", admission_email=""))
    assert errors == {
        "establishment_name": [hc.REQUIRED_MESSAGE],
        "start_on": [hc.REQUIRED_MESSAGE],
        "beneficiary_id": [hc.REQUIRED_MESSAGE],
        "admission_fax": [hc.FAX_OR_EMAIL_MESSAGE],
    }


def test_no_fax_and_no_email_gets_the_guide_message(session, member):
    errors = refused(session, member, form(member, admission_fax="", admission_email=""))
    assert errors == {"admission_fax": [
        "Il est nécessaire de saisir au moins le fax ou l'email afin de pouvoir envoyer la demande"]}


@pytest.mark.parametrize("changes, field, message", [
    ({"finess": "010003821"}, "finess", hc.FINESS_KEY_MESSAGE),
    ({"finess": "01000382"}, "finess", hc.FINESS_LENGTH_MESSAGE),
    ({"finess": "0100038200"}, "finess", hc.FINESS_LENGTH_MESSAGE),
    ({"finess": "CLINIQUE1"}, "finess", hc.FINESS_LENGTH_MESSAGE),
    ({"start_on": TODAY - timedelta(days=1)}, "start_on", hc.PAST_DATE_MESSAGE),
    ({"start_on": TODAY + timedelta(days=hc.MAX_DAYS_AHEAD + 1)}, "start_on", hc.TOO_FAR_MESSAGE),
    ({"admission_fax": "12345"}, "admission_fax", hc.FAX_FORMAT_MESSAGE),
    ({"admission_fax": "06 12 34 56 78 90"}, "admission_fax", hc.FAX_FORMAT_MESSAGE),
    ({"admission_email": "admissions"}, "admission_email", hc.EMAIL_FORMAT_MESSAGE),
    ({"admission_email": "a@b"}, "admission_email", hc.EMAIL_FORMAT_MESSAGE),
    ({"establishment_name": "x" * 201}, "establishment_name", "200 caractères au maximum."),
    ({"beneficiary_id": 999_999}, "beneficiary_id", hc.NOT_IN_FAMILY_MESSAGE),
    ({"beneficiary_id": -1}, "beneficiary_id", hc.NOT_IN_FAMILY_MESSAGE),
    ({"beneficiary_id": 10**12}, "beneficiary_id", hc.NOT_IN_FAMILY_MESSAGE),
])
def test_each_bad_value_gets_its_message_next_to_its_field(session, member, changes, field, message):
    assert refused(session, member, form(member, **changes)) == {field: [message]}


def test_a_person_of_another_family_is_refused(session, member, other_member):
    errors = refused(session, member, form(member, beneficiary_id=other_member.beneficiaries[0].id))
    assert errors == {"beneficiary_id": [hc.NOT_IN_FAMILY_MESSAGE]}


def test_a_person_not_covered_on_the_start_date_is_refused(session, member):
    zoe = member.beneficiaries[2]
    session.execute(Coverage.__table__.update().where(Coverage.beneficiary_id == zoe.id)
                    .values(end_on=TODAY + timedelta(days=5)))
    session.commit()
    session.expire_all()
    errors = refused(session, member, form(member, start_on=TODAY + timedelta(days=6)))
    assert errors == {"beneficiary_id": [hc.NOT_COVERED_MESSAGE]}
    assert submit(session, member, form(member, start_on=TODAY + timedelta(days=5))).beneficiary_id == zoe.id


def test_several_bad_fields_are_all_reported_at_once(session, member):
    errors = refused(session, member, form(member, finess="123", admission_fax="", admission_email="",
                                           start_on=TODAY - timedelta(days=3)))
    assert set(errors) == {"finess", "admission_fax", "start_on"}


# Establishments that need no coverage ----------------------------------------------------------------

@pytest.mark.parametrize("name", [
    "Clinique Pasteur Évreux",
    "CLINIQUE PASTEUR - EVREUX",
    "CHU Grenoble Alpes",
    "Clinique Belledonne, Saint-Martin-d'Hères",
    "Groupe hospitalier Mutualiste de Grenoble",
    "Clinique des Cèdres Échirolles",
])
def test_establishments_of_the_list_are_recognised(session, name):
    seed_no_coverage_list(session)
    assert hc.no_coverage_match(session, name) is not None


@pytest.mark.parametrize("name", [
    "Clinique de Chartreuse, Voiron",
    "Clinique de Chartreuse Grenoble",     # the exception wins
    "Clinique Pasteur Toulouse",           # every word of an entry must be there
    "Hôpital Nord Marseille",
    "",
])
def test_other_establishments_and_the_voiron_exception_need_coverage(session, name):
    seed_no_coverage_list(session)
    assert hc.no_coverage_match(session, name) is None


def test_an_inactive_entry_is_ignored(session):
    seed_no_coverage_list(session)
    session.execute(NoCoverageEstablishment.__table__.update()
                    .where(NoCoverageEstablishment.match_terms == "pasteur evreux").values(active=False))
    assert hc.no_coverage_match(session, "Clinique Pasteur Evreux") is None


def test_a_listed_establishment_asks_for_confirmation_and_writes_nothing(session, member):
    seed_no_coverage_list(session)
    before = counts(session)
    with pytest.raises(hc.NoCoverageNeeded) as caught:
        submit(session, member, form(member, establishment_name="Clinique Pasteur, Evreux"))
    assert caught.value.field == "establishment_name"
    assert "la présentation de votre carte Mutuelle est suffisante" in caught.value.message
    assert caught.value.establishment.label == "Clinique Pasteur à Evreux"
    session.commit()
    assert counts(session) == before


def test_a_confirmed_request_to_a_listed_establishment_is_sent_and_flagged(session, member):
    seed_no_coverage_list(session)
    request = submit(session, member, form(member, establishment_name="CHU Grenoble Alpes", confirm_no_coverage=True))
    assert request.no_coverage_notice_shown is True


def test_bad_fields_are_reported_before_the_no_coverage_notice(session, member):
    seed_no_coverage_list(session)
    errors = refused(session, member, form(member, establishment_name="CHU Grenoble", finess="1"))
    assert set(errors) == {"finess"}


def test_the_no_coverage_list_reads_like_the_guide(session):
    seed_no_coverage_list(session)
    listing = no_coverage_list(session)
    assert [e.label for e in listing.entries] == [
        "Clinique Pasteur à Evreux", "Établissements de l'agglomération grenobloise"]
    assert listing.entries[0].places == ()
    places = listing.entries[1].places
    assert places[:3] == ("Grenoble", "Échirolles", "Saint-Martin-d'Hères")
    assert len(places) == len(set(GRENOBLE_AGGLOMERATION))
    assert listing.exceptions == ["Clinique de Chartreuse à Voiron"]


def test_the_no_coverage_list_leaves_out_inactive_rows_and_keeps_lone_labels_whole(session):
    session.add_all([
        NoCoverageEstablishment(label="Clinique du Parc (Lyon)", match_terms="parc lyon"),
        NoCoverageEstablishment(label="Hôpital fermé", match_terms="ferme", active=False),
    ])
    session.commit()
    listing = no_coverage_list(session)
    assert [(e.label, e.places) for e in listing.entries] == [("Clinique du Parc (Lyon)", ())]
    assert listing.exceptions == []


# Who may be chosen -----------------------------------------------------------------------------------

def test_selectable_people_are_those_covered_between_today_and_a_year_ahead(session, member):
    lea, samuel, zoe = member.beneficiaries
    session.execute(Coverage.__table__.update().where(Coverage.beneficiary_id == samuel.id)
                    .values(end_on=TODAY - timedelta(days=1)))
    session.execute(Coverage.__table__.update().where(Coverage.beneficiary_id == zoe.id)
                    .values(start_on=TODAY + timedelta(days=30)))
    session.commit()
    session.expire_all()
    assert [p.id for p in hc.selectable_beneficiaries(session, member, TODAY)] == [lea.id, zoe.id]
    assert hc.covered_beneficiaries(session, member, TODAY) == [lea]


# Double submission ----------------------------------------------------------------------------------

def test_a_second_submission_of_the_same_form_returns_the_first_request(session, member):
    first = submit(session, member, form(member, form_token="t" * 32))
    session.commit()
    again = submit(session, member, form(member, form_token="t" * 32))
    session.commit()
    assert again.id == first.id
    assert counts(session)["HospitalCoverageRequest"] == 1
    assert counts(session)["OutboxMessage"] == 1
    other_form = submit(session, member, form(member, form_token="u" * 32))
    assert other_form.id != first.id


def test_a_form_token_of_another_member_is_not_theirs(session, member, other_member):
    submit(session, member, form(member, form_token="t" * 32))
    session.commit()
    mine = submit(session, other_member, replace(form(other_member), form_token="t" * 32))
    assert mine.member_id == other_member.id


def test_two_submissions_of_one_form_at_the_same_instant_make_one_request(session, member, models_config):
    from models.db import session_factory

    factory = session_factory(models_config)
    data = form(member, form_token="d" * 32)
    with factory() as s1, factory() as s2:
        first = hc.submit_hospital_coverage(s1, s1.merge(member), data, now=NOW)  # member row locked
        result = {}

        def second_click():
            result["request"] = hc.submit_hospital_coverage(s2, s2.merge(member), data, now=NOW)
            s2.commit()

        thread = threading.Thread(target=second_click)
        thread.start()
        thread.join(timeout=0.5)
        assert thread.is_alive(), "the second click must wait for the first one"
        s1.commit()
        thread.join(timeout=10)
        assert result["request"].id == first.id
    assert counts(session)["HospitalCoverageRequest"] == 1


# The member's own requests ----------------------------------------------------------------------------

def test_a_member_finds_only_their_own_requests(session, member, other_member):
    mine = submit(session, member, form(member))
    theirs = submit(session, other_member, replace(form(other_member)))
    session.commit()
    assert member_hospital_coverage_request(session, member, mine.reference.lower()) is mine
    assert member_hospital_coverage_request(session, member, theirs.reference) is None
    assert [r.reference for r in family_requests(session, member.id, limit=5)] == [mine.reference]


def test_a_member_sees_their_latest_requests_first(session, member):
    older = submit(session, member, form(member), now=NOW)
    newer = submit(session, member, form(member), now=NOW + timedelta(hours=1))
    latest = family_requests(session, member.id, limit=5)
    assert [r.reference for r in latest] == [newer.reference, older.reference]


# Approval and rejection by an agent ------------------------------------------------------------------

def test_an_agent_approves_a_claimed_request_and_the_letter_leaves_by_fax_and_email(session, member):
    agent = make_staff(session, StaffRole.AGENT)
    request = submit(session, member, form(member, admission_email="admission@clinique.example"))
    claim(session, request, staff=agent, now=NOW)
    hc.approve_hospital_coverage(session, request, staff=agent, now=NOW + timedelta(hours=1))
    session.commit()
    assert request.status is RequestStatus.DONE
    assert request.closed_at == NOW + timedelta(hours=1)
    messages = {(m.channel, m.recipient, m.template) for m in session.scalars(select(OutboxMessage))}
    assert messages == {
        (Channel.EMAIL, "lea.rimon@example.test", "hospital_coverage_received"),
        (Channel.FAX, "0476000000", "hospital_coverage_fax"),
        (Channel.EMAIL, "admission@clinique.example", "hospital_coverage_letter"),
        (Channel.EMAIL, "lea.rimon@example.test", "hospital_coverage_approved"),
    }
    fax = session.scalar(select(OutboxMessage).where(OutboxMessage.channel == Channel.FAX))
    assert fax.attachments == [{"render": "coverage_letter", "request_id": request.id,
                                "filename": f"prise-en-charge-{request.reference}.pdf"}]


def test_a_request_must_be_claimed_by_the_same_agent_before_approval(session, member):
    agent, other_agent = make_staff(session, StaffRole.AGENT), make_staff(session, StaffRole.AGENT)
    request = submit(session, member, form(member))
    with pytest.raises(InvalidTransition):
        hc.approve_hospital_coverage(session, request, staff=agent, now=NOW)
    claim(session, request, staff=agent, now=NOW)
    with pytest.raises(InvalidTransition):
        hc.approve_hospital_coverage(session, request, staff=other_agent, now=NOW)
    assert request.status is RequestStatus.IN_PROGRESS


def test_an_agent_rejects_with_a_reason_that_the_member_receives(session, member):
    agent = make_staff(session, StaffRole.AGENT)
    request = submit(session, member, form(member))
    claim(session, request, staff=agent, now=NOW)
    hc.reject_hospital_coverage(session, request, staff=agent, reason="  Séjour non couvert par le contrat. ",
                                now=NOW)
    session.commit()
    assert request.status is RequestStatus.REJECTED
    assert request.resolution_note == "Séjour non couvert par le contrat."
    notice = session.scalar(select(OutboxMessage).where(OutboxMessage.template == "hospital_coverage_rejected"))
    assert notice.recipient == "lea.rimon@example.test"
    assert "Séjour non couvert par le contrat." in notice.text_body


def test_a_rejection_needs_a_reason(session, member):
    agent = make_staff(session, StaffRole.AGENT)
    request = submit(session, member, form(member))
    claim(session, request, staff=agent, now=NOW)
    with pytest.raises(DomainError) as caught:
        hc.reject_hospital_coverage(session, request, staff=agent, reason="   ", now=NOW)
    assert caught.value.field == "reason"
    assert request.status is RequestStatus.IN_PROGRESS


def test_a_closed_request_cannot_be_approved_or_rejected_again(session, member):
    agent = make_staff(session, StaffRole.AGENT)
    request = submit(session, member, form(member))
    claim(session, request, staff=agent, now=NOW)
    hc.approve_hospital_coverage(session, request, staff=agent, now=NOW)
    with pytest.raises(InvalidTransition):
        hc.approve_hospital_coverage(session, request, staff=agent, now=NOW)
    with pytest.raises(InvalidTransition):
        hc.reject_hospital_coverage(session, request, staff=agent, reason="Trop tard", now=NOW)
