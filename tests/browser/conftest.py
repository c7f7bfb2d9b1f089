"""Browser fixtures: Debian's Chromium driven by Playwright, apps served on a free local port."""

from __future__ import annotations

import re
import threading
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from models.outbox.entities import Channel, OutboxMessage

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@contextmanager
def serving(app):
    """Serve the WSGI ``app`` on a free local port in a thread; yields its base URL."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_port}"
    finally:
        httpd.shutdown()
        thread.join(5)


@pytest.fixture
def browser():
    """A headless Debian Chromium (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def new_page(browser):
    """A French-speaking page that records Content-Security-Policy violations in ``page.csp_violations``."""
    page = browser.new_context(locale="fr-FR").new_page()
    page.csp_violations = []
    page.on("console", lambda msg: page.csp_violations.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    page.set_default_timeout(30_000)
    return page


def last_sms_code(session, member_id: int) -> str:
    """The 6-digit code of the last SMS queued for the member, read before it is delivered (then masked)."""
    session.expire_all()
    sms = session.scalars(select(OutboxMessage).where(OutboxMessage.channel == Channel.SMS,
                                                      OutboxMessage.member_id == member_id)
                          .order_by(OutboxMessage.id.desc())).first()
    return re.search(r"\b(\d{6})\b", sms.text_body).group(1)


def tick_captcha(page) -> None:
    """Tick "Je ne suis pas un robot" with the keyboard (unless typing in the form already started it) and wait
    for the browser to finish the proof of work."""
    widget = page.locator("altcha-widget")
    state = "() => document.querySelector('altcha-widget').getState()"
    # The custom element may not be upgraded yet when the page has loaded: wait for its API first.
    page.wait_for_function("() => { const w = document.querySelector('altcha-widget');"
                           " return !!w && typeof w.getState === 'function' && typeof w.getState() === 'string'; }")
    if page.evaluate(state) not in ("verifying", "verified"):
        widget.get_by_role("checkbox").focus()
        page.keyboard.press("Space")
    page.wait_for_function(f"() => ({state})() === 'verified'", timeout=60_000)
    assert widget.get_by_text("Vérifié").is_visible()
    assert page.locator("altcha-widget input[name=altcha]").input_value()
