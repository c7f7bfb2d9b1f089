"""Member passwords: Argon2id hashing, the guide's rules, the common-password list, history and expiry."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import ROOT
from ..errors import DomainError
from ..i18n import Message

if TYPE_CHECKING:
    from ..staff.entities import StaffUser
    from .entities import Member

#: OWASP minimum for Argon2id: 19 MiB, 2 iterations, 1 lane.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
_DUMMY_HASH = _hasher.hash("not-a-real-password-used-to-equalise-timing")

COMMON_PASSWORDS_FILE = ROOT / "data" / "common-passwords.txt"

#: The guide's "common special characters" (PASSWORD CHANGE page), µ (micro sign) being typed for μ.
SPECIAL_CHARACTERS = "&(-_~#[^\\@+%*$!=]}?.\"£€μµ§;,"
#: The same list as the member reads it next to the field.
SPECIAL_CHARACTERS_DISPLAY = " ".join(dict.fromkeys(SPECIAL_CHARACTERS.replace("µ", "")))

MIN_LENGTH = 12
#: Long enough for passphrases and password managers (ASVS asks for 64), short enough to bound hashing.
MAX_LENGTH = 256

# One message per rule, as shown next to the field.
RULE_LENGTH = Message("Au moins %(count)d caractères.", count=MIN_LENGTH)
RULE_MAX_LENGTH = Message("%(count)d caractères au maximum.", count=MAX_LENGTH)
RULE_LOWERCASE = Message("Au moins une lettre minuscule.")
RULE_VARIETY = Message("Au moins un chiffre, un caractère spécial de la liste ou une lettre majuscule.")
RULE_HISTORY = Message(
    "Ce mot de passe a déjà été utilisé : choisissez-en un que vous n'avez jamais utilisé.")
RULE_COMMON = Message(
    "Ce mot de passe est trop courant : il figure dans la liste des mots de passe connus des pirates.")
RULE_PERSONAL = Message(
    "Ce mot de passe contient votre identifiant, votre nom, votre prénom ou votre date de naissance.")

#: Words of our own context that make a password easy to guess (ASVS 6.2.11).
CONTEXT_WORDS = frozenset({"mese", "mutuelle", "mutuellemese", "mesemutuelle", "espaceadherent", "schneider"})
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i"})
_SEPARATORS = re.compile(r"[\s\-_.]+")
_TRAILING = re.compile(r"[^a-z]+$")
_LEADING = re.compile(r"^[^a-z]+")


class PasswordRejected(DomainError):
    """The new password breaks one or more rules; ``problems`` names each of them."""

    def __init__(self, problems: list[str], field: str = "new_password"):
        super().__init__(" ".join(problems), field)
        self.problems = problems


def normalise(password: str) -> str:
    """The form a password is hashed in: Unicode NFC, so é typed on any keyboard is the same."""
    return unicodedata.normalize("NFC", password or "")


def hash_password(password: str) -> str:
    """Hash ``password`` with Argon2id."""
    return _hasher.hash(normalise(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; with no hash, spends the same time and says False."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, normalise(password)) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in text if not unicodedata.combining(c))


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The bundled list of common and breached passwords (see the header of the file for its sources)."""
    with COMMON_PASSWORDS_FILE.open(encoding="utf-8") as f:
        return frozenset(line.strip() for line in f if line.strip() and not line.startswith("#"))


def _cores(password: str) -> set[str]:
    """The password's guessable forms: folded, without separators, without edge digits and symbols, un-l33ted."""
    folded = _fold(password)
    forms = set()
    for base in (folded, _SEPARATORS.sub("", folded)):
        forms.add(base)
        right = _TRAILING.sub("", base)
        both = _LEADING.sub("", right)
        forms.update(c for c in (right, both, right.translate(_LEET), both.translate(_LEET)) if len(c) >= 4)
    return forms


def is_common_password(password: str) -> bool:
    """True when the password, or the word it is built on, is in the bundled list or our context words."""
    forms = _cores(normalise(password))
    return bool(forms & common_passwords()) or bool(forms & CONTEXT_WORDS)


def _personal_parts(member: Member) -> list[str]:
    parts = [member.number] if member.number and len(member.number) >= 4 else []
    for name in (member.last_name, member.first_name):
        folded = _SEPARATORS.sub("", _fold(name or ""))
        if len(folded) >= 3:
            parts.append(folded)
    if member.birth_date:
        d = member.birth_date
        parts += [d.strftime("%d%m%Y"), d.strftime("%Y%m%d"), d.strftime("%d%m%y")]
    return parts


def contains_personal_data(password: str, member: Member) -> bool:
    """True when the password holds the member's number, name, first name or birth date."""
    folded = _SEPARATORS.sub("", _fold(normalise(password)))
    digits = re.sub(r"\D", "", folded)
    return any(part in (digits if part.isdigit() else folded) for part in _personal_parts(member))


def rule_problems(password: str, member: Member | None = None) -> list[str]:
    """The rules ``password`` breaks, history aside (cheap: no hashing)."""
    password = normalise(password)
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(RULE_LENGTH)
    if len(password) > MAX_LENGTH:
        problems.append(RULE_MAX_LENGTH)
    if not any(c.islower() for c in password):
        problems.append(RULE_LOWERCASE)
    if not any(c.isdecimal() or c.isupper() or c in SPECIAL_CHARACTERS for c in password):
        problems.append(RULE_VARIETY)
    if password and is_common_password(password):
        problems.append(RULE_COMMON)
    if member is not None and password and contains_personal_data(password, member):
        problems.append(RULE_PERSONAL)
    return problems


def _history_of(owner) -> tuple[type, Any]:
    """The history table of ``owner``'s passwords (a member's or a staff member's) and its owner column."""
    from ..staff.entities import StaffPasswordHistory, StaffUser
    from .entities import PasswordHistory

    if isinstance(owner, StaffUser):
        return StaffPasswordHistory, StaffPasswordHistory.staff_id
    return PasswordHistory, PasswordHistory.member_id


def was_used_before(session: Session, owner: Member | StaffUser, password: str) -> bool:
    """True when ``password`` is the current password or one in the history of ``owner`` (member or staff)."""
    history, owner_column = _history_of(owner)
    hashes = [owner.password_hash] if owner.password_hash else []
    if owner.id is not None:
        hashes += session.scalars(select(history.password_hash).where(owner_column == owner.id)).all()
    return any(verify_password(h, password) for h in hashes)


def password_problems(session: Session, member: Member, password: str) -> list[str]:
    """Every rule ``password`` breaks for ``member``, history included; empty when it is acceptable."""
    problems = rule_problems(password, member)
    if len(normalise(password)) <= MAX_LENGTH and was_used_before(session, member, password):
        problems.append(RULE_HISTORY)
    return problems


def set_password(session: Session, member: Member, password: str, *, now: datetime) -> None:
    """Give ``member`` a new password after checking every rule; the old hash goes to the history.

    Raises :class:`PasswordRejected` naming each broken rule. Does not audit: callers say why it changed.
    """
    install_password_hash(session, member, checked_password_hash(session, member, password), now=now)


def checked_password_hash(session: Session, member: Member, password: str) -> str:
    """The hash of ``password`` once every rule is checked; raises :class:`PasswordRejected` naming each."""
    problems = password_problems(session, member, password)
    if problems:
        raise PasswordRejected(problems)
    return hash_password(password)


def install_password_hash(session: Session, owner: Member | StaffUser, password_hash: str, *,
                          now: datetime) -> None:
    """Make an already checked hash the password of ``owner`` (member or staff); the old hash goes to the history."""
    history, owner_column = _history_of(owner)
    if owner.password_hash and _is_hash(owner.password_hash):
        session.add(history(**{owner_column.key: owner.id, "password_hash": owner.password_hash, "created_at": now}))
    owner.password_hash = password_hash
    owner.password_set_at = now


def _is_hash(value: str) -> bool:
    """True for a real Argon2 hash (an invited staff member's placeholder is none)."""
    return value.startswith("$argon2")


@dataclass(frozen=True)
class ExpiryPolicy:
    """How long a member password lasts (the guide: 180 days)."""

    max_age_days: int = 180

    def expired(self, member: Member, now: datetime) -> bool:
        """True when the member has no password date or it is older than the maximum age."""
        if member.password_set_at is None:
            return True
        return now - member.password_set_at >= timedelta(days=self.max_age_days)
