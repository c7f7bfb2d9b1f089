"""Accessibility checks of a page in Chromium: axe-core (WCAG 2.1 A/AA), reflow, target size; readable reports.

axe-core is read from the vendored file and evaluated through Playwright (the DevTools protocol), which
the page's Content-Security-Policy does not govern: the pages keep their real CSP, and any violation of
it that they cause themselves is reported too. ``page.add_script_tag`` would be blocked by that CSP (it
adds an inline script), and ``bypass_csp=True`` would check pages under a policy they never run with.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

AXE_PATH = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
#: The WCAG 2.1 A and AA rules of axe-core (RGAA 4.1 follows WCAG 2.1 AA).
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
VIEWPORTS = {
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}
#: Controls that stand alone (not links inside a sentence) and must be at least 44 px high to be hit on a phone.
STANDALONE_CONTROLS = ("button, input[type=submit], input[type=button], select, a.btn, a.button, .nav-link, "
                       ".page-link, .dropdown-item, nav a, a.icon, .skip-link:focus")
MIN_TARGET_PX = 44
#: What an error state shows somewhere (both apps' markup, before and after the error summary).
ERROR_MARKERS = ("[aria-invalid=true], .is-invalid, .invalid-feedback, .alert-danger, .error, .errors, "
                 ".error-summary, [role=alert]")

_AXE_SOURCE: str | None = None


def axe_source() -> str:
    """The vendored axe-core script (read once)."""
    global _AXE_SOURCE
    if _AXE_SOURCE is None:
        _AXE_SOURCE = AXE_PATH.read_text(encoding="utf-8")
    return _AXE_SOURCE


# ---------------------------------------------------------------------------------------------------------
# Registry of page states


@dataclass(frozen=True)
class PageState:
    """One page of an app in one state worth checking.

    ``path`` is relative to the app's mount point and may name fields of the test data
    (``"/details/?id={coverage_new}"``). ``who`` names the session the browser carries (None: a fresh
    visitor). ``act`` brings the page into its state once loaded (submit it empty, type a wrong code...).
    ``expect`` is a CSS selector the page must then show, ``status`` its HTTP status: they prove that the
    state checked is the state named, not a redirect to the sign-in page. ``errors`` marks the states
    showing a refused form, which must also say so in the title and put the focus on the errors.
    """

    app: str
    endpoint: str
    state: str
    path: str
    who: str | None = None
    act: Callable[[Any, Mapping[str, Any]], None] | None = None
    status: int = 200
    expect: str | None = None
    errors: bool = False
    marks: tuple = ()

    @property
    def id(self) -> str:
        return f"{self.endpoint}[{self.state}]"


def submit(form_holding: str, fill: Mapping[str, str] | None = None) -> Callable[[Any], None]:
    """An action: fill fields (by name; ``{placeholders}`` take the test data's values) of the form holding
    the field ``form_holding``, then submit it with its own submit button, as a user would."""

    def act(page, values: Mapping[str, Any]) -> None:
        form = page.locator(f"form:has([name={form_holding!r}])").first
        for name, value in (fill or {}).items():
            value = value.format(**values)
            control = form.locator(f"[name={name!r}]").first
            if control.evaluate("e => e.tagName") == "SELECT":
                control.select_option(index=int(value)) if value.isdigit() else control.select_option(value)
            else:
                control.fill(value)
        with page.expect_navigation():
            form.locator("[type=submit]").first.click()
        page.wait_for_load_state("load")

    return act


@dataclass
class Exclusion:
    """Routes that are not pages: a pattern of endpoints (fnmatch) and why they have no axe check."""

    pattern: str
    reason: str


def route_coverage(rules: Iterable[tuple[str, str, set[str]]], checked: set[str],
                   exclusions: list[Exclusion]) -> tuple[list[str], list[str]]:
    """Routes neither checked nor excluded, and exclusions that match no route (both must stay empty).

    ``rules`` are (endpoint, rule, methods) of an app; ``checked`` the endpoints with a page state.
    """
    missing, used = [], set()
    for endpoint, rule, methods in rules:
        if endpoint in checked:
            continue
        matched = [e.pattern for e in exclusions if fnmatch.fnmatchcase(endpoint, e.pattern)]
        used.update(matched)
        if not matched:
            missing.append(f"{endpoint} {rule} {sorted(methods)}")
    stale = [e.pattern for e in exclusions if e.pattern not in used]
    return missing, stale


# ---------------------------------------------------------------------------------------------------------
# Sessions forged with each app's own serializer


def session_cookie(app, data: Mapping[str, Any], *, base_url: str) -> dict:
    """A Playwright cookie holding the Flask session ``data`` of ``app``, signed with the app's secret.

    It is what the app itself sets after the corresponding steps (tests/helpers.py lists the keys a
    signed-in session needs), without the time it takes to walk through them in a browser. The cookie is
    host-only, on the app's cookie path, as the app sets it (``__Host-`` prefix included).
    """
    serializer = app.session_interface.get_signing_serializer(app)
    # An IP address as domain gives a host-only cookie (a URL would turn the Secure flag off on http).
    return {"name": app.config["SESSION_COOKIE_NAME"], "value": serializer.dumps(dict(data)),
            "domain": urlsplit(base_url).hostname, "path": app.config["SESSION_COOKIE_PATH"] or "/",
            "secure": bool(app.config["SESSION_COOKIE_SECURE"]), "httpOnly": True,
            "sameSite": app.config["SESSION_COOKIE_SAMESITE"] or "Lax"}


# ---------------------------------------------------------------------------------------------------------
# Running the checks


@dataclass
class Finding:
    """One failed check of a page, ready to print."""

    rule: str
    impact: str
    help: str
    targets: list[tuple[str, str]] = field(default_factory=list)  # (selector, html snippet)
    url: str = ""

    def lines(self) -> list[str]:
        out = [f"  - {self.rule} ({self.impact}): {self.help}" + (f"\n    {self.url}" if self.url else "")]
        for target, html in self.targets[:8]:
            out.append(f"      at {target}\n         {' '.join(html.split())[:300]}")
        if len(self.targets) > 8:
            out.append(f"      … and {len(self.targets) - 8} more")
        return out


def run_axe(page) -> list[Finding]:
    """axe-core's WCAG 2.1 A/AA violations on ``page`` as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    result = page.evaluate(
        """tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})
              .then(r => r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
                  nodes: v.nodes.map(n => [n.target.join(' '), n.html])})))""",
        AXE_TAGS,
    )
    return [Finding(v["id"], v["impact"] or "", v["help"], [tuple(n) for n in v["nodes"]], v["url"]) for v in result]


#: How the title of a page showing errors starts, per language.
ERROR_TITLE = {"fr": "Erreur :", "en": "Error:"}


def structure_findings(page, *, lang: str, errors: bool) -> list[Finding]:
    """What axe-core leaves to best practice but the issue requires: the page's language, one main landmark,
    one h1; on a refused form, a title starting with "Erreur :" and the focus on the errors."""
    facts = page.evaluate(
        """markers => ({lang: document.documentElement.lang, title: document.title,
              mains: document.querySelectorAll('main, [role=main]').length,
              h1s: Array.from(document.querySelectorAll('h1')).map(h => h.outerHTML.slice(0, 120)),
              focus: document.activeElement ? document.activeElement.outerHTML.slice(0, 160) : '',
              focusOnErrors: !!document.activeElement && document.activeElement !== document.body
                  && (document.activeElement.matches('[aria-invalid=true]')
                      || document.activeElement.matches(markers))})""",
        ERROR_MARKERS,
    )
    found = []
    if facts["lang"] != lang:
        found.append(Finding("page-lang", "serious", f"<html lang> is {facts['lang']!r}, the page is in {lang!r}"))
    if facts["mains"] != 1:
        found.append(Finding("one-main", "moderate", f"{facts['mains']} main landmarks, expected 1"))
    if len(facts["h1s"]) != 1:
        found.append(Finding("one-h1", "moderate", f"{len(facts['h1s'])} h1 headings, expected 1",
                             [("h1", h) for h in facts["h1s"]]))
    if errors and not facts["title"].startswith(ERROR_TITLE[lang]):
        found.append(Finding("error-title", "serious", f"The title of a page showing errors must start with "
                             f"{ERROR_TITLE[lang]!r}: {facts['title']!r}"))
    if errors and not facts["focusOnErrors"]:
        found.append(Finding("error-focus", "serious", "After a refused submit the focus must be on the error "
                             "summary or the first invalid field", [("document.activeElement", facts["focus"])]))
    return found


def reflow_findings(page) -> list[Finding]:
    """The page must not scroll sideways (WCAG 1.4.10): wide tables scroll inside their own box."""
    # clientWidth, not innerWidth: a phone browser widens its layout viewport to content that overflows.
    width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    if width[0] <= width[1]:
        return []
    culprits = page.evaluate(
        """limit => Array.from(document.querySelectorAll('body *'))
              .filter(e => e.getBoundingClientRect().right > limit + 1 && getComputedStyle(e).position !== 'fixed')
              .filter(e => !e.parentElement || e.parentElement.getBoundingClientRect().right <= limit + 1)
              .slice(0, 6).map(e => [e.tagName.toLowerCase() + (e.id ? '#' + e.id : '')
                  + (e.className && typeof e.className === 'string'
                     ? '.' + e.className.trim().split(/\\s+/).join('.') : ''),
                  e.outerHTML.slice(0, 200)])""",
        width[1],
    )
    return [Finding("reflow", "serious", f"The page is {width[0]}px wide in a {width[1]}px window: it scrolls "
                    "sideways (WCAG 1.4.10)", [tuple(c) for c in culprits])]


def target_size_findings(page) -> list[Finding]:
    """Stand-alone links and buttons at least 44 px high (WCAG 2.5.5, the issue's bar)."""
    small = page.evaluate(
        """([selector, minimum]) => Array.from(document.querySelectorAll(selector))
              .filter(e => { const r = e.getBoundingClientRect(); const s = getComputedStyle(e);
                             return r.width > 0 && r.height > 0 && s.visibility !== 'hidden'
                                    && !e.closest('[hidden], .d-none') && r.height < minimum - 0.5; })
              .map(e => [e.tagName.toLowerCase() + (e.className && typeof e.className === 'string'
                           ? '.' + e.className.trim().split(/\\s+/).join('.') : '')
                         + ' (' + Math.round(e.getBoundingClientRect().height) + ' px)',
                         e.outerHTML.slice(0, 200)])""",
        [STANDALONE_CONTROLS, MIN_TARGET_PX],
    )
    if not small:
        return []
    return [Finding("target-size-44", "moderate", f"Stand-alone links and buttons must be at least {MIN_TARGET_PX} px "
                    "high", [tuple(s) for s in small])]


def report(title: str, findings: list[Finding]) -> str:
    """The text printed when a page fails: which page, which rules, which elements."""
    lines = [title]
    for finding in findings:
        lines.extend(finding.lines())
    return "\n".join(lines)


def matches_any(endpoint: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(endpoint, p) for p in patterns)
