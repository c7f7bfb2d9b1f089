"""The member area with the keyboard alone, in English: sign-in with captcha and code, then a hospital coverage
request whose date is typed digit by digit; the focus is always visible and goes to the errors."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from models.base import utcnow
from models.demo import DEMO_MEMBER_PASSWORD, load_demo
from models.members.entities import Member
from models.requests.entities import HospitalCoverageRequest
from models.requests.workflow import local_today
from tests.browser.conftest import last_sms_code, new_page, serving
from tests.member_app.test_languages import french_left

pytestmark = pytest.mark.browser


@pytest.fixture
def server(migrated_database, member_app_config, session):
    """The member area with the demo data and the captcha on, as in production."""
    from member_app import create_app

    load_demo(session)
    session.commit()
    with serving(create_app(replace(member_app_config, captcha_enabled=True, captcha_cost=500))) as url:
        yield url


@pytest.fixture
def page(browser):
    return new_page(browser)


def focused(page, js_test: str) -> bool:
    return page.evaluate(f"() => {{ const e = document.activeElement; return !!e && ({js_test}); }}")


def tab_to(page, js_test: str, *, limit: int = 40, key: str = "Tab") -> None:
    """Press Tab until the focused element passes ``js_test`` (a JS expression on ``e``); its focus must show."""
    for _ in range(limit):
        page.keyboard.press(key)
        if focused(page, js_test):
            style = page.evaluate("() => { const s = getComputedStyle(document.activeElement);"
                                  " return [s.outlineStyle, s.outlineWidth, s.boxShadow]; }")
            assert style[0] != "none" and style[1] != "0px" or style[2] != "none", f"focus not visible: {style}"
            return
    raise AssertionError(f"the keyboard never reached {js_test}")


def assert_english(page) -> None:
    assert french_left(page.content()) == [], page.url


def test_sign_in_and_a_coverage_request_with_the_keyboard_alone_in_english(server, page, session):
    lea = session.scalar(select(Member).where(Member.number == "4400000"))
    page.goto(f"{server}/connexion?lang=en")
    assert_english(page)

    # Sent empty: the title says so, the focus goes to the list of errors, each error is tied to its field.
    tab_to(page, "e.matches('button[type=submit]') && e.closest('main')")
    page.keyboard.press("Enter")
    expect(page).to_have_title(re.compile(r"^Error: "))
    expect(page.locator("#error-summary")).to_be_focused()
    assert page.get_attribute("#identifiant", "aria-describedby") == "identifiant-error"
    assert page.get_attribute("#captcha-error", "id") == "captcha-error"
    assert_english(page)

    # The summary's links lead to their field.
    tab_to(page, "e.matches('#error-summary a')")
    page.keyboard.press("Enter")
    expect(page.locator("#identifiant")).to_be_focused()
    page.keyboard.type("4400000")
    tab_to(page, "e.id === 'password'")
    page.keyboard.type(DEMO_MEMBER_PASSWORD)

    # "I am not a robot": Space ticks it, its state is announced, a second Space keeps it ticked.
    tab_to(page, "e.matches('altcha-widget input[type=checkbox]')")
    assert page.evaluate("document.querySelector('altcha-widget').getState()") == "unverified"  # not ticked by itself
    assert "captcha-help" in page.evaluate("document.activeElement.getAttribute('aria-describedby')")
    assert "captcha-error" in page.evaluate("document.activeElement.getAttribute('aria-describedby')")
    page.keyboard.press("Space")
    page.wait_for_function("() => document.querySelector('altcha-widget').getState() === 'verified'",
                           timeout=60_000)
    expect(page.locator("#captcha-status")).to_have_text("Verified: you can submit the form.")
    page.keyboard.press("Space")
    assert page.evaluate("document.querySelector('altcha-widget').getState()") == "verified"
    assert page.locator("altcha-widget input[type=checkbox]").is_checked()
    tab_to(page, "e.matches('button[type=submit]') && e.closest('main')")
    page.keyboard.press("Enter")

    # The 6-digit code: a wrong one first (focus on the errors), then the right one, typed and sent with Enter.
    expect(page.get_by_role("heading", name="The 6-digit code")).to_be_visible()
    assert_english(page)
    expect(page.locator("#code")).not_to_be_focused()
    tab_to(page, "e.id === 'code'")
    page.keyboard.type("000000")
    page.keyboard.press("Enter")
    expect(page.locator("#error-summary")).to_be_focused()
    assert page.get_attribute("#code", "aria-invalid") == "true"
    assert "code-error" in page.get_attribute("#code", "aria-describedby")
    tab_to(page, "e.id === 'code'")
    page.keyboard.press("Control+A")
    page.keyboard.type(last_sms_code(session, lea.id))
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: "/connexion/code" not in url)

    # Terms of use at first sign-in: tick with Space, send with Enter.
    if "/conditions-generales" in page.url:
        assert_english(page)  # the terms' text itself is French, and marked lang="fr"
        tab_to(page, "e.id === 'accept'")
        page.keyboard.press("Space")
        tab_to(page, "e.matches('button[type=submit]') && e.closest('main')")
        page.keyboard.press("Enter")
    expect(page).to_have_url(f"{server}/")
    assert_english(page)

    # The hospital coverage form, from the home page's shortcut.
    tab_to(page, "e.matches('a.tile') && e.textContent.includes('Hospital coverage')", limit=60)
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Hospital coverage", exact=True)).to_be_visible()
    assert_english(page)
    tab_to(page, "e.id === 'beneficiary_id'", limit=60)
    child = next(b for b in lea.beneficiaries if b.role.value == "child")
    page.select_option("#beneficiary_id", str(child.id))  # what arrow keys do on a focused select
    assert page.input_value("#beneficiary_id") == str(child.id)
    tab_to(page, "e.id === 'establishment_name'")
    page.keyboard.type("Clinique Belledonne")
    tab_to(page, "e.id === 'start_on'")

    # The date typed digit by digit: intermediate years (0002, 0020, 0202...) must not drop the person.
    # A date whose day and month are the same number reads the same in day-first and month-first browsers.
    start = next(day for day in (local_today(utcnow()) + timedelta(days=n) for n in range(2, 400))
                 if day.day == day.month)
    page.keyboard.type(start.strftime("%d%m"))
    for digit in start.strftime("%Y"):
        page.keyboard.type(digit)
        assert page.input_value("#beneficiary_id") == str(child.id), page.input_value("#start_on")
    assert page.input_value("#start_on") == start.isoformat()
    tab_to(page, "e.id === 'admission_fax'")
    page.keyboard.type("04 76 00 00 01")
    page.keyboard.press("Enter")

    expect(page.get_by_text("Reference of your request")).to_be_visible()
    session.expire_all()
    request = session.scalar(select(HospitalCoverageRequest))
    assert request.beneficiary_id == child.id and request.start_on == start
    assert_english(page)
