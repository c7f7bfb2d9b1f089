"""Demo data of the pages a member consults: two years of the RIMON family's care, and the published PDFs.

The PDFs (scales of guarantees, enrolment form, Bulletins Santé) are real documents of a few pages drawn with
reportlab (installed with the PDF renderer): fast enough at demo time, and no dependency on ``jobs``.
"""

from __future__ import annotations

import io
import random
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .content.entities import ContentDocument, DocumentKind
from .contracts.entities import CareKind, ContractKind, PaidTo, Reimbursement
from .files.storage import store_bytes
from .members.entities import Member

#: Acts of the family's two years: (act, kind of care, usual amount spent in cents, social security rate,
#: share of the rest MESE pays, paid to the professional (third-party payment), weight).
ACTS = (
    ("Consultation généraliste", CareKind.CONSULTATION, 3000, 0.70, 1.0, False, 14),
    ("Consultation pédiatre", CareKind.CONSULTATION, 3500, 0.70, 1.0, False, 4),
    ("Consultation spécialiste - dermatologue", CareKind.CONSULTATION, 6000, 0.70, 0.8, False, 3),
    ("Consultation spécialiste - ophtalmologiste", CareKind.CONSULTATION, 5500, 0.70, 0.8, False, 2),
    ("Pharmacie - médicaments remboursés à 65 %", CareKind.PHARMACY, 2480, 0.65, 1.0, True, 16),
    ("Pharmacie - médicaments remboursés à 30 %", CareKind.PHARMACY, 1290, 0.30, 1.0, True, 6),
    ("Optique - monture", CareKind.OPTICAL, 14900, 0.004, 0.8, True, 1),
    ("Optique - verres progressifs", CareKind.OPTICAL, 38000, 0.002, 0.75, True, 1),
    ("Dentaire - détartrage", CareKind.DENTAL, 2892, 0.70, 1.0, False, 3),
    ("Dentaire - couronne céramique", CareKind.DENTAL, 55000, 0.33, 0.7, True, 1),
    ("Hospitalisation - frais de séjour", CareKind.HOSPITAL, 182000, 0.80, 1.0, True, 1),
    ("Hospitalisation - forfait journalier", CareKind.HOSPITAL, 6000, 0.0, 1.0, True, 1),
    ("Kinésithérapie - séance", CareKind.PARAMEDICAL, 1613, 0.60, 1.0, False, 6),
    ("Orthophonie - séance", CareKind.PARAMEDICAL, 2500, 0.60, 1.0, False, 3),
    ("Analyses biologiques", CareKind.TESTS, 4380, 0.60, 1.0, True, 4),
    ("Radiologie - échographie", CareKind.TESTS, 9500, 0.70, 0.9, False, 2),
    ("Ostéopathie", CareKind.OTHER, 6000, 0.0, 0.5, False, 2),
)
#: Kinds of care of the acts the main demo writes (``models.demo._reimbursements``).
KIND_OF_ACT = {
    "Consultation généraliste": CareKind.CONSULTATION, "Consultation spécialiste": CareKind.CONSULTATION,
    "Pharmacie": CareKind.PHARMACY, "Kinésithérapie": CareKind.PARAMEDICAL, "Dentaire - détartrage": CareKind.DENTAL,
    "Optique - verres": CareKind.OPTICAL, "Analyses biologiques": CareKind.TESTS, "Radiologie": CareKind.TESTS,
}
#: The published documents: (section, title, audience, file name, description, pages of text).
DOCUMENTS = (
    (DocumentKind.CONTRACTUAL, "Barème des garanties et cotisations - contrat collectif", ContractKind.COLLECTIVE,
     "bareme-garanties-collectif.pdf", "Garanties Socle et Premium des salariés, cotisations 2026.",
     ["Consultations et visites : 100 % BR + dépassements 100 % BR (OPTAM).",
      "Pharmacie : 100 % BR. Optique : 100 % santé, ou forfait de 150 € à 400 € selon les verres.",
      "Dentaire : soins 100 % BR ; prothèses 300 % BR. Hospitalisation : forfait journalier sans limite.",
      "Cotisation mensuelle 2026 : salarié 48,20 €, conjoint 41,10 €, enfant 22,80 €."]),
    (DocumentKind.CONTRACTUAL, "Barème des garanties et cotisations - contrat individuel", ContractKind.INDIVIDUAL,
     "bareme-garanties-individuel.pdf", "Garanties du contrat des retraités, cotisations 2026.",
     ["Consultations et visites : 100 % BR.", "Hospitalisation : forfait journalier sans limite.",
      "Cotisation mensuelle 2026 : 128,40 € par personne."]),
    (DocumentKind.CONTRACTUAL, "Bulletin d'adhésion (ajout d'un bénéficiaire)", None, "bulletin-adhesion.pdf",
     "À remplir pour ajouter votre conjoint ou un enfant à votre contrat.",
     ["Nom, prénom et date de naissance du bénéficiaire : ............................................",
      "N° de sécurité sociale : ..................................  Lien : conjoint / enfant",
      "Joindre l'attestation de droits (ameli) du bénéficiaire. Date et signature de l'adhérent(e) :"]),
    (DocumentKind.INFORMATION, "Bulletin Santé - automne", None, "bulletin-sante-automne.pdf",
     "Le magazine semestriel de la MESE : prévention de l'hiver, vaccination, vos remboursements en ligne.",
     ["Vaccination contre la grippe : prise en charge à 100 % pour les personnes à risque.",
      "Nouveau : suivez vos demandes de prise en charge hospitalière dans votre espace adhérent."]),
    (DocumentKind.INFORMATION, "Bulletin Santé - printemps", None, "bulletin-sante-printemps.pdf",
     "Le magazine semestriel de la MESE : allergies, sport et santé, la télétransmission.",
     ["Allergies de printemps : les bons réflexes.", "La télétransmission vous dispense d'envoyer vos décomptes."]),
)


def pdf_document(title: str, paragraphs: list[str]) -> bytes:
    """A small A4 PDF: MESE's name, the title, and the paragraphs (one page)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4, pageCompression=1)
    pdf.setTitle(title)
    pdf.setAuthor("MESE")
    width, height = A4
    pdf.setFont("Helvetica-Bold", 20)
    pdf.drawString(56, height - 72, "MESE")
    pdf.setFont("Helvetica-Bold", 14)
    pdf.drawString(56, height - 110, title)
    pdf.setFont("Helvetica", 10)
    y = height - 145
    for paragraph in paragraphs:
        pdf.drawString(56, y, paragraph[:110])
        y -= 18
    pdf.setFont("Helvetica", 8)
    pdf.drawString(56, 40, "MESE - Mutuelle soumise aux dispositions du Livre II du Code de la mutualité - www.mese.fr")
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def _documents(session: Session, now: datetime) -> None:
    existing = {d.title: d for d in session.scalars(select(ContentDocument))}
    for position, (kind, title, audience, filename, description, text) in enumerate(DOCUMENTS, 1):
        document = existing.get(title)
        if document is None:
            document = ContentDocument(kind=kind, title=title, contract_kind=audience, position=position)
            session.add(document)
        if document.file_id is None:
            stored = store_bytes(session, pdf_document(title, text), filename=filename,
                                 content_type="application/pdf", now=now)
            session.flush()
            document.file_id = stored.id
        document.description = document.description or description


def family_reimbursements(member: Member, today: date, rng: random.Random, *, count: int = 110,
                          days: int = 730) -> list[Reimbursement]:
    """``count`` reimbursements of ``member``'s family spread over ``days`` days before ``today`` (not added)."""
    people = member.beneficiaries
    weights = [a[-1] for a in ACTS]
    rows = []
    for _ in range(count):
        act, kind, spent, ss_rate, mese_rate, third_party, _weight = rng.choices(ACTS, weights)[0]
        care = today - timedelta(days=rng.randint(1, days))
        spent = int(spent * rng.uniform(0.9, 1.25))
        ss = int(spent * ss_rate)
        mese = int((spent - ss) * mese_rate)
        paid = care + timedelta(days=rng.randint(2, 12))
        rows.append(Reimbursement(
            member_id=member.id, beneficiary_id=rng.choice(people).id, care_on=care, act=act, care_kind=kind,
            spent_cents=spent, social_security_cents=ss, mese_cents=mese, left_to_pay_cents=spent - ss - mese,
            paid_to=PaidTo.PROFESSIONAL if third_party else PaidTo.MEMBER, paid_on=paid if paid < today else None))
    return rows


def load_consult_refunds_demo(session: Session, *, now: datetime) -> None:
    """Kinds of care of the demo's reimbursements, two years of the RIMON family's care, the published PDFs."""
    for act, kind in KIND_OF_ACT.items():
        for row in session.scalars(select(Reimbursement).where(Reimbursement.act == act)):
            row.care_kind = kind
    lea = session.scalar(select(Member).where(Member.number == "4400000"))
    if lea is not None:
        session.add_all(family_reimbursements(lea, now.date(), random.Random(7)))
    _documents(session, now)
    session.flush()
