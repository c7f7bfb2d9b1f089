"""Changement de coordonnées bancaires: IBAN and BIC rules, the code that confirms, four eyes, account versions."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta

import pyotp
import pytest
from PIL import Image
from sqlalchemy import func, select

from models.contracts.entities import BankAccount
from models.errors import DomainError, InvalidTransition, ValidationFailed
from models.formats import bic_for_iban, canonical_bic, canonical_iban
from models.members.entities import SecondFactor
from models.members.security import CodeCheck, SignInPolicy
from models.outbox.entities import Channel, OutboxMessage
from models.requests import bank_details as bd
from models.requests import operations
from models.requests.entities import BankDetailChangeRequest, PendingBankChange, RequestFile, RequestStatus
from models.staff.entities import StaffRole
from tests.factories import make_member, make_staff

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
POLICY = SignInPolicy()
NEW_IBAN = "FR7630006000011234567890189"  # Crédit Agricole: the BIC is known


def rib() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 20), (250, 250, 250)).save(out, "PDF")
    return out.getvalue()


def change(**overrides) -> bd.BankChangeInput:
    fields = dict(beneficiary_id=None, holder="Léa RIMON", iban=NEW_IBAN, files=[("rib.pdf", rib())])
    fields.update(overrides)
    return bd.BankChangeInput(**fields)


def sms_code(session) -> str:
    """The code of the last SMS queued (what reaches the member's phone)."""
    message = session.scalars(select(OutboxMessage).where(OutboxMessage.channel == Channel.SMS)
                              .order_by(OutboxMessage.id.desc())).first()
    return re.search(r"\b(\d{6})\b", message.text_body).group(1)


@pytest.fixture
def member(session):
    member = make_member(session)
    session.add(BankAccount(member_id=member.id, holder="Léa RIMON", iban="FR7610278000001000000038136",
                            bic="CMCIFR2A", valid_from=NOW - timedelta(days=900)))
    session.commit()
    return member


def confirmed(session, member, **overrides) -> BankDetailChangeRequest:
    prepared = bd.prepare_bank_change(session, member, change(**overrides), policy=POLICY, now=NOW)
    session.commit()
    request = bd.confirm_bank_change(session, member, prepared.token, sms_code(session), policy=POLICY,
                                     now=NOW + timedelta(minutes=1))
    session.commit()
    return request


# -- formats -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("typed", ["FR76 3000 6000 0112 3456 7890 189", "fr7630006000011234567890189",
                                   " FR76-3000-6000-0112-3456-7890-189 "])
def test_spaces_hyphens_and_lower_case_are_accepted(typed):
    assert canonical_iban(typed, sepa_only=True) == NEW_IBAN


@pytest.mark.parametrize("typed, reason", [
    ("FR7630006000011234567890188", "checksum"),      # bad key (mod 97)
    ("FR0630006000011234567890188", "rib"),           # mod 97 right, French RIB key wrong
    ("FR76300060000112345678901", "length"),
    ("BR1800360305000010009795493C1", "sepa"),       # valid, outside SEPA
])
def test_bad_ibans_are_refused(typed, reason):
    with pytest.raises(ValueError) as caught:
        canonical_iban(typed, sepa_only=True)
    assert (str(caught.value) == "sepa") == (reason == "sepa")


def test_sepa_countries_outside_the_eu_are_accepted():
    assert canonical_iban("CH9300762011623852957", sepa_only=True) == "CH9300762011623852957"
    assert canonical_iban("MC5811222000010123456789030", sepa_only=True).startswith("MC58")


def test_bic_is_derived_where_the_bank_is_known():
    assert bic_for_iban(NEW_IBAN) == "AGRIFRPP"
    assert bic_for_iban("FR7610278000001000000038136") == "CMCIFR2A"
    assert bic_for_iban("CH9300762011623852957") is None
    assert canonical_bic(" cmcifr2a ") == "CMCIFR2A" and canonical_bic("CMCIFR2AXXX") == "CMCIFR2A"
    with pytest.raises(ValueError):
        canonical_bic("CMCI")


# -- the member's side ---------------------------------------------------------------------------------

def test_a_change_is_sent_only_once_the_sms_code_confirms_it(session, member):
    prepared = bd.prepare_bank_change(session, member, change(), policy=POLICY, now=NOW)
    session.commit()
    assert prepared.method == "sms"
    assert session.scalar(select(func.count()).select_from(BankDetailChangeRequest)) == 0
    assert session.scalar(select(func.count()).select_from(PendingBankChange)) == 1
    request = bd.confirm_bank_change(session, member, prepared.token, sms_code(session), policy=POLICY,
                                     now=NOW + timedelta(minutes=2))
    session.commit()
    assert (request.reference[:9], request.iban, request.bic, request.confirmed_by) == (
        "RIB-2026-", NEW_IBAN, "AGRIFRPP", "sms")
    assert session.scalar(select(func.count()).select_from(PendingBankChange)) == 0
    assert session.scalar(select(func.count()).select_from(RequestFile)) == 1
    mail = session.scalars(select(OutboxMessage).where(OutboxMessage.related == request.reference)).one()
    assert mail.recipient == member.email and "L'ancien compte reste utilisé" in mail.text_body
    assert NEW_IBAN not in mail.text_body
    # The old account stays in use until the change is approved.
    assert bd.current_bank_account(session, member, None, NOW + timedelta(days=1)).iban.endswith("38136")


def test_a_wrong_code_sends_nothing_and_counts_as_a_failure(session, member):
    prepared = bd.prepare_bank_change(session, member, change(), policy=POLICY, now=NOW)
    session.commit()
    right = sms_code(session)
    wrong = "000000" if right != "000000" else "111111"
    with pytest.raises(bd.CodeRefused) as caught:
        bd.confirm_bank_change(session, member, prepared.token, wrong, policy=POLICY, now=NOW)
    session.commit()
    assert caught.value.outcome is CodeCheck.WRONG and caught.value.field == "code"
    assert session.scalar(select(func.count()).select_from(BankDetailChangeRequest)) == 0
    session.refresh(member)
    assert member.failed_login_count == 1
    # Another session's token does not confirm the change, even with the right code.
    with pytest.raises(DomainError):
        bd.confirm_bank_change(session, member, "another-token", right, policy=POLICY, now=NOW)


def test_the_change_expires_when_the_code_never_comes(session, member):
    prepared = bd.prepare_bank_change(session, member, change(), policy=POLICY, now=NOW)
    session.commit()
    with pytest.raises(DomainError, match="délai"):
        bd.confirm_bank_change(session, member, prepared.token, sms_code(session), policy=POLICY,
                               now=NOW + timedelta(minutes=bd.CONFIRMATION_MINUTES + 1))


def test_the_authenticator_app_confirms_it_for_members_who_use_it(session, member):
    member.second_factor = SecondFactor.TOTP
    member.totp_secret = pyotp.random_base32()
    session.commit()
    sms_before = session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.channel == Channel.SMS))
    prepared = bd.prepare_bank_change(session, member, change(), policy=POLICY, now=NOW)
    session.commit()
    assert prepared.method == "totp"
    assert session.scalar(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.channel == Channel.SMS)) == sms_before
    code = pyotp.TOTP(member.totp_secret).at(NOW)
    request = bd.confirm_bank_change(session, member, prepared.token, code, policy=POLICY, now=NOW)
    assert request.confirmed_by == "totp"


def test_form_errors_come_together_and_nothing_is_kept(session, member):
    with pytest.raises(ValidationFailed) as caught:
        bd.prepare_bank_change(session, member, change(holder=" ", iban="FR7630006000011234567890188"),
                               policy=POLICY, now=NOW)
    session.rollback()
    assert set(caught.value.errors) == {"holder", "iban"}
    assert session.scalar(select(func.count()).select_from(PendingBankChange)) == 0
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


@pytest.mark.parametrize("iban, bic, field, message", [
    ("BR1800360305000010009795493C1", "", "iban", bd.SEPA_MESSAGE),
    ("CH9300762011623852957", "", "bic", bd.BIC_NEEDED_MESSAGE),
    ("CH9300762011623852957", "UBS", "bic", bd.BIC_MESSAGE),
    ("FR7610278000001000000038136", "", "iban", bd.SAME_ACCOUNT_MESSAGE),
])
def test_iban_and_bic_messages(session, member, iban, bic, field, message):
    with pytest.raises(ValidationFailed) as caught:
        bd.prepare_bank_change(session, member, change(iban=iban, bic=bic), policy=POLICY, now=NOW)
    assert caught.value.errors == {field: [message]}


def test_the_bic_is_asked_only_when_the_bank_is_unknown(session, member):
    request = confirmed(session, member, iban="CH93 0076 2011 6238 5295 7", bic="ubswchzh80a")
    assert request.bic == "UBSWCHZH80A"
    request = confirmed(session, member, iban=NEW_IBAN, bic="TYPOFR00")  # derived wins over a typo
    assert request.bic == "AGRIFRPP"


def test_a_beneficiary_of_another_family_is_refused(session, member):
    other = make_member(session, email="autre@example.test")
    with pytest.raises(ValidationFailed) as caught:
        bd.prepare_bank_change(session, member, change(beneficiary_id=other.beneficiaries[1].id), policy=POLICY,
                               now=NOW)
    assert set(caught.value.errors) == {"beneficiary_id"}


# -- the back office: four eyes -------------------------------------------------------------------------

def test_four_eyes_a_different_manager_approves_and_a_new_version_takes_effect(session, member):
    request = confirmed(session, member)
    agent, manager = make_staff(session, StaffRole.AGENT), make_staff(session, StaffRole.MANAGER)
    operations.claim(session, request, staff=agent, now=NOW)
    effective = date(2026, 12, 10)
    bd.propose_bank_change(session, request, staff=agent, effective_on=effective, now=NOW)
    session.commit()
    with pytest.raises(InvalidTransition):  # the agent who proposed cannot approve
        bd.approve_bank_change(session, request, staff=agent, now=NOW)
    with pytest.raises(InvalidTransition):  # nor can another agent
        bd.approve_bank_change(session, request, staff=make_staff(session, StaffRole.AGENT), now=NOW)
    with pytest.raises(InvalidTransition):  # and the proposer can no longer act alone on it
        operations.reject(session, request, staff=agent, reason="Finalement non", now=NOW)
    account = bd.approve_bank_change(session, request, staff=manager, now=NOW + timedelta(hours=1))
    session.commit()
    assert request.status is RequestStatus.DONE and request.approved_by_id == manager.id
    assert account.valid_from == datetime(2026, 12, 9, 23, 0, tzinfo=UTC)  # 10 December, midnight in Paris
    before, after = datetime(2026, 12, 9, 12, tzinfo=UTC), datetime(2026, 12, 10, 12, tzinfo=UTC)
    assert bd.current_bank_account(session, member, None, before).iban.endswith("38136")
    assert bd.current_bank_account(session, member, None, after).iban == NEW_IBAN
    versions = session.scalars(select(BankAccount).where(BankAccount.member_id == member.id)
                               .order_by(BankAccount.valid_from)).all()
    assert len(versions) == 2 and versions[0].valid_to == account.valid_from  # the history is kept
    mail = session.scalars(select(OutboxMessage).where(OutboxMessage.template == "bank_details_changed")).one()
    assert "10/12/2026" in mail.text_body and NEW_IBAN not in mail.text_body


def test_a_manager_who_proposed_needs_another_manager(session, member):
    request = confirmed(session, member)
    manager, other = make_staff(session, StaffRole.MANAGER), make_staff(session, StaffRole.ADMIN)
    operations.claim(session, request, staff=manager, now=NOW)
    bd.propose_bank_change(session, request, staff=manager, effective_on=date(2026, 12, 2), now=NOW)
    with pytest.raises(InvalidTransition):
        bd.approve_bank_change(session, request, staff=manager, now=NOW)
    account = bd.approve_bank_change(session, request, staff=other, now=NOW)
    assert account.valid_from == NOW  # effective today: from now on


def test_a_proposal_sent_back_goes_back_to_the_agent(session, member):
    request = confirmed(session, member)
    agent, manager = make_staff(session, StaffRole.AGENT), make_staff(session, StaffRole.MANAGER)
    operations.claim(session, request, staff=agent, now=NOW)
    with pytest.raises(DomainError, match="date d'effet"):
        bd.propose_bank_change(session, request, staff=agent, effective_on=date(2026, 12, 1), now=NOW)
    bd.propose_bank_change(session, request, staff=agent, effective_on=date(2026, 12, 3), now=NOW)
    bd.return_bank_change(session, request, staff=manager, note="Le titulaire ne correspond pas au RIB", now=NOW)
    assert not request.awaiting_approval and request.status is RequestStatus.IN_PROGRESS
    with pytest.raises(InvalidTransition):
        bd.approve_bank_change(session, request, staff=manager, now=NOW)
    operations.reject(session, request, staff=agent, reason="RIB d'un autre titulaire", now=NOW)
    assert request.status is RequestStatus.REJECTED
