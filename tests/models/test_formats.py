"""French identifiers: NIR, FINESS, IBAN with its RIB key, mobiles, and the masks of the guide."""

from datetime import UTC, date, datetime

import pytest
from stdnum.fr import nir as stdnum_nir

from models.formats import (
    canonical_finess, canonical_iban, canonical_mobile, canonical_nir, compact, date_fr, display_phone, luhn_ok,
    mask_bic, mask_iban, mask_nir, nir_with_key, normalise_text,
)

LEA_NIR = "2848013809111"  # the guide's Léa RIMON: shown as 284801XXXX1174


def _iban(bban: str, country: str = "FR") -> str:
    """An IBAN with correct ISO 7064 check digits around ``bban`` (whatever its national key)."""
    digits = "".join(str(int(c, 36)) for c in bban + country + "00")
    return f"{country}{98 - int(digits) % 97:02d}{bban}"


def _with_luhn_digit(partial: str, luhn_partial: str | None = None) -> str:
    """``partial`` followed by the digit that makes ``luhn_partial`` (default ``partial``) pass Luhn."""
    base = luhn_partial or partial
    return partial + next(str(d) for d in range(10) if luhn_ok(base + str(d)))


# NIR ------------------------------------------------------------------------------------------------

def test_nir_of_13_characters_is_kept_as_is():
    assert canonical_nir(LEA_NIR) == LEA_NIR


def test_nir_of_15_characters_with_the_right_key_is_stored_without_key():
    assert canonical_nir(LEA_NIR + "74") == LEA_NIR


def test_nir_with_spaces_and_dots_is_compacted():
    assert canonical_nir("2 84 80 13.809 111 74") == LEA_NIR


def test_nir_with_a_wrong_key_is_refused():
    with pytest.raises(ValueError, match="key"):
        canonical_nir(LEA_NIR + "75")


@pytest.mark.parametrize("department", ["2A", "2B", "2a"])
def test_nir_born_in_corsica_is_accepted_with_its_key(department):
    nir13 = f"18505{department.upper()}004123"
    key = stdnum_nir.calc_check_digits(nir13)  # 2A counts as 19 and 2B as 18
    assert canonical_nir(f"18505{department}004123{key}") == nir13


def test_nir_born_in_corsica_with_a_wrong_key_is_refused():
    nir13 = "185052A004123"
    wrong = f"{(int(stdnum_nir.calc_check_digits(nir13)) % 97) + 1:02d}"
    with pytest.raises(ValueError, match="key"):
        canonical_nir(nir13 + wrong)


@pytest.mark.parametrize("value", ["5848013809111", "284801380911", "28480138091117", "2848013809111745", "ABCDEFGHIJKLM", ""])
def test_nir_of_the_wrong_shape_is_refused(value):
    with pytest.raises(ValueError, match="format"):
        canonical_nir(value)


def test_nir_key_is_computed_for_display():
    assert nir_with_key(LEA_NIR) == LEA_NIR + "74"


@pytest.mark.parametrize("value", [LEA_NIR, LEA_NIR + "74"])
def test_nir_is_masked_as_in_the_guide(value):
    assert mask_nir(value) == "284801XXXX1174"


# FINESS ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["010003820", "010003812", "750712184", "750100042", "130786049"])
def test_finess_with_a_right_luhn_key_is_accepted(value):
    assert canonical_finess(value) == value


def test_finess_with_spaces_is_compacted():
    assert canonical_finess(" 01 000 382 0 ") == "010003820"


def test_finess_with_a_wrong_key_is_refused():
    with pytest.raises(ValueError, match="key"):
        canonical_finess("010003821")


@pytest.mark.parametrize("value", ["01000382", "0100038200", "01000382A", "AB0003820", "", "3A0003820"])
def test_finess_of_the_wrong_shape_is_refused(value):
    with pytest.raises(ValueError, match="format"):
        canonical_finess(value)


@pytest.mark.parametrize("department, digits", [("2A", "21"), ("2B", "22")])
def test_finess_in_corsica_is_checked_with_2a_as_21_and_2b_as_22(department, digits):
    good = _with_luhn_digit(f"{department}000123", f"{digits}000123")
    assert canonical_finess(good.lower()) == good
    wrong = good[:-1] + str((int(good[-1]) + 1) % 10)
    with pytest.raises(ValueError, match="key"):
        canonical_finess(wrong)


def test_luhn():
    assert luhn_ok("79927398713")
    assert not luhn_ok("79927398710")


# IBAN -----------------------------------------------------------------------------------------------

def test_french_iban_is_accepted_in_any_spacing_and_case():
    assert canonical_iban("fr76 3000 6000 0112 3456 7890 189") == "FR7630006000011234567890189"


def test_iban_with_a_wrong_iso_check_is_refused():
    with pytest.raises(ValueError):
        canonical_iban("FR7730006000011234567890189")


def test_french_iban_with_a_wrong_rib_key_is_refused_even_when_its_iso_check_is_right():
    bad = _iban("30006000011234567890190")  # RIB key 90 instead of 89
    assert bad != "FR7630006000011234567890189"
    with pytest.raises(ValueError):
        canonical_iban(bad)


def test_iban_and_bic_are_masked_as_in_the_guide():
    assert mask_iban("FR7630006000011234567890136") == "XXXX.XXXXXXXX.XXXXXXXX.XXXX.136"
    assert mask_bic("CMCIFR2A") == "CMCI XXXX"


# Phones and text ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    ("0606060606", "+33606060606"),
    ("06 06 06 06 06", "+33606060606"),
    ("07.12.34.56.78", "+33712345678"),
    ("+33 6 12 34 56 78", "+33612345678"),
    ("0033612345678", "+33612345678"),
])
def test_french_mobile_is_stored_in_e164(value, expected):
    assert canonical_mobile(value) == expected


@pytest.mark.parametrize("value", ["0476605636", "060606060", "+4915112345678", "", "06060606060"])
def test_not_a_french_mobile_is_refused(value):
    with pytest.raises(ValueError):
        canonical_mobile(value)


def test_mobile_is_shown_as_in_the_guide():
    assert display_phone("+33606060606") == "0606060606"


def test_names_are_compared_without_accents_case_or_punctuation():
    assert normalise_text("Saint-Martin-d'Hères") == "saint martin d heres"
    assert normalise_text("  CLINIQUE   Pasteur, Évreux ") == "clinique pasteur evreux"


def test_compact_folds_full_width_digits_and_drops_separators():
    assert compact("０１ ０００.３８２-０") == "010003820"


def test_digits_of_other_scripts_are_refused_where_ascii_is_needed_later():
    import pytest as _pytest

    from models.formats import canonical_email
    from models.formats import canonical_finess as finess
    from models.requests.hospital_coverage import canonical_fax

    for check, value in [(finess, "٠١٠٠٠٣٨٢٠"), (canonical_fax, "01٢٣٤٥٦٧٨٩")]:
        with _pytest.raises(ValueError):
            check(value)
    assert canonical_fax("04 76 00 00 01") == "0476000001"
    assert canonical_email("admissions@chu-grenoble.fr") == "admissions@chu-grenoble.fr"
    for refused in ("a@b.fr,c@d.fr", "é@exemple.fr"):
        with _pytest.raises(ValueError):
            canonical_email(refused)


@pytest.mark.parametrize("typed, expected", [
    ("lea.rimon35@gmail.com", "lea.rimon35@gmail.com"),
    ("  LEA.RIMON35@GMAIL.com ", "LEA.RIMON35@gmail.com"),
    ("ｌｅａ@exemple.fr", "lea@exemple.fr"),
])
def test_canonical_email_checks_with_email_validator(typed, expected):
    from models.formats import canonical_email

    assert canonical_email(typed) == expected


@pytest.mark.parametrize("typed", ["", "lea", "lea@", "@exemple.fr", "lea@exemple", "lea@@exemple.fr",
                                   "lea rimon@exemple.fr", "lea@localhost", "a@b.fr,c@d.fr", "lea@exemple.fr\nBcc: x@y.fr",
                                   "x" * 250 + "@exemple.fr", "lea@exemple.test"])
def test_canonical_email_refuses_what_is_no_address(typed):
    from models.formats import canonical_email

    with pytest.raises(ValueError):
        canonical_email(typed)


def test_dates_are_written_as_the_guide_writes_them():
    assert date_fr(date(1984, 1, 10)) == "10/01/1984" and date_fr(date(2199, 12, 31)) == "31/12/2199"
    assert date_fr(datetime(2025, 3, 30, 23, 30, tzinfo=UTC)) == "31/03/2025"  # French time, the next day
    assert date_fr(None) == ""
