"""English is offered beside French: every member-facing string (pages, rules, e-mails) has a translation."""

from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]


def test_every_member_facing_string_has_an_english_translation():
    with open(ROOT / "translations/en/LC_MESSAGES/messages.po", "rb") as fh:
        catalog = read_po(fh)
    translated = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id and m.string}
    method_map = [("member_app/**.py", "python"), ("models/**.py", "python"), ("templates/member/**.html", "jinja2"),
                  ("templates/email/**.html", "jinja2"), ("templates/pdf/**.html", "jinja2")]
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, keywords={"_": None, "_l": None, "lazy_gettext": None, "gettext": None,
                                         "ngettext": (1, 2), "Message": None}
    ):
        found.add(message if isinstance(message, str) else message[0])
    missing = sorted(found - translated)
    assert found and missing == [], f"untranslated (run the translation update in README): {missing[:5]}"


def test_the_login_page_switches_to_english_and_back(member_client):
    english = member_client.get("/connexion?lang=en").get_data(as_text=True)
    assert "ACCESS YOUR PERSONAL AREA" in english and '<html lang="en">' in english
    french = member_client.get("/connexion?lang=fr").get_data(as_text=True)
    assert "ACCÉDER À VOTRE ESPACE PERSONNEL" in french and '<html lang="fr">' in french


def test_the_compiled_catalogue_matches_the_translations():
    from babel.messages.mofile import read_mo

    directory = ROOT / "translations/en/LC_MESSAGES"
    with open(directory / "messages.po", "rb") as po, open(directory / "messages.mo", "rb") as mo:
        source, compiled = read_po(po), read_mo(mo)
    def entries(catalog):
        return {str(list(m.id) if m.pluralizable else m.id): str(list(m.string) if m.pluralizable else m.string)
                for m in catalog if m.id}

    assert entries(source) == entries(compiled)
