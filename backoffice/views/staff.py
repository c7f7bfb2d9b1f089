"""Staff accounts for admins: role, active flag, unlock, sign-out everywhere (creation: ``mese staff create``)."""

from __future__ import annotations

from flask import flash
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import BooleanEqualFilter
from flask_admin.form import BaseForm
from wtforms import BooleanField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from models.base import utcnow
from models.staff.entities import StaffRole, StaffUser
from models.staff.operations import end_staff_sessions, is_locked, unlock_staff, update_staff
from web import client_ip

from ..extensions import db
from .base import ADMINS, StaffModelView, current_staff

ROLE_LABELS = {StaffRole.AGENT: "Agent", StaffRole.MANAGER: "Responsable", StaffRole.ADMIN: "Administrateur"}


class StaffUserForm(BaseForm):
    """What an admin may change; no password, no second factor (those stay with their owner)."""

    full_name = StringField("Nom", validators=[DataRequired("Ce champ est obligatoire."), Length(max=150)])
    role = SelectField("Rôle", choices=[(r.value, label) for r, label in ROLE_LABELS.items()])
    active = BooleanField("Compte actif")


class StaffUserView(StaffModelView):
    """Comptes du personnel (admins only)."""

    allowed_roles = ADMINS
    can_create = False
    form = StaffUserForm
    column_list = ["email", "full_name", "role", "active", "failed_login_count", "locked_until", "last_login_at",
                   "password_set_at"]
    column_details_list = column_list + ["created_at"]
    column_export_list = column_list
    column_labels = {"email": "E-mail", "full_name": "Nom", "role": "Rôle", "active": "Actif",
                     "failed_login_count": "Échecs de connexion", "locked_until": "Bloqué jusqu'au",
                     "last_login_at": "Dernière connexion",
                     "password_set_at": "Mot de passe changé le", "created_at": "Créé le"}
    column_formatters = {
        "role": lambda v, c, m, n: ROLE_LABELS[m.role],
        "failed_login_count": lambda v, c, m, n: (f"{m.failed_login_count} (verrouillé)"
                                                  if is_locked(m)
                                                  else m.failed_login_count),
    }
    column_formatters_export = {"role": lambda v, c, m, n: ROLE_LABELS[m.role]}
    column_filters = [BooleanEqualFilter(StaffUser.active, "Actif")]
    column_searchable_list = ["email", "full_name"]
    column_default_sort = [("full_name", False), ("id", False)]

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
