"""Forms of the staff sign-in pages (labels in French)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    """First step: e-mail and password."""

    email = EmailField("Adresse e-mail", validators=[DataRequired("Saisissez votre adresse e-mail."),
                                                      Length(max=254)])
    password = PasswordField("Mot de passe", validators=[DataRequired("Saisissez votre mot de passe."),
                                                         Length(max=256)])


class TotpForm(FlaskForm):
    """Second step: the 6-digit code of the authenticator app."""

    code = StringField("Code de l'application d'authentification",
                       validators=[DataRequired("Saisissez le code à 6 chiffres."), Length(max=16)])


class PasswordChangeForm(FlaskForm):
    """Replacing one's own password (forced once it has expired)."""

    current_password = PasswordField("Mot de passe actuel", validators=[DataRequired("Ce champ est obligatoire.")])
    new_password = PasswordField("Nouveau mot de passe", validators=[DataRequired("Ce champ est obligatoire."),
                                                                     Length(max=256)])
    confirmation = PasswordField("Confirmez le nouveau mot de passe",
                                 validators=[DataRequired("Ce champ est obligatoire.")])


class InvitationForm(FlaskForm):
    """An invited staff member chooses their first password."""

    new_password = PasswordField("Mot de passe", validators=[DataRequired("Ce champ est obligatoire."),
                                                             Length(max=256)])
    confirmation = PasswordField("Confirmez le mot de passe", validators=[DataRequired("Ce champ est obligatoire.")])


class EnrolmentForm(FlaskForm):
    """The first code of the authenticator app, which confirms its enrolment."""

    code = StringField("Code affiché par l'application",
                       validators=[DataRequired("Saisissez le code à 6 chiffres."), Length(max=16)])
