"""Demo data of the contract pages: guarantees tables as real PDFs, bank accounts, tele-transmission states."""

from __future__ import annotations

import io
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .contracts.entities import BankAccount, BeneficiaryRole, Contract
from .files.storage import store_bytes
from .members.entities import Member

#: Lines of the demo guarantees tables: (act, Socle, Premium, Retraités), as a share of the base of refund.
GUARANTEES = [
    ("Consultation généraliste", "100 %", "200 %", "150 %"),
    ("Consultation spécialiste", "150 %", "300 %", "200 %"),
    ("Pharmacie (vignettes blanches)", "100 %", "100 %", "100 %"),
    ("Hospitalisation - frais de séjour", "100 %", "100 %", "100 %"),
    ("Chambre particulière (par jour)", "45 €", "80 €", "60 €"),
    ("Optique - verres et monture", "250 €", "450 €", "350 €"),
    ("Dentaire - prothèses", "250 %", "400 %", "300 %"),
    ("Audioprothèses (par oreille)", "400 €", "1 000 €", "700 €"),
]
_COLUMN = {"C40SOCLE": 1, "C40ZPREMIUM": 2, "C40RETRAITE": 3}


def guarantees_pdf(contract: Contract) -> bytes:
    """A one-page PDF of the contract's guarantees table (reportlab)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    pdf.setTitle(f"Garanties {contract.number}")
    width, height = A4
    pdf.setFont("Helvetica-Bold", 18)
    pdf.drawString(50, height - 70, "MESE - Tableau des garanties")
    pdf.setFont("Helvetica", 12)
    pdf.drawString(50, height - 95, f"Contrat santé N°{contract.number} - {contract.product}")
    column = _COLUMN.get(contract.number, 1)
    y = height - 140
    pdf.setFont("Helvetica-Bold", 11)
    pdf.drawString(50, y, "Acte")
    pdf.drawString(380, y, "Remboursement MESE")
    pdf.setFont("Helvetica", 11)
    for line in GUARANTEES:
        y -= 22
        pdf.drawString(50, y, line[0])
        pdf.drawString(380, y, line[column])
    pdf.setFont("Helvetica-Oblique", 9)
    pdf.drawString(50, y - 40, "Remboursements exprimés en pourcentage de la base de remboursement de la Sécurité "
                               "sociale, Sécurité sociale incluse.")
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def load_consult_contract_demo(session: Session, *, now: datetime) -> None:
    """Guarantees PDFs on every contract, Samuel RIMON's own account and active tele-transmission, the retiree's
    account."""
    for contract in session.scalars(select(Contract).order_by(Contract.id)):
        stored = store_bytes(session, guarantees_pdf(contract), filename=f"garanties-{contract.number}.pdf",
                             content_type="application/pdf", now=now)
        session.flush()
        contract.guarantees_file_id = stored.id
    lea = session.scalar(select(Member).where(Member.number == "4400000"))
    if lea is not None:
        spouse = next((b for b in lea.beneficiaries if b.role is BeneficiaryRole.SPOUSE), None)
        if spouse is not None:
            spouse.teletransmission_active = True
            session.add(BankAccount(member_id=lea.id, beneficiary_id=spouse.id, holder="Samuel RIMON",
                                    iban="FR7630006000011234567890189", bic="AGRIFRPP",
                                    valid_from=now - timedelta(days=400)))
    michel = session.scalar(select(Member).where(Member.number == "4400001"))
    if michel is not None:
        session.add(BankAccount(member_id=michel.id, holder="Michel BERTRAND", iban="FR1420041010050500013M02606",
                                bic="PSSTFRPP", valid_from=now - timedelta(days=2000)))
    session.flush()
