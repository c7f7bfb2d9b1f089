"""Languages of the product: messages of the rules written in French, translated from one catalogue.

The rules of ``models/`` speak French (the guide's language). A message a member may read is a
``Message``: a ``str`` holding the French text, which also keeps its catalogue id and parameters so
that the apps, e-mails and SMS can give it in the member's language. The catalogue is the one the
apps use (``translations/<lang>/LC_MESSAGES/messages.mo``), read with Babel, without Flask.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from babel.support import NullTranslations, Translations

from .config import ROOT

TRANSLATIONS_DIR = ROOT / "translations"
#: The languages of the member area; the first is the source language of every text.
LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = LANGUAGES[0]


class Message(str):
    """A French message of the catalogue, with its id and parameters kept for translation.

    ``Message("Au moins %(n)d caractères.", n=12)`` is the string "Au moins 12 caractères." and
    ``localize(it, "en")`` gives "At least 12 characters.". Parameters that are Messages are
    translated too.
    """

    msgid: str
    params: Mapping[str, Any]

    def __new__(cls, msgid: str, **params: Any) -> Message:
        text = msgid % params if params else msgid
        message = super().__new__(cls, text)
        message.msgid = msgid
        message.params = params
        return message

    def __reduce__(self):
        return (_rebuild, (self.msgid, dict(self.params)))


def _rebuild(msgid: str, params: dict[str, Any]) -> Message:
    return Message(msgid, **params)


def supported(language: str | None) -> str:
    """``language`` if the product speaks it, else the default (French)."""
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> NullTranslations:
    """The compiled catalogue of ``language``; French is the source, so it translates nothing."""
    if supported(language) == DEFAULT_LANGUAGE:
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS_DIR), [language])


def localize(text: Any, language: str | None) -> Any:
    """``text`` in ``language`` when it is a Message; any other value is returned as it is."""
    if not isinstance(text, Message):
        return text
    translated = translations(supported(language)).gettext(text.msgid)
    if not text.params:
        return translated
    return translated % {key: localize(value, language) for key, value in text.params.items()}
