"""Views of the back office, registered on the Admin instance in one place."""

from __future__ import annotations

from flask_admin import Admin

from models.content.entities import (
    ContactReason, ContentDocument, DocumentCategory, DocumentType, NewsItem, NoCoverageEstablishment, TermsVersion,
)
from models.content.entities import ServiceLink
from models.staff.entities import StaffUser

from .audit import AuditEventView
from .content import (
    ContactReasonView, ContentDocumentView, DocumentCategoryView, DocumentTypeView, NewsItemView,
    NoCoverageEstablishmentView, TermsVersionView,
)
from .content import ServiceLinkView
from .dashboard import DashboardView
from .member360 import Member360View, MemberSearchView
from .outbox import OutboxConsoleView
from .reports import ExportJobView, ExportView
from .queues.bank_details import BankDetailsQueueView
from .queues.contact import ContactQueueView
from .queues.documents import DocumentQueueView
from .queues.hospital_coverage import HospitalCoverageQueueView
from .queues.teletransmission import TeletransmissionQueueView
from .sessions import OwnSessionsView
from .staff import StaffUserView

QUEUES = "Files d'attente"
REPORTS = "Pilotage"
CONTENT = "Contenus"
ADMINISTRATION = "Administration"


def register_views(admin: Admin, db) -> None:
    """Add every view; call inside an application context."""
    admin.add_view(HospitalCoverageQueueView(db, name="Prises en charge hospitalières", category=QUEUES,
                                             endpoint="hospital_coverage", url="/prises-en-charge"))
    admin.add_view(DocumentQueueView(db, name="Dépôts de documents", category=QUEUES, endpoint="documents_queue",
                                     url="/depots-documents"))
    admin.add_view(ContactQueueView(db, name="Messages des adhérents", category=QUEUES, endpoint="contact_queue",
                                    url="/messages"))
    admin.add_view(BankDetailsQueueView(db, name="Coordonnées bancaires", category=QUEUES,
                                        endpoint="bank_details_queue", url="/coordonnees-bancaires"))
    admin.add_view(TeletransmissionQueueView(db, name="Télétransmission", category=QUEUES,
                                             endpoint="teletransmission_queue", url="/teletransmission"))

    admin.add_view(MemberSearchView(name="Adhérents", endpoint="member_search", url="/adherents"))
    admin.add_view(Member360View(name="Fiche adhérent", endpoint="member360", url="/adherents/fiche"))

    admin.add_view(DashboardView(name="Tableau de bord", category=REPORTS, endpoint="dashboard",
                                 url="/tableau-de-bord"))
    admin.add_view(ExportView(name="Exports", category=REPORTS, endpoint="exports", url="/exports"))
    admin.add_view(ExportJobView(db, name="Mes exports", category=REPORTS, endpoint="export_jobs",
                                 url="/mes-exports"))

    admin.add_view(NewsItemView(NewsItem, db, name="Actualités", category=CONTENT, endpoint="news",
                                url="/actualites"))
    admin.add_view(ContentDocumentView(ContentDocument, db, name="Documents", category=CONTENT,
                                       endpoint="content_documents", url="/documents"))
    admin.add_view(TermsVersionView(TermsVersion, db, name="Conditions d'utilisation", category=CONTENT,
                                    endpoint="terms", url="/conditions-utilisation"))
    admin.add_view(DocumentCategoryView(DocumentCategory, db, name="Catégories de documents", category=CONTENT,
                                        endpoint="document_categories", url="/categories-documents"))
    admin.add_view(DocumentTypeView(DocumentType, db, name="Types de documents", category=CONTENT,
                                    endpoint="document_types", url="/types-documents"))
    admin.add_view(ContactReasonView(ContactReason, db, name="Motifs de contact", category=CONTENT,
                                     endpoint="contact_reasons", url="/motifs-contact"))
    admin.add_view(NoCoverageEstablishmentView(NoCoverageEstablishment, db, name="Établissements sans prise en charge",
                                               category=CONTENT, endpoint="no_coverage",
                                               url="/etablissements-sans-prise-en-charge"))
    admin.add_view(ServiceLinkView(ServiceLink, db, name="Liens des services", category=CONTENT,
                                   endpoint="service_links", url="/liens-services"))

    admin.add_view(OutboxConsoleView(db, name="Envois (e-mail, SMS, fax)", category=ADMINISTRATION,
                                     endpoint="outbox", url="/envois"))
    admin.add_view(AuditEventView(db, name="Journal d'audit", category=ADMINISTRATION, endpoint="audit",
                                  url="/journal"))
    admin.add_view(StaffUserView(StaffUser, db, name="Personnel", category=ADMINISTRATION, endpoint="staff",
                                 url="/personnel"))
    admin.add_view(OwnSessionsView(name="Mes sessions", endpoint="own_sessions", url="/mes-sessions"))
