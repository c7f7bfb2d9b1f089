"""Content managed by managers: news, documents, terms of use, form lists, establishments needing no coverage."""

from __future__ import annotations

from flask import flash
from flask_admin.actions import action
from wtforms import DateField, FileField, SelectField
from wtforms.validators import URL, DataRequired, Optional, ValidationError

from models.base import utcnow
from models.content.entities import DocumentKind
from models.contracts.entities import ContractKind
from models.errors import DomainError
from models.staff.content import attach_document_file, publish_terms_version

from ..extensions import db
from .base import SUPERVISORS, StaffModelView, current_staff

DOCUMENT_KIND_LABELS = {
    DocumentKind.CONTRACTUAL: "Documents contractuels",
    DocumentKind.INFORMATION: "Documents d'information",
    DocumentKind.FUTURE_RETIREE: "Futur(e) retraité(e)",
}
CONTRACT_KIND_LABELS = {ContractKind.COLLECTIVE: "Contrat collectif (salariés)",
                        ContractKind.INDIVIDUAL: "Contrat individuel (retraités)"}


def _https_only(form, field) -> None:
    if field.data and not field.data.lower().startswith(("https://", "http://")):
        raise ValidationError("Le lien doit commencer par https://.")


class ContentView(StaffModelView):
    """Small lists edited by managers and admins; rows are switched off, never deleted."""

    allowed_roles = SUPERVISORS


class NewsItemView(ContentView):
    """Bandeau d'actualités of the member home page."""

    column_list = ["title", "starts_on", "ends_on", "published", "updated_at"]
    column_default_sort = [("starts_on", True), ("id", True)]
    form_columns = ["title", "body", "link_url", "starts_on", "ends_on", "published"]
    column_labels = {"title": "Titre", "body": "Texte", "link_url": "Lien", "starts_on": "Affichée à partir du",
                     "ends_on": "Jusqu'au", "published": "Publiée", "updated_at": "Modifiée le"}
    column_descriptions = {"ends_on": "Laisser vide pour une actualité sans date de fin."}
    # The browser's own date field (keyboard and screen readers know it) instead of Flask-Admin's picker.
    form_overrides = {"starts_on": DateField, "ends_on": DateField}
    form_args = {"link_url": {"validators": [Optional(), URL(message="Saisissez une adresse web complète."),
                                             _https_only]}}

    def on_model_change(self, form, model, is_created):
        if model.ends_on and model.ends_on < model.starts_on:
            raise DomainError("La date de fin doit suivre la date de début.", field="ends_on")
        super().on_model_change(form, model, is_created)


class ContentDocumentView(ContentView):
    """Contractual and information documents offered for download."""

    column_list = ["kind", "title", "contract_kind", "position", "published", "file_id", "updated_at"]
    column_default_sort = [("kind", False), ("position", False), ("id", False)]
    form_columns = ["kind", "title", "description", "contract_kind", "position", "published", "upload"]
    form_extra_fields = {"upload": FileField("Fichier PDF", description="PDF de 10 Mo au plus. Laisser vide pour "
                                                                        "garder le fichier actuel.")}
    form_overrides = {"kind": SelectField, "contract_kind": SelectField}
    form_args = {
        "kind": {"label": "Rubrique", "choices": [(k.value, v) for k, v in DOCUMENT_KIND_LABELS.items()]},
        "contract_kind": {"label": "Réservé aux adhérents du", "validators": [Optional()],
                          "choices": [("", "Tous les adhérents")]
                          + [(k.value, v) for k, v in CONTRACT_KIND_LABELS.items()]},
    }
    column_labels = {"kind": "Rubrique", "title": "Titre", "description": "Description",
                     "contract_kind": "Contrat", "position": "Ordre", "published": "Publié", "file_id": "Fichier",
                     "updated_at": "Modifié le"}
    column_formatters = {
        "kind": lambda v, c, m, n: DOCUMENT_KIND_LABELS.get(m.kind, m.kind),
        "contract_kind": lambda v, c, m, n: CONTRACT_KIND_LABELS.get(m.contract_kind, "Tous"),
        "file_id": lambda v, c, m, n: "Oui" if m.file_id else "Non",
    }
    column_formatters_export = column_formatters

    def on_model_change(self, form, model, is_created):
        model.contract_kind = model.contract_kind or None
        upload = form.upload.data
        if upload and getattr(upload, "filename", ""):
            db.session.flush()
            attach_document_file(db.session, model, data=upload.read(), filename=upload.filename,
                                 staff=current_staff(), now=utcnow())
        super().on_model_change(form, model, is_created)


class TermsVersionView(ContentView):
    """Versions of the terms of use: write a new one, then publish it; a published version is final."""

    column_list = ["version", "published_at"]
    column_default_sort = [("id", True)]
    form_columns = ["version", "body"]
    column_labels = {"version": "Version", "body": "Texte", "published_at": "Publiée le"}
    column_descriptions = {"published_at": "Vide tant que la version n'est pas publiée."}

    def on_model_change(self, form, model, is_created):
        if not is_created and model.published_at is not None:
            raise DomainError("Une version publiée ne peut plus être modifiée : créez une nouvelle version.")
        super().on_model_change(form, model, is_created)

    @action("publish", "Publier", "Publier la version sélectionnée ? Les adhérents devront l'accepter à leur "
                                  "prochaine connexion.")
    def action_publish(self, ids):
        published = []
        for terms_id in self.action_ids(ids):
            terms = self.get_for_update(terms_id)
            if terms is None:
                continue
            try:
                with db.session.begin_nested():
                    publish_terms_version(db.session, terms, staff=current_staff(), now=utcnow())
            except DomainError as exc:
                flash(exc.message, "error")
            else:
                published.append(terms.version)
        db.session.commit()
        if published:
            flash(f"Version(s) publiée(s) : {', '.join(published)}.", "success")


class DocumentCategoryView(ContentView):
    """Categories of the document submission form."""

    column_list = ["name", "position", "active"]
    column_default_sort = [("position", False), ("id", False)]
    form_columns = ["name", "position", "active"]
    column_labels = {"name": "Nom", "position": "Ordre", "active": "Proposée"}


class DocumentTypeView(ContentView):
    """Types of document, within a category."""

    column_list = ["category", "name", "position", "active"]
    column_default_sort = [("category_id", False), ("position", False), ("id", False)]
    form_columns = ["category", "name", "position", "active"]
    column_labels = {"category": "Catégorie", "name": "Nom", "position": "Ordre", "active": "Proposé"}


class ContactReasonView(ContentView):
    """Reasons offered on the contact form."""

    column_list = ["name", "position", "active"]
    column_default_sort = [("position", False), ("id", False)]
    form_columns = ["name", "position", "active"]
    column_labels = {"name": "Motif", "position": "Ordre", "active": "Proposé"}


class NoCoverageEstablishmentView(ContentView):
    """Places where the member card suffices, and exceptions to them (checked on the coverage form)."""

    column_list = ["label", "match_terms", "needs_coverage", "active"]
    column_default_sort = [("label", False), ("id", False)]
    form_columns = ["label", "match_terms", "needs_coverage", "active"]
    column_labels = {"label": "Libellé", "match_terms": "Mots à reconnaître", "needs_coverage": "Exception",
                     "active": "Active"}
    column_descriptions = {
        "label": "Nom affiché aux agents, par exemple « Établissements de l'agglomération grenobloise ».",
        "match_terms": "Mots qui doivent TOUS figurer dans le nom de l'établissement saisi par l'adhérent, "
                       "sans tenir compte des accents, des majuscules ni de l'ordre. Exemple : « clinique "
                       "grenoble » reconnaît « Clinique des Alpes, Grenoble ». Un seul mot reconnaît tous les "
                       "noms qui le contiennent : préférez des termes précis.",
        "needs_coverage": "Cochez pour une exception : un établissement reconnu par ces mots demande quand même "
                          "une prise en charge, même s'il correspond aussi à une autre ligne (l'exception l'emporte).",
        "active": "Décochez pour ne plus appliquer la ligne sans la supprimer.",
    }


#: What each service link is, for the managers who edit them.
SERVICE_LINK_LABELS = {
    "teleconsultation": "Téléconsultation : bouton « Téléconsultation » (adhérent principal, enfants mineurs)",
    "teleconsultation_family": "Téléconsultation : lien du conjoint et des enfants majeurs",
    "health_directory": "Annuaire santé ameli (recherche d'un professionnel de santé)",
    "ima_notice": "Assistance IMA (contrat collectif) : notice détaillée",
    "ima_portal": "Assistance IMA (contrat collectif) : portail",
    "rma_notice": "Assistance RMA (contrat individuel) : notice détaillée",
    "rma_portal": "Assistance RMA (contrat individuel) : portail",
    "kalixia_optician": "Réseau Kalixia : opticiens",
    "kalixia_lenses": "Réseau Kalixia : lentilles en ligne",
    "kalixia_dentist": "Réseau Kalixia : chirurgiens-dentistes",
    "kalixia_audio": "Réseau Kalixia : audioprothésistes",
    "kalixia_facility": "Réseau Kalixia : établissements de santé",
    "kalixia_osteopath": "Réseau Kalixia : ostéopathes",
    "prevention_space": "Prévention santé : Espace Prévention",
    "prevention_webinars": "Prévention santé : webinaires",
}


def _unique_service_key(form, field) -> None:
    from models.content.entities import ServiceLink

    query = db.session.query(ServiceLink.id).filter(ServiceLink.key == field.data)
    if form._obj is not None:
        query = query.filter(ServiceLink.id != form._obj.id)
    if query.first() is not None:
        raise ValidationError("Ce lien existe déjà : modifiez la ligne existante.")


class ServiceLinkView(ContentView):
    """Addresses and texts of "Services et outils" (teleconsultation, assistance, Kalixia, prevention): only web
    addresses are accepted; a link without a row shows the product's default."""

    column_list = ["key", "label", "url", "updated_at"]
    column_default_sort = [("key", False), ("id", False)]
    form_columns = ["key", "label", "url", "description"]
    column_labels = {"key": "Emplacement", "label": "Texte du lien", "url": "Adresse web",
                     "description": "Texte affiché avec le lien", "updated_at": "Modifié le"}
    column_descriptions = {
        "url": "Adresse complète commençant par https://. Elle s'ouvre dans une nouvelle fenêtre.",
        "label": "Tant que le texte est celui d'origine, il est traduit en anglais pour les adhérents qui ont "
                 "choisi l'anglais ; un texte modifié s'affiche tel quel.",
    }
    column_formatters = {"key": lambda v, c, m, n: SERVICE_LINK_LABELS.get(m.key, m.key)}
    column_formatters_export = column_formatters
    form_overrides = {"key": SelectField}
    form_args = {
        "key": {"label": "Emplacement", "choices": list(SERVICE_LINK_LABELS.items()),
                "validators": [_unique_service_key]},
        "label": {"validators": [DataRequired(message="Saisissez le texte du lien.")]},
        "url": {"validators": [DataRequired(message="Saisissez l'adresse web."),
                               URL(message="Saisissez une adresse web complète."), _https_only]},
    }
