"""The outbox console: what left (or did not) by e-mail, SMS and fax, the story of each attempt, resending dead messages."""

from __future__ import annotations

from flask import flash, redirect, request
from flask_admin import expose
from flask_admin.actions import action

from jobs.deliver import MASKED_BODY
from models.base import utcnow
from models.errors import DomainError
from models.outbox.console import DUPLICATE_RISK, requeue_messages
from models.outbox.entities import AttemptOutcome, Channel, OutboxMessage, OutboxStatus
from models.outbox.queries import attempt_story, may_be_resent, resend_candidates

from ..extensions import db
from .base import SUPERVISORS, ChoiceFilter, StaffModelView, current_staff, primary_key

STATUS_LABELS = {OutboxStatus.PENDING: "En attente", OutboxStatus.ENQUEUED: "Confié à l'envoi",
                 OutboxStatus.SENDING: "En cours d'envoi", OutboxStatus.SENT: "Envoyé",
                 OutboxStatus.DEAD: "Échec définitif"}
CHANNEL_LABELS = {Channel.EMAIL: "E-mail", Channel.SMS: "SMS", Channel.FAX: "Fax"}
OUTCOME_LABELS = {AttemptOutcome.IN_PROGRESS: "En cours", AttemptOutcome.SENT: "Envoyé",
                  AttemptOutcome.FAILED: "Échec", AttemptOutcome.INTERRUPTED: "Interrompu : sort inconnu"}
#: Most messages one confirmation page resends.
MAX_RESEND = 100


class OutboxConsoleView(StaffModelView):
    """Messages of the outbox (managers and admins): delivery state, attempts and last error."""

    allowed_roles = SUPERVISORS
    holds_member_data = True
    can_create = False
    can_edit = False
    report_kind = "outbox"
    simple_list_pager = True
    details_template = "backoffice/outbox/details.html"
    column_list = ["created_at", "channel", "recipient", "subject", "related", "status", "attempts", "last_error",
                   "next_attempt_at", "sent_at"]
    column_details_list = ["created_at", "channel", "recipient", "subject", "text_body", "attachments", "template",
                           "related", "member_id", "status", "attempts", "last_error", "next_attempt_at",
                           "enqueued_at", "sent_at", "receipt"]
    column_export_list = ["created_at", "channel", "recipient", "subject", "related", "status", "attempts",
                          "last_error", "sent_at"]
    column_labels = {"created_at": "Créé le", "channel": "Canal", "recipient": "Destinataire", "subject": "Objet",
                     "related": "Demande", "status": "État", "attempts": "Tentatives", "last_error": "Dernière erreur",
                     "next_attempt_at": "Prochain essai", "sent_at": "Envoyé le", "text_body": "Texte",
                     "attachments": "Pièces jointes", "template": "Modèle", "member_id": "Adhérent (id)",
                     "enqueued_at": "Confié à l'envoi le", "receipt": "Accusé du canal"}
    column_formatters = {"status": lambda v, c, m, n: STATUS_LABELS[m.status],
                         "channel": lambda v, c, m, n: CHANNEL_LABELS[m.channel],
                         # A code or a personal link is never shown to staff, even before it is sent.
                         "text_body": lambda v, c, m, n: MASKED_BODY if m.secret else m.text_body}
    column_formatters_export = column_formatters
    # The primary key follows creation order and is indexed: a stable, cheap default order (newest first).
    column_default_sort = [("id", True)]
    column_sortable_list = [("created_at", OutboxMessage.id)]
    list_load_only = ("created_at", "channel", "recipient", "subject", "related", "status", "attempts", "last_error",
                      "next_attempt_at", "sent_at")
    column_searchable_list = ["related"]
    column_filters = [
        ChoiceFilter(OutboxMessage.status, "État", options=[(s.value, label) for s, label in STATUS_LABELS.items()]),
        ChoiceFilter(OutboxMessage.channel, "Canal", options=[(c.value, label) for c, label in CHANNEL_LABELS.items()]),
    ]

    def __init__(self, session, **kwargs):
        super().__init__(OutboxMessage, session, **kwargs)

    def search_placeholder(self) -> str:
        return "Référence de la demande"

    def _apply_search(self, query, count_query, joins, count_joins, search):
        related = search.strip().upper()
        query = query.filter(self.model.related == related)
        if count_query is not None:
            count_query = count_query.filter(self.model.related == related)
        return query, count_query, joins, count_joins

    def details_extra(self, model: OutboxMessage) -> dict:
        return {"attempts": attempt_story(db.session, model.id), "outcome_labels": OUTCOME_LABELS,
                "may_resend": may_be_resent(model)}

    # No confirm() in the browser: the action leads to a page that names the risk and asks for it.
    @action("requeue", "Renvoyer…")
    def action_requeue(self, ids):
        return redirect(self.get_url(".resend_view", id=self.action_ids(ids)[:MAX_RESEND]))

    @expose("/renvoyer/", methods=("GET", "POST"))
    def resend_view(self):
        """Confirmation page of a resend: each message, what is known of its fate, the risk of a duplicate."""
        ids = [pk for pk in map(primary_key, request.values.getlist("id")[:MAX_RESEND]) if pk is not None]
        error = None
        if request.method == "POST":
            try:
                count = requeue_messages(db.session, ids, staff_id=current_staff().id, now=utcnow(),
                                         duplicate_risk_accepted=request.form.get("risque_doublon") == "accepte")
            except DomainError as exc:
                db.session.rollback()
                error = exc.message
            else:
                db.session.commit()
                if count:
                    flash(f"{count} message(s) remis en file d'envoi.", "success")
                else:
                    flash("Aucun message relancé : seuls les messages en échec définitif peuvent l'être.", "error")
                return redirect(self.get_url(".index_view"))
        messages = resend_candidates(db.session, ids)
        stories = {m.id: attempt_story(db.session, m.id) for m in messages}
        return self.render("backoffice/outbox/resend.html", messages=messages, stories=stories, error=error,
                           risk=DUPLICATE_RISK, outcome_labels=OUTCOME_LABELS, channel_labels=CHANNEL_LABELS), \
            400 if error else 200
