"""Sign-in forms with the guide's labels; they only read input, the rules live in models/members."""

from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from models.formats import canonical_mobile, canonical_nir
from models.members.passwords import MAX_LENGTH

from ..forms import LenientDateField

REQUIRED = _l("Ce champ est obligatoire.")


def _required():
    return DataRequired(message=REQUIRED)


class LoginForm(FlaskForm):
    """ACCÉDER À VOTRE ESPACE PERSONNEL."""

    identifiant = StringField(_l("Identifiant mese"), [_required(), Length(max=40)])
    password = PasswordField(_l("Mot de passe"), [_required(), Length(max=MAX_LENGTH)])
    remember = BooleanField(_l("Se souvenir de mon identifiant"))


class CodeForm(FlaskForm):
    """The 6-digit code (SMS or authenticator app)."""

    code = StringField(_l("Code à 6 chiffres"), [_required(), Length(max=20)])


class MobileCodeForm(CodeForm):
    """The codes that confirm a new mobile number: by SMS, and by e-mail to the address on file."""

    code = StringField(_l("Code reçu par SMS"), [_required(), Length(max=20)])
    email_code = StringField(_l("Code reçu par e-mail"), [_required(), Length(max=20)])


class ReauthenticationForm(FlaskForm):
    """Confirmez votre identité: the password and a code again, before a change of the second factor."""

    password = PasswordField(_l("Mot de passe actuel"), [_required(), Length(max=MAX_LENGTH)])
    code = StringField(_l("Code à 6 chiffres"), [_required(), Length(max=20)])


class MobileForm(FlaskForm):
    """The mobile number to receive codes, when none is on file."""

    mobile = StringField(_l("Numéro de téléphone mobile"), [_required(), Length(max=30)])

    def validate_mobile(self, field):
        try:
            field.data = canonical_mobile(field.data)
        except ValueError:
            raise ValidationError(_l("Saisissez un numéro de mobile français, par exemple 06 12 34 56 78.")) from None


class ActivationForm(FlaskForm):
    """Activation de votre espace: the principal insured's identity."""

    last_name = StringField(_l("Nom"), [_required(), Length(max=100)])
    first_name = StringField(_l("Prénom"), [_required(), Length(max=100)])
    birth_date = LenientDateField(_l("Date de naissance"), [_required()])
    nir = StringField(_l("Numéro INSEE"), [_required(), Length(max=30)])

    def validate_birth_date(self, field):
        if field.data and not dt.date(1900, 1, 1) <= field.data <= dt.date.today():
            raise ValidationError(_l("Saisissez une date de naissance passée, au format jj/mm/aaaa."))

    def validate_nir(self, field):
        try:
            canonical_nir(field.data)
        except ValueError as exc:
            if str(exc) == "key":
                raise ValidationError(_l("La clé du numéro INSEE ne correspond pas : vérifiez les 15 caractères "
                                         "de votre carte Vitale.")) from None
            raise ValidationError(_l("Le numéro INSEE compte 13 caractères, ou 15 avec la clé "
                                     "(numéro de Sécurité sociale).")) from None


class ForgotPasswordForm(FlaskForm):
    """Mot de passe oublié."""

    identifiant = StringField(_l("Identifiant"), [_required(), Length(max=40)])


class NewPasswordForm(FlaskForm):
    """Setting a password through a reset link."""

    new_password = PasswordField(_l("Nouveau mot de passe"), [_required()])


class ChangePasswordForm(FlaskForm):
    """Modifier mon mot de passe."""

    current_password = PasswordField(_l("Mot de passe actuel"), [_required(), Length(max=MAX_LENGTH)])
    new_password = PasswordField(_l("Nouveau mot de passe"), [_required()])


class TermsForm(FlaskForm):
    """Acceptance of the terms of use."""

    accept = BooleanField(_l("J'ai lu et j'accepte les conditions générales d'utilisation de mon espace "
                             "adhérent MESE."), [DataRequired(message=_l("Cochez la case pour continuer."))])
