"""Benchmark of the member pages: throughput of each page next to a plain Flask page. Prints figures; asserts nothing.

Builds a scratch PostgreSQL database (the demo, the RIMON family brought to 2,000 reimbursements over ten years,
and 300,000 reimbursements of another family so that the index has to choose), then serves, side by side:

- ``bench.apps:member``: the member area as shipped, signed in as Léa RIMON (a server-side session, the cookie forged
  with the app's own serializer, as tests/helpers.py does);
- ``bench.apps:member_plain``: a plain Flask page reading one row (a member) by primary key through a pooled
  SQLAlchemy engine and rendering a small template.

Both run under gunicorn with 2 sync workers on the same machine, and the 16 clients run on the same cores (the
figures are comparable with each other, not with a production server). For each page: requests per second that 16
concurrent clients get for ``BENCH_SECONDS`` seconds, and the ratio to the plain page measured in the same minutes:
the seconds are cut in ``BENCH_SLICES`` slices alternating (in random order) with as many slices of the plain page,
because the machine's load drifts (the plain page alone varied from 900 to 1,900 req/s between two minutes of one
run on the shared 2-core machine). The bar of issue 7: every ratio >= 0.5.

Pages measured: every GET page of the member area without a parameter in its URL (read from the app's url_map, so
that pages added later are measured without editing this file), the pages with parameters listed in
``PARAMETERS``, and ``EXTRA_PAGES``; sign-in pages, downloads and JSON are left out (``SKIPPED``).

    python -m bench.member_pages_bench                 # PG_ADMIN_DSN=postgresql://postgres@127.0.0.1:5432/postgres
    BENCH_REUSE=1 python -m bench.member_pages_bench   # keep the database of the previous run
    BENCH_PAGES=reimbursements,home python -m bench.member_pages_bench   # only these pages (names as printed)
"""

from __future__ import annotations

import os
import random
import re
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
from sqlalchemy import select, text

from bench.backoffice_bench import fetch, served, throughput
from bench.scratch import ADMIN, fresh_database

NAME = os.environ.get("BENCH_DB", "mese_bench_member")
REUSE = os.environ.get("BENCH_REUSE") == "1"
SECONDS = float(os.environ.get("BENCH_SECONDS", 8))
#: Each page's seconds are cut in slices alternating with the plain page's, so both see the same machine load.
SLICES = int(os.environ.get("BENCH_SLICES", 4))
CLIENTS = 16
FIELD_KEY = "YmVuY2gtb25seS1rZXktMzItYnl0ZXMtbG9uZy0hISE="
SECRET = "bench-member-secret"
PORTS = {"member": 8441, "member_plain": 8442}
FILES_DIR = Path(tempfile.gettempdir()) / "mese_bench_member_files"
FAMILY_ROWS = 2000
OTHER_ROWS = 300_000

#: Endpoints never measured: sign-in steps, actions, downloads and JSON.
SKIPPED = ("static", "health", "auth.", "*.pdf", "*.csv", "*_pdf", "*_csv", "*.download", "*.file", "*.guarantees",
           "my_requests.show", "hospital_coverage.show",
           "bank_change.confirm")  # the code page of a change typed in the same session (else a redirect)
#: Values of URL parameters, by name: a SQL query on the demo data returning the value for Léa RIMON.
PARAMETERS = {
    "contract_id": "SELECT c.id FROM contract c JOIN member m ON m.id = c.member_id WHERE m.number = '4400000' "
                   "ORDER BY c.id LIMIT 1",
    "beneficiary_id": "SELECT b.id FROM beneficiary b JOIN member m ON m.id = b.member_id "
                      "WHERE m.number = '4400000' AND b.role = 'spouse'",
}
#: Pages measured beyond the url_map's: (name, path).
EXTRA_PAGES = [
    ("reimbursements, filtered by kind of care", "/mes-remboursements?soins=pharmacy"),
    ("reimbursements, page 20", "{page_20}"),
]


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "FIELD_ENCRYPTION_KEY": FIELD_KEY, "MEMBER_SECRET_KEY": SECRET,
            "COOKIE_SECURE": "false", "REDIS_URL": "", "RATELIMIT_STORAGE_URL": "memory://",
            "FILES_DIR": str(FILES_DIR), "PYTHONPATH": os.getcwd()}


def _models_config(url: str):
    from models.config import ModelsConfig

    return ModelsConfig(database_url=url, field_key=FIELD_KEY, files_dir=FILES_DIR)


def build(url: str) -> None:
    """The demo, Léa's family brought to ``FAMILY_ROWS`` reimbursements over ten years, another family's filler."""
    from models.contracts.entities import Reimbursement
    from models.contracts.operations import record_reimbursements, refresh_reimbursement_totals
    from models.db import session_factory
    from models.demo import load_demo
    from models.demo_consult_refunds import family_reimbursements
    from models.members.entities import Member

    started = time.monotonic()
    with session_factory(_models_config(url))() as session:
        load_demo(session, now=datetime.now(UTC))
        session.commit()
        lea = session.scalar(select(Member).where(Member.number == "4400000"))
        have = session.scalar(select(text("count(*)")).select_from(Reimbursement).where(
            Reimbursement.member_id == lea.id))
        record_reimbursements(session, family_reimbursements(lea, date.today(), random.Random(10),
                                                             count=FAMILY_ROWS - have, days=3650))
        michel = session.scalar(select(Member).where(Member.number == "4400001"))
        person = michel.beneficiaries[0].id
        session.commit()
        session.execute(text(f"""
            INSERT INTO reimbursement (member_id, beneficiary_id, care_on, act, care_kind, spent_cents,
                                       social_security_cents, mese_cents, left_to_pay_cents, paid_to, paid_on)
            SELECT {michel.id}, {person}, current_date - (g % 3650), 'Pharmacie', 'pharmacy', 2480, 1612, 868, 0,
                   'professional', current_date - (g % 3650) + 3
            FROM generate_series(1, {OTHER_ROWS}) g"""))
        refresh_reimbursement_totals(session, [michel.id])
        session.commit()
    # VACUUM too: autovacuum may be off (it is on the project's machines), and without a visibility map the
    # totals' covering index is not read as an index-only scan, as it is on a database in service.
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    print(f"  built in {time.monotonic() - started:.0f} s")


def member_cookie(url: str) -> tuple[str, int]:
    """A signed-in session cookie of Léa RIMON (French), as her browser holds it after a first page, and her
    member id.

    The benchmark's clients keep the cookie a page sends back (bench.backoffice_bench.kept_cookie), as a browser
    does; the first one is taken as it stands after one page (the sign-out form's CSRF token drawn, Flask-Login's
    mark of a session whose device it did not see sign in): sending the freshly forged one every time would have
    every page write these into the session and sign a new cookie, which a browser's second page never does."""
    from member_app import create_app
    from member_app.config import MemberAppConfig
    from models.db import session_factory
    from models.members.entities import Member
    from models.sessions.operations import open_session

    config = MemberAppConfig.from_env(_env(url))
    app = create_app(config)
    serializer = app.session_interface.get_signing_serializer(app)
    with session_factory(_models_config(url))() as session:
        lea = session.scalar(select(Member).where(Member.number == "4400000"))
        key = open_session(session, member_id=lea.id, policy=config.session_policy(), ip="127.0.0.1",
                           user_agent="bench", now=datetime.now(UTC))
        session.commit()
        value = serializer.dumps({"_user_id": key, "_fresh": True, "auth_complete": True, "lang": "fr"})
    name = app.config["SESSION_COOKIE_NAME"]
    browser = app.test_client()
    browser.set_cookie(name, value)
    assert browser.get("/", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    return f"{name}={browser.get_cookie(name).value}", lea.id


def _skipped(endpoint: str) -> bool:
    for pattern in SKIPPED:
        if pattern.startswith("*") and endpoint.endswith(pattern[1:]):
            return True
        if pattern.endswith(".") and endpoint.startswith(pattern):
            return True
        if endpoint == pattern:
            return True
    return False


def pages(url: str) -> list[tuple[str, str]]:
    """(name, path) of every member page measured."""
    from member_app import create_app
    from member_app.config import MemberAppConfig
    from models.db import session_factory

    app = create_app(MemberAppConfig.from_env(_env(url)))
    with session_factory(_models_config(url))() as session:
        values = {name: session.scalar(text(sql)) for name, sql in PARAMETERS.items()}
    found, left_out = [], []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if "GET" not in rule.methods or _skipped(rule.endpoint):
            continue
        if any(values.get(arg) is None for arg in rule.arguments):
            left_out.append(rule.endpoint)
            continue
        with app.test_request_context():
            from flask import url_for

            found.append((rule.endpoint, url_for(rule.endpoint, **{a: values[a] for a in rule.arguments})))
    if left_out:
        print(f"  not measured (no value for their URL parameters; add one to PARAMETERS): {', '.join(left_out)}")
    return found


def _page_20(cookie: str) -> str:
    """The address of the 20th page of Léa's reimbursements (its keyset cursor), followed from the first."""
    path = "/mes-remboursements"
    for _ in range(19):
        _s, body, _ms, _h = fetch(PORTS["member"], path, cookie)
        path = re.search(rb'href="(/mes-remboursements\?apres=[^"]+)"', body).group(1).decode().replace("&amp;", "&")
    return path


def main() -> None:
    url = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{NAME}"
    os.environ.update(FIELD_ENCRYPTION_KEY=FIELD_KEY)
    if not REUSE:
        print(f"building {NAME}:")
        url = fresh_database(NAME)
        build(url)
    cookie, member_id = member_cookie(url)
    found = pages(url)
    wanted = [p.strip() for p in os.environ.get("BENCH_PAGES", "").split(",") if p.strip()]
    env = _env(url)
    with served("member", PORTS["member"], url, env=env), served("member_plain", PORTS["member_plain"], url, env=env):
        extra = [(name, path.format(page_20=_page_20(cookie)) if "{" in path else path) for name, path in EXTRA_PAGES]
        found = [(n, p) for n, p in found + extra if not wanted or any(w in n for w in wanted)]
        plain_path = f"/plain/{member_id}"
        measured = []
        for name, path in found:  # warm-up: both workers, every page; a page that is not a 200 is left out, said
            statuses = {fetch(PORTS["member"], path, cookie)[0] for _ in range(4)}
            if statuses != {200}:
                print(f"  not measured: {name} {path}: status {sorted(statuses)} (a step before it is needed)")
            elif path not in {p for _n, p in measured}:
                measured.append((name, path))
        found = measured
        for _ in range(8):
            fetch(PORTS["member_plain"], plain_path)
        print(f"\nThroughput under {CLIENTS} concurrent clients, {SECONDS:.0f} s each (gunicorn 2 sync workers each, "
              f"clients on the same cores; page and plain page in {SLICES} alternating slices); bar: ratio >= 0.5")
        print(f"  {'page':<44}{'req/s':>8}{'plain':>8}{'ratio':>7}{'1 req ms':>10}  bar  path")
        results = []
        for name, path in found:
            _s, _b, ms, _h = fetch(PORTS["member"], path, cookie)
            rates = {"page": 0.0, "plain": 0.0}
            for _slice in range(SLICES):
                for label in random.sample(list(rates), 2):
                    port, target, who = ((PORTS["member"], path, cookie) if label == "page"
                                         else (PORTS["member_plain"], plain_path, ""))
                    rates[label] += throughput(port, target, who, SECONDS / SLICES, CLIENTS) / SLICES
            ratio = rates["page"] / rates["plain"]
            results.append(ratio)
            print(f"  {name:<44}{rates['page']:8.1f}{rates['plain']:8.1f}{ratio:7.2f}{ms:10.1f}  "
                  f"{'ok ' if ratio >= 0.5 else 'LOW'}  {path[:56]}", flush=True)
    print(f"  lowest ratio {min(results):.2f}, median {sorted(results)[len(results) // 2]:.2f}")


if __name__ == "__main__":
    main()
