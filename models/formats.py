"""French identifiers: NIR, FINESS, IBAN, mobile numbers, e-mail addresses; checking, canonical form and masking.

Also the short description of a browser from its user agent."""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from zoneinfo import ZoneInfo

from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException
from stdnum.exceptions import ValidationError
from stdnum.fr import nir as stdnum_nir
from ua_parser import parse as parse_user_agent

PARIS = ZoneInfo("Europe/Paris")
_SEPARATORS = re.compile(r"[\s.\-\u00a0]")


def compact(value: str) -> str:
    """Drop spaces, dots, hyphens and non-breaking spaces; fold full-width digits to ASCII."""
    return _SEPARATORS.sub("", unicodedata.normalize("NFKC", value or "")).upper()


def canonical_nir(value: str) -> str:
    """Return the NIR as 13 characters (key dropped) or raise ValueError.

    Accepts 13 characters, or 15 with a key that must be right; 2A/2B (Corsica) included.
    """
    nir = compact(value)
    if not re.fullmatch(r"[1-478]\d{4}(\d{2}|2A|2B)\d{6}(\d{2})?", nir, re.ASCII):
        raise ValueError("format")
    if len(nir) == 15:
        try:
            stdnum_nir.validate(nir)
        except ValidationError as exc:
            raise ValueError("key") from exc
    return nir[:13]


def nir_with_key(nir13: str) -> str:
    """The 15-character NIR with its 2-digit key."""
    return nir13 + stdnum_nir.calc_check_digits(nir13)


def mask_nir(nir: str) -> str:
    """Mask a NIR as the guide shows it: ``284801XXXX1174``."""
    full = nir_with_key(nir) if len(nir) == 13 else nir
    return full[:6] + "XXXX" + full[-4:]


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` passes the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def canonical_finess(value: str) -> str:
    """Return a FINESS number (9 characters, Luhn key) or raise ValueError("format"/"key")."""
    finess = compact(value)
    if not re.fullmatch(r"(\d{2}|2A|2B)\d{7}", finess, re.ASCII):
        raise ValueError("format")
    digits = finess.replace("2A", "21", 1).replace("2B", "22", 1) if finess[:2] in ("2A", "2B") else finess
    if not luhn_ok(digits):
        raise ValueError("key")
    return finess


def canonical_iban(value: str, *, sepa_only: bool = False) -> str:
    """Return the IBAN in compact upper case, national checks (French RIB key) included, or raise ValueError.

    Spaces, dots, hyphens and lower case are accepted. With ``sepa_only``, an IBAN of a country outside
    the SEPA zone raises ValueError("sepa").
    """
    try:
        iban = IBAN(compact(value), validate_bban=True)
    except SchwiftyException as exc:
        raise ValueError(str(exc)) from exc
    if sepa_only and not iban.in_sepa_zone:
        raise ValueError("sepa")
    return iban.compact


def bic_for_iban(iban: str) -> str | None:
    """The BIC of the bank of a valid ``iban`` when the bank is known (8 characters, branch XXX dropped)."""
    try:
        bic = IBAN(iban).bic
    except SchwiftyException:
        return None
    return _short_bic(bic.compact) if bic is not None else None


def canonical_bic(value: str) -> str:
    """Return a BIC (8 or 11 characters, upper case; a trailing XXX branch dropped) or raise ValueError."""
    try:
        return _short_bic(BIC(compact(value)).compact)
    except SchwiftyException as exc:
        raise ValueError(str(exc)) from exc


def _short_bic(bic: str) -> str:
    return bic[:8] if bic.endswith("XXX") and len(bic) == 11 else bic


def mask_iban(iban: str) -> str:
    """Mask an IBAN as the guide shows it: ``XXXX.XXXXXXXX.XXXXXXXX.XXXX.136``."""
    return "XXXX.XXXXXXXX.XXXXXXXX.XXXX." + iban[-3:]


def mask_bic(bic: str) -> str:
    """Mask a BIC as the guide shows it: ``CMCI XXXX``."""
    return f"{bic[:4]} XXXX"


def canonical_mobile(value: str) -> str:
    """Return a French mobile number in E.164 (+336..., +337...) or raise ValueError."""
    digits = re.sub(r"[\s.\-()\u00a0]", "", unicodedata.normalize("NFKC", value or ""))
    if digits.startswith("+33"):
        digits = "0" + digits[3:]
    elif digits.startswith("0033"):
        digits = "0" + digits[4:]
    if not re.fullmatch(r"0[67]\d{8}", digits, re.ASCII):
        raise ValueError("format")
    return "+33" + digits[1:]


def display_phone(e164: str) -> str:
    """Show ``+33606060606`` as ``0606060606``, as in the guide."""
    return "0" + e164[3:] if e164 and e164.startswith("+33") else (e164 or "")


def normalise_text(value: str) -> str:
    """Lower-case, accent-free, single-spaced text for matching names."""
    text = unicodedata.normalize("NFKD", value or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def date_fr(value: date | datetime | None) -> str:
    """A date as the guide writes it (10/01/1984); instants are shown in French time; empty for None."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(PARIS)
    # What strftime("%d/%m/%Y") writes (the year unpadded, as glibc writes it), in a quarter of its time.
    return "%02d/%02d/%d" % (value.day, value.month, value.year)


def mask_email(address: str | None) -> str:
    """An e-mail address as a code page shows it: ``l***@example.fr``."""
    local, _, domain = (address or "").partition("@")
    return f"{local[:1]}***@{domain}" if local and domain else ""


def device_summary(user_agent: str) -> str:
    """A browser and its system as a person recognises them (``Firefox, Windows``); empty when unknown."""
    parsed = parse_user_agent(user_agent[:500]) if user_agent else None
    if parsed is None:
        return ""
    parts = [p.family for p in (parsed.user_agent, parsed.os) if p is not None and p.family != "Other"]
    return ", ".join(parts)[:100]


def mask_nir_teleconsultation(nir: str) -> str:
    """Mask a NIR as the guide's teleconsultation table shows it: ``1XX38XXXXX5555`` for 1 74 08 38 109 055 55
    (sex, department of birth, and the last four characters of the number with its key)."""
    full = nir_with_key(nir) if len(nir) == 13 else nir
    return full[0] + "XX" + full[5:7] + "XXXXX" + full[-4:]


def canonical_email(value: str) -> str:
    """Return an e-mail address checked by email-validator (syntax only, no DNS look-up), domain in lower case.

    Raises ValueError("format") for anything else, and for addresses longer than 254 characters.
    """
    from email_validator import EmailNotValidError, validate_email

    text = unicodedata.normalize("NFKC", value or "").strip()
    if not text or len(text) > 254:
        raise ValueError("format")
    try:
        checked = validate_email(text, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError("format") from exc
    return checked.normalized


def money(cents: int | None, language: str = "fr") -> str:
    """An amount of euros as a member reads it: ``1 234,56 €`` in French, ``€1,234.56`` in English.

    French groups thousands with a no-break space and puts a no-break space before the sign (the line never
    breaks inside an amount); negative amounts start with a minus sign. Empty for None.
    """
    if cents is None:
        return ""
    if 0 <= cents < 100000:  # most amounts: no thousands to group (a reimbursements page writes a hundred)
        return ("€%d.%02d" if language == "en" else "%d,%02d\u00a0€") % divmod(cents, 100)
    sign = "-" if cents < 0 else ""
    units, hundredths = divmod(abs(cents), 100)
    if language == "en":
        return f"{sign}€{units:,}.{hundredths:02d}"
    return f"{sign}{units:,}".replace(",", "\u00a0") + f",{hundredths:02d}\u00a0€"


def decimal_fr(cents: int) -> str:
    """An amount as a French spreadsheet reads a number: ``1234,56`` (no grouping, no sign of the currency)."""
    sign = "-" if cents < 0 else ""
    units, hundredths = divmod(abs(cents), 100)
    return f"{sign}{units},{hundredths:02d}"


def parse_date(value: str | None) -> date | None:
    """A date typed as jj/mm/aaaa or sent as aaaa-mm-jj (date picker), between 1900 and 2199; None when empty.

    Raises ValueError when the text is no such date.
    """
    text = (value or "").strip()
    if not text:
        return None
    if len(text) > 10:
        raise ValueError("format")
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            parsed = datetime.strptime(text, pattern).date()
        except ValueError:
            continue
        if not 1900 <= parsed.year < 2200:
            raise ValueError("range")
        return parsed
    raise ValueError("format")
