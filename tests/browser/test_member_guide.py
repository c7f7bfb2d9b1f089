"""A member follows the guide on a phone: from the home page, every shortcut and every menu link opens its page."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from sqlalchemy import select

from models.demo import load_demo
from models.members.entities import Member
from tests.browser.conftest import serving
from tests.browser.test_request_slices import member_signs_in

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}

#: Each shortcut of the home page, with words of the guide its page shows.
SHORTCUTS = {
    "Dépôt de documents": "Envoyez-nous vos documents et justificatifs",
    "Contacter la mutuelle": "Contacter la mutuelle",
    "Ma carte Mutuelle": "Ma carte Mutuelle",
    "Mes remboursements": "Mes remboursements",
    "Prévention santé": "Prévention santé",
    "Mon assistance": "Mon assistance",
    "Téléconsultation MaQuestionMédicale": "Téléconsultation",
    "Réseau Kalixia": "Kalixia",
    "Prise en charge hospitalière": "Prise en charge hospitalière",
    "Attestation": "Attestation",
    "Documents contractuels": "Documents contractuels",
    "Mon contrat /ma famille": "Mes contrats",
}


@pytest.fixture
def server(migrated_database, member_app_config, session):
    """The member area with the demo data (captcha off: not what is tested here)."""
    from member_app import create_app

    load_demo(session)
    session.commit()
    with serving(create_app(replace(member_app_config, captcha_enabled=False))) as url:
        yield url


@pytest.fixture
def phone(browser, server, session):
    """Léa RIMON signed in on a phone-sized screen."""
    lea = session.scalar(select(Member).where(Member.number == "4400000"))
    page = browser.new_context(locale="fr-FR", viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    page.set_default_timeout(30_000)
    member_signs_in(browser, server, session, lea, page)
    page.base = server
    return page


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_every_shortcut_of_the_guide_opens_its_page_on_a_phone(phone):
    home = phone.base + "/"
    phone.goto(home)
    first_tile = phone.locator("a.tile").first.bounding_box()
    assert first_tile["y"] < PHONE["height"], "the shortcuts start on the first screen"
    for label, words in SHORTCUTS.items():
        phone.goto(home)
        phone.get_by_role("link", name=label, exact=True).and_(phone.locator("a.tile")).click()
        phone.wait_for_load_state()
        assert phone.locator("h1").count() == 1, label
        assert words.lower() in (phone.title() + " " + phone.locator("main").inner_text()).lower(), label
        assert no_sideways_scroll(phone), label


def test_every_link_of_the_menu_opens_its_page_on_a_phone(phone):
    phone.goto(phone.base + "/")
    menu = phone.get_by_role("navigation", name="Menu principal")
    phone.get_by_text("Menu", exact=True).click()
    categories = [c.strip() for c in menu.locator(".menu-category > summary").all_inner_texts()]
    assert categories == ["Informations personnelles", "Contact/ dépôt de documents", "Mes remboursements",
                          "Services et outils", "Futur(e) retraité(e)"]
    visited = 0
    for index, category in enumerate(categories):
        phone.goto(phone.base + "/")
        phone.get_by_text("Menu", exact=True).click()
        links = menu.locator(".menu-category").nth(index).locator("a")
        for n in range(links.count()):
            phone.goto(phone.base + "/")
            phone.get_by_text("Menu", exact=True).click()
            menu.locator(".menu-category > summary").nth(index).click()
            link = menu.locator(".menu-category").nth(index).locator("a").nth(n)
            label = link.inner_text()
            response_holder = {}
            phone.once("response", lambda r: response_holder.setdefault("status", r.status))
            link.click()
            phone.wait_for_load_state()
            assert response_holder.get("status") == 200, (category, label)
            assert phone.locator("h1").count() == 1, (category, label)
            assert no_sideways_scroll(phone), (category, label)
            visited += 1
    assert visited >= 20


def test_in_english_every_shortcut_opens_an_english_page(phone):
    phone.goto(phone.base + "/?lang=en")
    labels = phone.locator("a.tile .tile-label").all_inner_texts()
    assert len(labels) == 12 and "Dépôt de documents" not in labels
    for label in labels:
        phone.goto(phone.base + "/")
        phone.locator("a.tile", has_text=re.compile(f"^{re.escape(label)}$")).click()
        phone.wait_for_load_state()
        assert phone.locator("html").get_attribute("lang") == "en", label
        assert phone.locator("h1").count() == 1, label
