"""Realistic demo data: the RIMON family of the guide, a retiree, a member who never logged in, staff, content."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

import models
from .base import utcnow
from .content.entities import (
    ContactReason, ContentDocument, DocumentCategory, DocumentKind, DocumentType, NewsItem,
    NoCoverageEstablishment, TermsVersion,
)
from .contracts.entities import (
    BankAccount, Beneficiary, BeneficiaryRole, Contract, ContractKind, Contribution, ContributionStatus, Coverage,
    PaidTo, Reimbursement,
)
from .contracts.operations import refresh_reimbursement_totals
from .crypto import blind_index
from .demo_consult_refunds import load_consult_refunds_demo
from .demo_consult_services import load_consult_services_demo
from .demo_member360 import load_member360_demo
from .demo_consult_contract import load_consult_contract_demo
from .demo_requests import load_requests_demo
from .members.entities import Civility, Member
from .members.passwords import hash_password
from .staff.entities import StaffRole
from .staff.operations import create_staff

DEMO_MEMBER_PASSWORD = "Rimon-Demo-2026"
DEMO_RETIREE_PASSWORD = "Bertrand-Demo-2026"
DEMO_STAFF_PASSWORD = "Back-Office-2026"
#: Fixed TOTP secrets of the demo staff, so the printed enrolment keeps working after a reset.
DEMO_TOTP = {"agent": "JBSWY3DPEHPK3PXPAGENTAAA", "manager": "JBSWY3DPEHPK3PXPMANAGERA",
             "admin": "JBSWY3DPEHPK3PXPADMINAAA"}

#: Communes of Grenoble-Alpes Métropole: establishments there need no coverage (guide, page 11).
GRENOBLE_AGGLOMERATION = (
    "Grenoble", "Échirolles", "Saint-Martin-d'Hères", "La Tronche", "Meylan", "Saint-Égrève", "Fontaine",
    "Seyssinet-Pariset", "Sassenage", "Eybens", "Seyssins", "Le Pont-de-Claix", "Saint-Martin-le-Vinoux",
    "Gières", "Domène", "Vizille", "Claix", "Varces-Allières-et-Risset", "Corenc", "Vif", "Bresson",
    "Poisat", "Noyarey", "Le Fontanil-Cornillon", "Saint-Égrève", "Jarrie", "Champ-sur-Drac",
)


def member_with_family(
    session: Session,
    *,
    number: str,
    civility: Civility,
    first_name: str,
    last_name: str,
    birth_date: date,
    nir: str,
    email: str | None,
    mobile: str | None,
    contracts: list[tuple[str, str, ContractKind, date]],
    family: list[tuple[BeneficiaryRole, str, date, str | None]] = (),
    password: str | None = None,
    address: tuple[str, str, str] = ("", "", ""),
    now: datetime | None = None,
) -> Member:
    """Create a member, the principal insured beneficiary, their family and contracts, all covered."""
    now = now or utcnow()
    member = Member(
        number=number, civility=civility, first_name=first_name, last_name=last_name, birth_date=birth_date,
        nir=nir, nir_index=blind_index(nir), email=email, mobile=mobile, mobile_verified=mobile is not None,
        address_line=address[0], postcode=address[1], city=address[2],
        password_hash=hash_password(password) if password else None,
        password_set_at=now if password else None,
    )
    session.add(member)
    session.flush()
    people = [Beneficiary(member_id=member.id, role=BeneficiaryRole.PRINCIPAL, first_name=first_name,
                          last_name=last_name, birth_date=birth_date, nir=nir, organism_number="5001-381000")]
    for role, first, born, person_nir in family:
        people.append(Beneficiary(member_id=member.id, role=role, first_name=first, last_name=last_name,
                                  birth_date=born, nir=person_nir, organism_number="5001-381000"))
    session.add_all(people)
    for number_, product, kind, subscribed in contracts:
        contract = Contract(member_id=member.id, number=number_, product=product, kind=kind, subscribed_on=subscribed,
                            level=product)
        session.add(contract)
        session.flush()
        for person in people:
            start = max(subscribed, person.birth_date)
            session.add(Coverage(beneficiary=person, contract=contract, start_on=start))
    session.flush()
    return member


def _reimbursements(session: Session, member: Member, today: date, rng: random.Random) -> None:
    acts = [("Consultation généraliste", 3000, 0.7), ("Pharmacie", 2450, 0.65), ("Kinésithérapie", 1613, 0.6),
            ("Dentaire - détartrage", 2892, 0.7), ("Optique - verres", 32000, 0.0), ("Consultation spécialiste", 6000, 0.7),
            ("Analyses biologiques", 4380, 0.6), ("Radiologie", 9500, 0.7)]
    people = member.beneficiaries
    for i in range(48):
        care = today - timedelta(days=rng.randint(3, 730))
        act, spent, ss_rate = rng.choice(acts)
        spent = int(spent * rng.uniform(0.9, 1.3))
        ss = int(spent * ss_rate)
        mese = int((spent - ss) * rng.uniform(0.6, 1.0))
        session.add(Reimbursement(
            member_id=member.id, beneficiary_id=rng.choice(people).id, care_on=care, act=act, spent_cents=spent,
            social_security_cents=ss, mese_cents=mese, left_to_pay_cents=spent - ss - mese,
            paid_to=PaidTo.PROFESSIONAL if act == "Pharmacie" else PaidTo.MEMBER,
            paid_on=care + timedelta(days=rng.randint(2, 10)) if care < today - timedelta(days=10) else None,
        ))


def _content(session: Session, now: datetime) -> None:
    today = now.date()
    session.add(TermsVersion(version="2025V2", published_at=now, body=(
        "Conditions générales d'utilisation de l'espace adhérent MESE.\n\n"
        "1. L'espace adhérent est un coffre-fort sécurisé qui vous permet d'accéder aux services de votre mutuelle.\n"
        "2. Vos codes d'accès sont personnels : ne les communiquez à personne.\n"
        "3. MESE traite vos données de santé uniquement pour la gestion de votre contrat.\n"
        "4. Vous pouvez exercer vos droits d'accès et de rectification auprès du service adhérents.")))
    session.add_all([
        NewsItem(title="Votre Bulletin Santé de l'automne est en ligne", starts_on=today - timedelta(days=20),
                 body="Retrouvez-le dans Documents d'informations."),
        NewsItem(title="Nouveau : suivez vos demandes de prise en charge hospitalière en ligne",
                 starts_on=today - timedelta(days=5), body="Le statut de chaque demande s'affiche dans votre espace."),
    ])
    session.add_all([
        ContentDocument(kind=DocumentKind.CONTRACTUAL, title="Barème des garanties et cotisations - contrat collectif",
                        contract_kind=ContractKind.COLLECTIVE, position=1),
        ContentDocument(kind=DocumentKind.CONTRACTUAL, title="Barème des garanties et cotisations - contrat individuel",
                        contract_kind=ContractKind.INDIVIDUAL, position=2),
        ContentDocument(kind=DocumentKind.CONTRACTUAL, title="Bulletin d'adhésion (ajout d'un bénéficiaire)", position=3),
        ContentDocument(kind=DocumentKind.INFORMATION, title="Bulletin Santé - automne", position=1),
        ContentDocument(kind=DocumentKind.FUTURE_RETIREE, title="Brochure « Futur retraité »",
                        contract_kind=ContractKind.COLLECTIVE, position=1),
    ])
    categories = {
        "Remboursements": ["Facture", "Décompte de la Sécurité sociale", "Devis"],
        "Adhésion et bénéficiaires": ["Acte de naissance", "Attestation de droits (ameli)", "Certificat de scolarité"],
        "Coordonnées bancaires": ["RIB"],
    }
    for position, (name, types) in enumerate(categories.items()):
        category = DocumentCategory(name=name, position=position)
        session.add(category)
        session.flush()
        session.add_all(DocumentType(category_id=category.id, name=t, position=i) for i, t in enumerate(types))
    session.add_all(ContactReason(name=n, position=i) for i, n in enumerate(
        ["Question sur un remboursement", "Question sur mes garanties", "Modification de ma situation",
         "Cotisations", "Demande de rendez-vous", "Autre demande"]))
    session.add(NoCoverageEstablishment(label="Clinique Pasteur à Evreux", match_terms="pasteur evreux"))
    for town in dict.fromkeys(GRENOBLE_AGGLOMERATION):
        session.add(NoCoverageEstablishment(label=f"Établissements de l'agglomération grenobloise ({town})",
                                            match_terms=town))
    session.add(NoCoverageEstablishment(label="Clinique de Chartreuse à Voiron (prise en charge nécessaire)",
                                        match_terms="chartreuse", needs_coverage=True))


def load_demo(session: Session, *, reset: bool = False, now: datetime | None = None) -> list[str]:
    """Fill an empty database with demo data and return the credentials to print."""
    now = now or utcnow()
    if reset:
        for table in reversed(models.Base.metadata.sorted_tables):
            session.execute(table.delete())
    credentials = [
        f"Adhérente Léa RIMON : identifiant 4400000, mot de passe {DEMO_MEMBER_PASSWORD}",
        f"Retraité Michel BERTRAND : identifiant 4400001, mot de passe {DEMO_RETIREE_PASSWORD}",
        "Adhérent Axel DUMONT (jamais connecté, à activer) : Nom DUMONT, Prénom Axel, "
        "né le 10/08/1974, N° INSEE 1 74 08 38 109 055 55",
    ]
    for role in StaffRole:
        credentials.append(f"Back office {role.value} : {role.value}@mese.fr / {DEMO_STAFF_PASSWORD} "
                           f"(clé TOTP {DEMO_TOTP[role.value]})")
    if session.scalar(select(Member).where(Member.number == "4400000")) is not None:
        return ["(données déjà présentes ; --reset pour repartir de zéro)", *credentials]

    rng = random.Random(2026)
    today = now.date()
    _content(session, now)
    lea = member_with_family(
        session, number="4400000", civility=Civility.MADAME, first_name="Léa", last_name="RIMON",
        birth_date=date(1984, 1, 10), nir="2848013809111", email="lea.rimon35@example.fr", mobile="+33606060606",
        password=DEMO_MEMBER_PASSWORD, address=("34 CHEMIN DU LOUP", "38000", "GRENOBLE"),
        contracts=[("C40SOCLE", "Socle", ContractKind.COLLECTIVE, date(2018, 1, 1)),
                   ("C40ZPREMIUM", "Premium", ContractKind.COLLECTIVE, date(2020, 1, 1))],
        family=[(BeneficiaryRole.SPOUSE, "Samuel", date(1982, 5, 14), "1820538185049"),
                (BeneficiaryRole.CHILD, "Zoé", date(2012, 9, 3), None)],
        now=now,
    )
    session.add(BankAccount(member_id=lea.id, holder="Léa RIMON", iban="FR7610278000001000000038136", bic="CMCIFR2A",
                            valid_from=now - timedelta(days=900)))
    _reimbursements(session, lea, today, rng)

    michel = member_with_family(
        session, number="4400001", civility=Civility.MONSIEUR, first_name="Michel", last_name="BERTRAND",
        birth_date=date(1955, 7, 3), nir="1550738185100", email="michel.bertrand@example.fr", mobile="+33611223344",
        password=DEMO_RETIREE_PASSWORD, address=("12 RUE DES ALPES", "38500", "VOIRON"),
        contracts=[("C40RETRAITE", "Individuel retraités", ContractKind.INDIVIDUAL, date(2017, 4, 1))],
        family=[(BeneficiaryRole.SPOUSE, "Monique", date(1957, 2, 21), None)],
        now=now,
    )
    retiree_contract = michel.contracts[0]
    for month in range(1, 13):
        start = date(today.year, month, 1)
        end = (date(today.year + (month == 12), month % 12 + 1, 1) - timedelta(days=1))
        session.add(Contribution(
            contract_id=retiree_contract.id, period_start=start, period_end=end, due_on=start + timedelta(days=4),
            amount_cents=12840, status=ContributionStatus.PAID if start < today else ContributionStatus.SCHEDULED))
    _reimbursements(session, michel, today, rng)

    member_with_family(
        session, number="4400002", civility=Civility.MONSIEUR, first_name="Axel", last_name="DUMONT",
        birth_date=date(1974, 8, 10), nir="1740838109055", email="axel.dumont@example.fr", mobile="+33655443322",
        contracts=[("C40SOCLE", "Socle", ContractKind.COLLECTIVE, date(2019, 3, 1))], now=now,
    )
    for role in StaffRole:
        create_staff(session, email=f"{role.value}@mese.fr", full_name=f"Demo {role.value.capitalize()}",
                     role=role, password=DEMO_STAFF_PASSWORD, totp_secret=DEMO_TOTP[role.value], now=now)
    session.flush()
    load_requests_demo(session, now=now)
    load_consult_refunds_demo(session, now=now)
    load_consult_services_demo(session, now=now)
    load_member360_demo(session, now=now)
    load_consult_contract_demo(session, now=now)
    refresh_reimbursement_totals(session, session.scalars(select(Member.id)))
    return credentials
