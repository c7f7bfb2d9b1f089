"""Demo data of the pages a member consults (issue 7, part C): service links and future retirees' documents."""

from __future__ import annotations

import io
from datetime import datetime

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas
from sqlalchemy import select
from sqlalchemy.orm import Session

from .content.entities import ContentDocument, ContentDocumentVersion, DocumentKind
from .content.services import seed_service_links
from .contracts.entities import ContractKind
from .files.storage import store_bytes

#: The guide's documents for future retirees: title, description, lines of the demo PDF.
FUTURE_RETIREE_DOCUMENTS = [
    ("Barème des garanties et cotisations du contrat individuel",
     "Les garanties du contrat individuel (retraités) et leurs cotisations.",
     ["Garanties du contrat individuel MESE (retraités)", "Hospitalisation : 100 % des frais réels",
      "Optique : forfait de 300 € tous les deux ans", "Cotisation mensuelle : à partir de 128,40 €"]),
    ("Brochure « Futur retraité »",
     "Les avantages, garanties et services du contrat individuel, avec des exemples de cotisations.",
     ["Vous partez bientôt à la retraite ?", "Le contrat individuel MESE prolonge votre couverture santé.",
      "Exemple : couple de retraités, cotisation mensuelle 256,80 €."]),
    ("Brochures des services inclus au contrat, dont RMA Assistance",
     "Assistance RMA, téléconsultation, réseau Kalixia.",
     ["RMA Assistance : aide à domicile après une hospitalisation", "Téléconsultation MaQuestionMédicale",
      "Réseau de soins Kalixia"]),
    ("Bulletin d'adhésion au contrat individuel",
     "À compléter et à renvoyer avec vos justificatifs.",
     ["Bulletin d'adhésion au contrat individuel MESE", "Nom : ..................  Prénom : ..................",
      "N° de sécurité sociale : ..................", "Date et signature : .................."]),
]


def demo_pdf(title: str, lines: list[str]) -> bytes:
    """A one-page PDF with a title and a few lines (reportlab's canvas: small, real, text extractable)."""
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4, invariant=True)
    pdf.setTitle(title)
    pdf.setFont("Helvetica-Bold", 16)
    pdf.drawString(60, 780, "MESE")
    pdf.setFont("Helvetica-Bold", 13)
    pdf.drawString(60, 750, title)
    pdf.setFont("Helvetica", 11)
    for i, line in enumerate(lines):
        pdf.drawString(60, 720 - 18 * i, line)
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def load_consult_services_demo(session: Session, *, now: datetime) -> None:
    """Service links with their default addresses, and the future retirees' documents as PDFs."""
    seed_service_links(session)
    existing = {d.title: d for d in session.scalars(
        select(ContentDocument).where(ContentDocument.kind == DocumentKind.FUTURE_RETIREE))}
    for position, (title, description, lines) in enumerate(FUTURE_RETIREE_DOCUMENTS, start=1):
        document = existing.get(title)
        if document is None:
            document = ContentDocument(kind=DocumentKind.FUTURE_RETIREE, title=title,
                                       contract_kind=ContractKind.COLLECTIVE)
            session.add(document)
        document.description, document.position = description, position
        if document.file_id is None:
            stored = store_bytes(session, demo_pdf(title, lines), filename=f"futur-retraite-{position}.pdf",
                                 content_type="application/pdf", now=now)
            session.flush()
            document.file_id = stored.id
            session.add(ContentDocumentVersion(document_id=document.id, file_id=stored.id, uploaded_at=now))
