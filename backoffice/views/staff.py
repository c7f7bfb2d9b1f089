"""Staff accounts for admins: invitation, role, active flag, unlock, sign-out everywhere, authenticator reset."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import BooleanEqualFilter
from flask_admin.form import BaseForm
from wtforms import BooleanField, EmailField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from models.base import utcnow
from models.errors import DomainError, ValidationFailed
from models.staff.administration import (
    NO_PASSWORD, confirm_totp_reset, invite_staff, pending_totp_reset, request_totp_reset, send_invitation,
)
from models.staff.entities import StaffRole, StaffUser
from models.staff.operations import end_staff_sessions, is_locked, unlock_staff, update_staff
from web import client_ip, link_base_url

from ..extensions import current_config, db
from .base import ADMINS, StaffModelView, current_staff, primary_key

ROLE_LABELS = {StaffRole.AGENT: "Agent", StaffRole.MANAGER: "Responsable", StaffRole.ADMIN: "Administrateur"}


class StaffUserForm(BaseForm):
    """What an admin may change; no password, no second factor (those stay with their owner)."""

    full_name = StringField("Nom", validators=[DataRequired("Ce champ est obligatoire."), Length(max=150)])
    role = SelectField("Rôle", choices=[(r.value, label) for r, label in ROLE_LABELS.items()])
    active = BooleanField("Compte actif")


class StaffInviteForm(BaseForm):
    """A new staff member: they get an e-mail to choose their password and enrol their authenticator app."""

    email = EmailField("Adresse e-mail", validators=[DataRequired("Ce champ est obligatoire."), Length(max=254)])
    full_name = StringField("Nom", validators=[DataRequired("Ce champ est obligatoire."), Length(max=150)])
    role = SelectField("Rôle", choices=[(r.value, label) for r, label in ROLE_LABELS.items()])


def invitation_link(raw: str) -> str:
    """The address of an invitation, as e-mailed (the configured public address, else this request's host)."""
    config = current_config()
    return link_base_url(config.public_url, config.allowed_hosts) + url_for("auth.invitation", token=raw)


def _state(user: StaffUser) -> str:
    if user.password_hash == NO_PASSWORD:
        return "Invitation envoyée"
    return "Compte actif" if user.active else "Désactivé"


class StaffUserView(StaffModelView):
    """Comptes du personnel (admins only)."""

    allowed_roles = ADMINS
    can_create = True
    form = StaffUserForm
    details_template = "backoffice/staff/details.html"
    column_list = ["email", "full_name", "role", "active", "state", "failed_login_count", "locked_until",
                   "last_login_at", "password_set_at"]
    column_details_list = column_list + ["created_at"]
    column_export_list = column_list
    column_labels = {"email": "E-mail", "full_name": "Nom", "role": "Rôle", "active": "Actif", "state": "État",
                     "failed_login_count": "Échecs de connexion", "locked_until": "Bloqué jusqu'au",
                     "last_login_at": "Dernière connexion",
                     "password_set_at": "Mot de passe changé le", "created_at": "Créé le"}
    column_formatters = {
        "role": lambda v, c, m, n: ROLE_LABELS[m.role],
        "state": lambda v, c, m, n: _state(m),
        "failed_login_count": lambda v, c, m, n: (f"{m.failed_login_count} (verrouillé)"
                                                  if is_locked(m)
                                                  else m.failed_login_count),
    }
    column_formatters_export = {"role": lambda v, c, m, n: ROLE_LABELS[m.role], "state": lambda v, c, m, n: _state(m)}
    column_filters = [BooleanEqualFilter(StaffUser.active, "Actif")]
    column_searchable_list = ["email", "full_name"]
    column_default_sort = [("full_name", False), ("id", False)]
    # The password hash is read for the "État" column only (an invitation not yet accepted has none).
    list_load_only = ("email", "full_name", "role", "active", "password_hash", "failed_login_count", "locked_until",
                      "last_login_at", "password_set_at")

    def create_form(self, obj=None):
        return StaffInviteForm(request.form if request.method == "POST" else None)

    def create_model(self, form):
        try:
            user = invite_staff(db.session, email=form.email.data, full_name=form.full_name.data,
                                role=StaffRole(form.role.data), by=current_staff(), make_link=invitation_link,
                                now=utcnow(), ip=client_ip(), valid_hours=current_config().invitation_hours)
            db.session.commit()
        except ValidationFailed as exc:
            db.session.rollback()
            for name, messages in exc.errors.items():
                getattr(form, name).errors = list(messages)
            return False
        flash(f"Invitation envoyée à {user.email}.", "success")
        return user

    def details_extra(self, model: StaffUser) -> dict:
        return {"pending_reset": pending_totp_reset(db.session, model), "invited": model.password_hash == NO_PASSWORD,
                "enrolled": bool(model.totp_secret)}

    def on_form_prefill(self, form, id):
        form.role.data = self.get_one(id).role.value

    def update_model(self, form, model: StaffUser) -> bool:
        try:
            update_staff(db.session, model, by=current_staff(), full_name=form.full_name.data,
                         role=StaffRole(form.role.data), active=bool(form.active.data), now=utcnow(), ip=client_ip())
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            if not self.handle_view_exception(exc):
                raise
            return False
        return True

    @action("unlock", "Déverrouiller", "Lever le blocage et les délais d'attente des comptes sélectionnés ?")
    def action_unlock(self, ids):
        users = [u for u in (self.get_for_update(i) for i in self.action_ids(ids)) if u is not None]
        for user in users:
            unlock_staff(db.session, user, by=current_staff(), now=utcnow(), ip=client_ip())
        db.session.commit()
        flash(f"{len(users)} compte(s) déverrouillé(s).", "success")

    @action("end_sessions", "Déconnecter partout", "Fermer toutes les sessions des comptes sélectionnés ?")
    def action_end_sessions(self, ids):
        users = [u for u in (self.get_for_update(i) for i in self.action_ids(ids)) if u is not None]
        for user in users:
            end_staff_sessions(db.session, user, by=current_staff(), now=utcnow(), ip=client_ip())
        db.session.commit()
        flash(f"Sessions fermées pour {len(users)} compte(s).", "success")

    @action("resend_invitation", "Renvoyer l'invitation", "Envoyer un nouveau lien d'invitation aux comptes "
                                                          "sélectionnés ? Les liens précédents ne serviront plus.")
    def action_resend_invitation(self, ids):
        sent = 0
        for user in (u for u in (self.get_for_update(i) for i in self.action_ids(ids)) if u is not None):
            try:
                with db.session.begin_nested():
                    send_invitation(db.session, user, by=current_staff(), make_link=invitation_link, now=utcnow(),
                                    ip=client_ip(), valid_hours=current_config().invitation_hours)
            except DomainError as exc:
                flash(exc.message, "error")
            else:
                sent += 1
        db.session.commit()
        if sent:
            flash(f"{sent} invitation(s) envoyée(s).", "success")

    # No confirm() in the browser: the action leads to a page that asks, and another admin confirms there.
    @action("reset_totp", "Réinitialiser l'application d'authentification…")
    def action_reset_totp(self, ids):
        chosen = self.action_ids(ids)[:1]
        return redirect(self.get_url(".totp_reset_view", id=chosen[0]) if chosen else self.get_url(".index_view"))

    @expose("/application-authentification/", methods=("GET", "POST"))
    def totp_reset_view(self):
        """Reset of a staff member's authenticator app: one admin asks, a different admin confirms."""
        pk = primary_key(request.values.get("id", ""))
        user = self.get_one(pk) if pk is not None else None
        if user is None:
            flash("Cet enregistrement n'existe pas ou ne vous est pas accessible.", "error")
            return redirect(self.get_url(".index_view"))
        error = None
        me = current_staff()
        if request.method == "POST":
            now = utcnow()
            try:
                if request.form.get("etape") == "confirmer":
                    reset = pending_totp_reset(db.session, user)
                    if reset is None:
                        raise DomainError("Aucune réinitialisation n'attend de confirmation pour ce compte.")
                    confirm_totp_reset(db.session, reset, by=me, now=now, ip=client_ip())
                    message = (f"Application d'authentification de {user.full_name} réinitialisée : ses sessions sont "
                               "fermées ; à sa prochaine connexion, il ou elle enregistrera à nouveau son application.")
                else:
                    request_totp_reset(db.session, user, by=me, now=now, ip=client_ip())
                    message = ("Réinitialisation demandée : un autre administrateur doit maintenant la confirmer "
                               "depuis cette page.")
            except DomainError as exc:
                db.session.commit()  # the refusal is audited
                error = exc.message
            else:
                db.session.commit()
                flash(message, "success")
                return redirect(self.get_url(".details_view", id=user.id))
        reset = pending_totp_reset(db.session, user)
        requester = db.session.get(StaffUser, reset.requested_by_id) if reset else None
        return self.render("backoffice/staff/totp_reset.html", user=user, reset=reset, requester=requester,
                           mine=reset is not None and reset.requested_by_id == me.id, error=error), \
            400 if error else 200
