"""Content managed by managers: news, documents, terms of use, form lists, establishments needing no coverage."""

from __future__ import annotations

from flask import flash, render_template
from flask_admin.actions import action
from markupsafe import Markup
from wtforms import DateField, FileField, SelectField
from wtforms.validators import URL, DataRequired, Optional, ValidationError

from models.base import utcnow
from models.content.entities import DocumentKind
from models.contracts.entities import ContractKind
from models.errors import DomainError
from models.requests.workflow import local_today
from models.staff.content import attach_document_file, document_versions, publish_terms_version

from ..extensions import db
from .base import SUPERVISORS, StaffModelView, current_staff
from .content_preview import PreviewMixin, member_link, news_state

DOCUMENT_KIND_LABELS = {
    DocumentKind.CONTRACTUAL: "Documents contractuels",
    DocumentKind.INFORMATION: "Documents d'information",
    DocumentKind.FUTURE_RETIREE: "Futur(e) retraité(e)",
}
CONTRACT_KIND_LABELS = {ContractKind.COLLECTIVE: "Contrat collectif (salariés)",
                        ContractKind.INDIVIDUAL: "Contrat individuel (retraités)"}


def _web_address_or_member_page(form, field) -> None:
    """A news link leads to a web address (https://...) or to a page of the member area (/documents...)."""
    if field.data and member_link(field.data) is None:
        raise ValidationError("Saisissez une adresse web complète (https://...) ou une page de l'espace adhérent "
                              "commençant par / (par exemple /documents).")


class ContentView(StaffModelView):
    """Small lists edited by managers and admins; rows are switched off, never deleted."""

    allowed_roles = SUPERVISORS


class NewsItemView(PreviewMixin, ContentView):
    """Bandeau d'actualités of the member home page."""

    preview_template = "backoffice/content/preview_news.html"
    preview_title = "Aperçu : la page d'accueil de l'adhérent"
    details_template = "backoffice/content/details.html"
    column_list = ["title", "starts_on", "ends_on", "published", "window", "updated_at"]
    column_default_sort = [("starts_on", True), ("id", True)]
    form_columns = ["title", "body", "link_url", "starts_on", "ends_on", "published"]
    column_labels = {"title": "Titre", "body": "Texte", "link_url": "Lien", "starts_on": "Affichée à partir du",
                     "ends_on": "Jusqu'au", "published": "Publiée", "window": "Aujourd'hui",
                     "updated_at": "Modifiée le"}
    column_formatters = {"window": lambda v, c, m, n: news_state(m, local_today(utcnow()))}
    column_descriptions = {"ends_on": "Laisser vide pour une actualité sans date de fin.",
                           "link_url": "Adresse web (https://...) ou page de l'espace adhérent (par exemple "
                                       "/documents) ouverte par « En savoir plus ». Facultatif."}
    # The browser's own date field (keyboard and screen readers know it) instead of Flask-Admin's picker.
    form_overrides = {"starts_on": DateField, "ends_on": DateField}
    form_args = {"link_url": {"validators": [Optional(), _web_address_or_member_page]}}

    def on_model_change(self, form, model, is_created):
        if model.ends_on and model.ends_on < model.starts_on:
            raise DomainError("La date de fin doit suivre la date de début.", field="ends_on")
        super().on_model_change(form, model, is_created)


class ContentDocumentView(PreviewMixin, ContentView):
    """Contractual and information documents offered for download; every PDF uploaded is kept as a version."""

    preview_template = "backoffice/content/preview_document.html"
    preview_title = "Aperçu : la liste de documents de l'adhérent"
    details_template = "backoffice/content/details.html"

    column_list = ["kind", "title", "contract_kind", "position", "published", "file_id", "updated_at"]
    column_default_sort = [("kind", False), ("position", False), ("id", False)]
    form_columns = ["kind", "title", "description", "contract_kind", "position", "published", "upload"]
    form_extra_fields = {"upload": FileField("Fichier PDF", description="PDF de 10 Mo au plus. Un nouveau fichier "
                                                                        "devient la version proposée aux adhérents ; "
                                                                        "les précédentes restent listées sur la fiche. "
                                                                        "Laisser vide pour garder le fichier actuel.")}
    form_overrides = {"kind": SelectField, "contract_kind": SelectField}
    form_args = {
        "kind": {"label": "Rubrique", "choices": [(k.value, v) for k, v in DOCUMENT_KIND_LABELS.items()]},
        "contract_kind": {"label": "Réservé aux adhérents du", "validators": [Optional()],
                          "choices": [("", "Les deux (collectif et individuel)")]
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

    def preview_html(self, item):
        return Markup(render_template(self.preview_template, item=item, kind_label=_kind_label,
                                      audience_label=_audience_label))

    def details_extra(self, model) -> dict:
        return {**super().details_extra(model), "versions": document_versions(db.session, model)}

    def on_model_change(self, form, model, is_created):
        model.contract_kind = model.contract_kind or None
        upload = form.upload.data
        if upload and getattr(upload, "filename", ""):
            db.session.flush()
            attach_document_file(db.session, model, data=upload.read(), filename=upload.filename,
                                 staff=current_staff(), now=utcnow())
        super().on_model_change(form, model, is_created)


class TermsVersionView(PreviewMixin, ContentView):
    """Versions of the terms of use: write a new one, preview it, then publish it; a published version is final."""

    preview_template = "backoffice/content/preview_terms.html"
    preview_title = "Aperçu : la page que l'adhérent doit accepter à sa connexion"
    details_template = "backoffice/content/details.html"

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


def _service_web_address(form, field) -> None:
    from models.content.services import is_web_address

    if field.data and not is_web_address(field.data):
        raise ValidationError("Le lien doit commencer par https://.")


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
                               URL(message="Saisissez une adresse web complète."), _service_web_address]},
    }


def _kind_label(kind) -> str:
    """A document section's name, from the enum or the form's value."""
    try:
        return DOCUMENT_KIND_LABELS[DocumentKind(kind)]
    except ValueError:
        return str(kind)


def _audience_label(contract_kind) -> str:
    """Who sees a document: the adherents of one kind of contract, or all of them."""
    if not contract_kind:
        return "les adhérents des contrats collectifs et individuels"
    try:
        return {ContractKind.COLLECTIVE: "les adhérents d'un contrat collectif (salariés) seulement",
                ContractKind.INDIVIDUAL: "les adhérents d'un contrat individuel (retraités) seulement"}[
            ContractKind(contract_kind)]
    except ValueError:
        return str(contract_kind)
