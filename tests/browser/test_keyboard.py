"""The back office with the keyboard alone: sign in (e-mail, password, authenticator code) and approve a request.

Only Tab, Shift+Tab, Enter, Space and the arrow keys are used; at every stop the focused element must show a
visible focus indicator and be on screen, and the focus must land where a keyboard user expects it (the
error summary after a wrong code, the content after the skip link, the first item of an opened menu).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy import select
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from models.base import utcnow
from models.demo import DEMO_STAFF_PASSWORD, DEMO_TOTP, load_demo
from models.members.entities import Member
from models.requests.entities import HospitalCoverageRequest, RequestStatus
from models.requests.hospital_coverage import (
    HospitalCoverageInput, selectable_beneficiaries, submit_hospital_coverage,
)
from models.requests.workflow import local_today
from tests.browser.conftest import new_page, serving

pytestmark = pytest.mark.browser
MAX_TABS = 60
FOCUS_SETTLES_MS = 3_000

FOCUSED = """() => {
  const e = document.activeElement;
  if (!e || e === document.body) return null;
  const s = getComputedStyle(e), r = e.getBoundingClientRect();
  return {
    tag: e.tagName.toLowerCase(), id: e.id, classes: e.className,
    name: (e.getAttribute('aria-label') || e.innerText || e.value || '').trim().replace(/\\s+/g, ' '),
    label: e.labels && e.labels.length ? e.labels[0].innerText.trim() : '',
    visible: (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2) || s.boxShadow !== 'none',
    onScreen: r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < window.innerHeight,
  };
}"""


@pytest.fixture
def server(migrated_database, member_app_config, backoffice_config, session):
    """Both apps as wsgi.py mounts them, with the demo data and one new hospital coverage request."""
    from backoffice import create_app as create_backoffice
    from member_app import create_app as create_member_app

    now = utcnow()
    load_demo(session, now=now)
    lea = session.scalar(select(Member).where(Member.number == "4400000"))
    child = selectable_beneficiaries(session, lea, local_today(now))[-1]
    submit_hospital_coverage(session, lea, HospitalCoverageInput(
        beneficiary_id=child.id, establishment_name="Clinique du Parc à Lyon", finess="750712184",
        start_on=local_today(now) + timedelta(days=10), admission_fax="0476000001", admission_email=""), now=now)
    session.commit()
    app = DispatcherMiddleware(create_member_app(member_app_config),
                               {"/backoffice": create_backoffice(backoffice_config)})
    with serving(app) as url:
        yield url


def focused(page) -> dict:
    """The element that has the focus, checked to show it: a visible indicator, on screen."""
    try:  # a browser applies ``autofocus`` at its next rendering step, which may come after the load event
        page.wait_for_function("() => document.activeElement && document.activeElement !== document.body",
                               timeout=FOCUS_SETTLES_MS)
    except PlaywrightTimeoutError:
        pass  # the assertion below says so
    info = page.evaluate(FOCUSED)
    assert info is not None, "the focus is lost (on the page body)"
    assert info["visible"], f"no visible focus indicator on {info}"
    assert info["onScreen"], f"the focused element is off screen: {info}"
    return info


def press(page, key: str) -> dict:
    """Press one key and return the element that then has the focus."""
    page.keyboard.press(key)
    return focused(page)


def tab_to(page, pattern: str, *, key: str = "Tab") -> dict:
    """Press Tab (or Shift+Tab) until the focused control's name or label matches ``pattern``."""
    for _ in range(MAX_TABS):
        info = press(page, key)
        if re.search(pattern, info["name"]) or re.search(pattern, info["label"]):
            return info
    raise AssertionError(f"{pattern!r} not reached with {key} in {MAX_TABS} steps")


def test_staff_signs_in_and_approves_a_request_with_the_keyboard_only(server, browser, session):
    page = new_page(browser)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(server + "/backoffice/")
    assert page.url.startswith(server + "/backoffice/connexion")

    # Sign-in, step 1: the e-mail field has the focus; Tab and Shift+Tab move between the fields.
    assert focused(page)["label"].startswith("Adresse e-mail")
    page.keyboard.type("agent@mese.fr")
    assert press(page, "Tab")["label"].startswith("Mot de passe")
    assert press(page, "Shift+Tab")["label"].startswith("Adresse e-mail")
    press(page, "Tab")
    page.keyboard.type(DEMO_STAFF_PASSWORD)
    assert press(page, "Tab")["name"] == "Continuer"
    with page.expect_navigation():
        page.keyboard.press("Enter")

    # Step 2: a wrong code; the page says "Erreur :" and the focus is on the error summary.
    assert page.url.endswith("/backoffice/connexion/code")
    assert focused(page)["label"].startswith("Code de l'application")
    page.keyboard.type("000000")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.title().startswith("Erreur :")
    summary = focused(page)
    assert "bo-error-summary" in summary["classes"] and "Code incorrect" in summary["name"]
    code = press(page, "Tab")
    assert code["label"].startswith("Code de l'application")
    page.keyboard.type(pyotp.TOTP(DEMO_TOTP["agent"]).now())
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == server + "/backoffice/"

    # Home page: the first Tab reaches the skip link, which shows itself and leads into the content.
    skip = press(page, "Tab")
    assert skip["name"] == "Aller au contenu"
    page.keyboard.press("Enter")  # the main landmark takes the focus (no frame around the whole page)
    assert page.evaluate("document.activeElement.id") == "contenu"

    # "Prendre la demande suivante" of the coverage queue, reached with Tab, pressed with Enter: the request is ours.
    tab_to(page, r"^Prendre la demande suivante \(Prises en charge hospitalières\)$")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/backoffice/prises-en-charge/details/" in page.url
    assert page.get_by_text("vous est attribuée").is_visible()

    # The approve button, pressed with Space.
    tab_to(page, "^Accepter et envoyer la prise en charge$")
    with page.expect_navigation():
        page.keyboard.press("Space")
    assert page.get_by_text("acceptée : la prise en charge part à l'établissement").is_visible()
    session.expire_all()
    request = session.scalar(select(HospitalCoverageRequest))
    assert request.status is RequestStatus.DONE and request.assigned_to.email == "agent@mese.fr"

    # The menu: Shift+Tab back to "Files d'attente", Enter opens it, the arrow key moves into it, Enter follows.
    tab_to(page, "^Files d'attente$", key="Shift+Tab")
    press(page, "Enter")
    assert page.evaluate("document.activeElement.getAttribute('aria-expanded')") == "true"
    item = press(page, "ArrowDown")
    assert item["name"] == "Prises en charge hospitalières"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.startswith(server + "/backoffice/prises-en-charge/")
    assert not page.csp_violations
