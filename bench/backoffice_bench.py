"""Benchmark of the back office at a million requests: lists, throughput, CSV export. Prints figures; asserts nothing.

Builds a scratch PostgreSQL database (1,000,000 hospital coverage requests, 100,000 of each other type, 100,000
members with encrypted NIRs, 1,000,000 outbox messages and audit events: ``bench/data.py``), then serves three
applications with gunicorn (2 sync workers each, ``bench/apps.py``) and measures, in one run:

1. every list of the back office (first page, page 2,000, a filter, a search), in the product, next to a plain
   Flask page rendering the same 20 rows from an in-memory list (the two fetched in turn), and next to a plain
   Flask-Admin ``ModelView`` of the same table (with its count and OFFSET, as it comes; fetched after them);
2. the throughput of the coverage queue's first page under 16 concurrent clients, next to the plain ModelView's;
3. the CSV export of the 1,000,000 coverage requests (seconds, peak memory of the serving process), next to
   ``psql \\copy`` of the same query.

    python -m bench.backoffice_bench            # PG_ADMIN_DSN=postgresql://postgres@127.0.0.1:5432/postgres
    BENCH_REUSE=1 python -m bench.backoffice_bench    # keep the database of the previous run
"""

from __future__ import annotations

import http.client
import os
import random
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from urllib.parse import urlencode

from sqlalchemy import text

from bench.data import Volumes, fill
from bench.scratch import ADMIN, fresh_database

NAME = os.environ.get("BENCH_DB", "mese_bench_reports")
REUSE = os.environ.get("BENCH_REUSE") == "1"
#: Fetches of each page and of its plain page, in turn (median of each). With 15, a case's ratio moved by up to 1.5
#: between two runs a few minutes apart on the same code (the documents' page 2,000: 3.99, 2.95, 2.51 on
#: 2026-12-02); 61 take a few seconds more in all.
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 61))
#: Fetches of each ModelView page (slow: up to a second each).
MODELVIEW_ROUNDS = 3
#: Fetches of a product page before it is measured: psycopg prepares a statement at its fifth execution on a
#: connection, and each of the two workers has its own (20 fetches leave a worker fewer than 5 once in 170).
WARM_UP = 20
FIELD_KEY = "YmVuY2gtb25seS1rZXktMzItYnl0ZXMtbG9uZy0hISE="  # 32 bytes, this benchmark's own
SECRET = "bench-backoffice-secret"
PORTS = {"product": 8431, "plain": 8432, "modelview": 8433, "export": 8434, "product_memory": 8435,
         "product_every_read": 8436}
PAGE = 2000
SIZE = 20


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "FIELD_ENCRYPTION_KEY": FIELD_KEY, "BACKOFFICE_SECRET_KEY": SECRET,
            "COOKIE_SECURE": "false", "BACKOFFICE_IDLE_MINUTES": "600", "REDIS_URL": "",
            "RATELIMIT_STORAGE_URL": "memory://", "PYTHONPATH": os.getcwd()}


@contextmanager
def served(app: str, port: int, url: str, workers: int = 2, env: dict[str, str] | None = None):
    """gunicorn serving ``bench.apps:<app>`` on ``port`` until the block ends (``env``: the environment of the
    server, default this benchmark's)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(workers), "-k", "sync", "-b", f"127.0.0.1:{port}",
         "--timeout", "300", "--log-level", "warning", f"bench.apps:{app}"], env=env or _env(url))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                http.client.HTTPConnection("127.0.0.1", port, timeout=2).request("GET", "/")
                break
            except OSError:
                time.sleep(0.3)
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def fetch(port: int, path: str, cookie: str = "", method: str = "GET", body: bytes | None = None,
          headers: dict | None = None) -> tuple[int, bytes, float, dict]:
    """One request on a new connection (as gunicorn's sync workers close each one): status, body, ms, headers."""
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    connection.request(method, path, body=body, headers={"Cookie": cookie, **(headers or {})})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response.status, data, (time.perf_counter() - started) * 1000, dict(response.getheaders())


# -- sessions and URLs ---------------------------------------------------------------------------------------


def kept_cookie(cookie: str, headers: dict) -> str:
    """``cookie`` ("name=value") as a browser holds it after a response with ``headers``: replaced by the session
    cookie the page sent back, if any (the last activity is written in it once a minute)."""
    name = cookie.split("=", 1)[0]
    sent = headers.get("Set-Cookie", "")
    if name and sent.startswith(name + "="):
        return sent.split(";", 1)[0]
    return cookie


def cookies(url: str) -> dict[str, str]:
    """A signed-in session cookie of the back office for an agent, a manager and an admin of the data."""
    from backoffice import create_app
    from backoffice.config import BackofficeConfig
    from models.config import ModelsConfig
    from models.db import session_factory
    from models.sessions.operations import open_session

    config = BackofficeConfig.from_env(_env(url))
    app = create_app(config)
    serializer = app.session_interface.get_signing_serializer(app)
    with app.test_request_context(environ_base={"REMOTE_ADDR": "127.0.0.1"}):
        # The mark of the device that signed in, as Flask-Login writes it at sign-in (the benchmark's clients send
        # no User-Agent): without it every page would find a "new device" and sign the cookie again.
        device = app.login_manager._session_identifier_generator()
    found = {}
    with session_factory(ModelsConfig(database_url=url, field_key=FIELD_KEY))() as session:
        for role, staff_id in (("agent", 3), ("manager", 41), ("admin", 46)):
            key = open_session(session, staff_id=staff_id, policy=config.session_policy(), ip="127.0.0.1",
                               user_agent="bench", now=datetime.now(UTC))
            value = serializer.dumps({"_user_id": key, "_fresh": True, "_id": device, "auth_complete": True,
                                      "last_seen": int(time.time())})
            found[role] = f"mese_backoffice={value}"
        session.commit()
    return found


def deep_cursor(session, sql: str) -> str:
    """The keyset cursor of the page after the row at position 39,980 (the URL of page 2,000)."""
    from models.pagination import encode_cursor

    return encode_cursor(list(session.execute(text(sql + f" OFFSET {PAGE * SIZE - SIZE - 1} LIMIT 1")).one()))


def cases(url: str) -> list[tuple[str, str, str, str, str]]:
    """(list, case, who, product path, ModelView path) for each measured page."""
    from models.config import ModelsConfig
    from models.db import session_factory

    found = []
    queues = [("hospital_coverage", "/prises-en-charge/", "hospital_coverage_request"),
              ("documents", "/depots-documents/", "document_submission"),
              ("contact", "/messages/", "contact_request"),
              ("bank_details", "/coordonnees-bancaires/", "bank_detail_change_request"),
              ("teletransmission", "/teletransmission/", "teletransmission_request")]
    with session_factory(ModelsConfig(database_url=url, field_key=FIELD_KEY))() as s:
        def one(sql):
            return s.execute(text(sql)).scalar()

        for name, path, table in queues:
            ref = one(f"SELECT reference FROM {table} WHERE status = 'done' ORDER BY id LIMIT 1 OFFSET 5000")
            cursor = deep_cursor(s, f"SELECT created_at, id FROM {table} ORDER BY created_at, id")
            mv = f"/admin/{table}/"
            found += [
                (name, "first page (open)", "manager", f"/backoffice{path}", mv),
                (name, "page 2,000 (all)", "manager",
                 f"/backoffice{path}?" + urlencode({"flt0_0": "all", "page": PAGE - 1, "apres": cursor}),
                 mv + f"?page={PAGE - 1}"),
                (name, "status = done", "manager", f"/backoffice{path}?flt0_0=done", mv + "?flt0_0=done"),
                (name, "search reference", "manager", f"/backoffice{path}?search={ref}", mv + f"?search={ref}"),
            ]
            if name == "hospital_coverage":
                number = one("SELECT number FROM member WHERE id = 4242")
                found += [
                    (name, "first page (open), agent", "agent", f"/backoffice{path}", mv),
                    (name, "status = done, agent", "agent", f"/backoffice{path}?flt0_0=done", mv + "?flt0_0=done"),
                    (name, "all statuses, agent", "agent", f"/backoffice{path}?flt0_0=all", mv),
                    (name, "search member number", "manager", f"/backoffice{path}?search={number}",
                     mv + f"?search={number}"),
                ]
        related = one("SELECT related FROM outbox_message WHERE related IS NOT NULL ORDER BY id LIMIT 1 OFFSET 9000")
        cursor = deep_cursor(s, "SELECT id FROM outbox_message ORDER BY id DESC")
        found += [
            ("outbox", "first page", "manager", "/backoffice/envois/", "/admin/outbox_message/"),
            ("outbox", "page 2,000", "manager", "/backoffice/envois/?" + urlencode({"page": PAGE - 1, "apres": cursor}),
             f"/admin/outbox_message/?page={PAGE - 1}"),
            ("outbox", "status = dead", "manager", "/backoffice/envois/?flt0_0=dead",
             "/admin/outbox_message/?flt0_0=dead"),
            ("outbox", "search request", "manager", f"/backoffice/envois/?search={related}",
             f"/admin/outbox_message/?search={related}"),
        ]
        cursor = deep_cursor(s, "SELECT at, id FROM audit_event ORDER BY at DESC, id DESC")
        found += [
            ("audit", "first page", "manager", "/backoffice/journal/", "/admin/audit_event/"),
            ("audit", "page 2,000", "manager", "/backoffice/journal/?" + urlencode({"page": PAGE - 1, "apres": cursor}),
             f"/admin/audit_event/?page={PAGE - 1}"),
            ("audit", "action = backoffice.exported", "manager", "/backoffice/journal/?flt0_0=backoffice.exported",
             "/admin/audit_event/?flt0_0=backoffice.exported"),
            ("staff", "first page", "admin", "/backoffice/personnel/", "/admin/staff_user/"),
            ("staff", "search", "admin", "/backoffice/personnel/?search=agent1", "/admin/staff_user/?search=agent1"),
            ("exports", "first page", "manager", "/backoffice/mes-exports/", "/admin/export_job/"),
        ]
    return found


def modelview_filter_args(url: str, found):
    """Flask-Admin names its filters by position ('flt0_<n>'): put the "equals" filter of each table in the paths."""
    from flask_admin.contrib.sqla.filters import FilterEqual

    os.environ.update(DATABASE_URL=url, FIELD_ENCRYPTION_KEY=FIELD_KEY)
    from bench.apps import _modelview

    views = {view.endpoint: view for view in _modelview().extensions["admin"][0]._views}
    out = []
    for name, case, who, product, modelview in found:
        if "?flt0_" in modelview:
            view = views[modelview.split("/")[2]]
            arg = next(key for key, (_i, flt) in view._filter_args.items() if type(flt) is FilterEqual)
            modelview = modelview.split("?")[0] + f"?flt0_{arg}={modelview.split('=', 1)[1]}"
        out.append((name, case, who, product, modelview))
    return out


# -- measures ------------------------------------------------------------------------------------------------


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) if samples else float("nan")


def lists(found, session_cookies) -> None:
    print(f"\n1. Lists (ms per page over HTTP; gunicorn 2 sync workers each). For each case: the product page and the "
          f"plain page fetched {WARM_UP} and 2 times (each worker has made the page's statements and frame, psycopg has "
          f"prepared them on its connection, and the audit event of the minute is written), then in turn, in random "
          f"order, {ROUNDS} times each (median); the ModelView "
          f"after them, {MODELVIEW_ROUNDS} times (median), never between the two: its slow requests leave the "
          f"machine busy (its worker frees its objects after the response) and slow whichever request comes next.")
    print(f"{'list':<18}{'case':<30}{'product':>9}{'plain':>8}{'ratio':>7}{'ModelView':>11}  status")
    for name, case, who, product, modelview in found:
        timings = {"product": [], "plain": [], "modelview": []}
        statuses = set()
        targets = [("product", PORTS["product"], product), ("plain", PORTS["plain"], f"/plain/{name}")]
        for label, port, path in targets * 2 + targets[:1] * (WARM_UP - 2):
            _status, _body, _ms, headers = fetch(port, path, session_cookies[who] if label == "product" else "")
            if label == "product":
                session_cookies[who] = kept_cookie(session_cookies[who], headers)
        for _round in range(ROUNDS):
            random.shuffle(targets)
            for label, port, path in targets:
                status, _body, ms, headers = fetch(port, path, session_cookies[who] if label == "product" else "")
                timings[label].append(ms)
                if label == "product":
                    statuses.add(status)
                    session_cookies[who] = kept_cookie(session_cookies[who], headers)
        for _round in range(MODELVIEW_ROUNDS):
            timings["modelview"].append(fetch(PORTS["modelview"], modelview)[2])
        p, f, m = (median_ms(timings[k]) for k in ("product", "plain", "modelview"))
        print(f"{name:<18}{case:<30}{p:9.1f}{f:8.1f}{p / f:7.2f}{m:11.1f}  {sorted(statuses)}")


def throughput(port: int, path: str, cookie: str, seconds: float = 10.0, clients: int = 16) -> float:
    """Requests per second that ``clients`` concurrent clients get for ``seconds``."""
    done, stop = [0] * clients, time.monotonic() + seconds

    def client(i: int) -> None:
        held = cookie
        while time.monotonic() < stop:
            status, _b, _ms, headers = fetch(port, path, held)
            held = kept_cookie(held, headers)
            if status == 200:
                done[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - started)


def peak_rss_mb(master_pid: int) -> float:
    """The highest peak RSS (VmHWM) of the gunicorn workers of ``master_pid``, in MB."""
    peak = 0.0
    for child in subprocess.run(["pgrep", "-P", str(master_pid)], capture_output=True, text=True).stdout.split():
        with open(f"/proc/{child}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) / 1024)
    return peak


def csv_export(url: str, cookie: str) -> None:
    from sqlalchemy.dialects import postgresql

    from models.reports.queries import ExportFilters, copy_sql, export_query, first_request_day
    from models.config import ModelsConfig
    from models.db import session_factory
    from models.requests.workflow import local_today

    filters = ExportFilters(kind="requests", types=("hospital_coverage",))
    with session_factory(ModelsConfig(database_url=url, field_key=FIELD_KEY))() as s:
        query = export_query(filters, postgresql=True, today=local_today(datetime.now(UTC)),
                             first_day=first_request_day(s))
    sql = copy_sql(query, postgresql.dialect())
    select_sql = sql[len("COPY ("):sql.rindex(") TO STDOUT")].replace("\n", " ")
    psql_command = f"\\copy ({select_sql}) to stdout with (format csv, delimiter ';')"
    print("\n3. CSV export of the 1,000,000 coverage requests (gunicorn, 1 sync worker, fresh for each round)")
    rows = []
    for _round in range(3):
        for target in random.sample(["product", "psql"], 2):
            if target == "psql":
                started = time.perf_counter()
                out = subprocess.run(["psql", ADMIN.rsplit("/", 1)[0] + f"/{NAME}", "-X", "-q", "-c", psql_command],
                                     stdout=subprocess.PIPE, check=True)
                rows.append(("psql", time.perf_counter() - started, None, None, len(out.stdout)))
                continue
            with served("product", PORTS["export"], url, workers=1) as server:
                status, page, _ms, headers = fetch(PORTS["export"], "/backoffice/exports/", cookie)
                token = re.search(rb'name="csrf_token" value="([^"]+)"', page).group(1).decode()
                session_cookie = headers.get("Set-Cookie", "").split(";")[0] or cookie
                before = peak_rss_mb(server.pid)
                body = urlencode({"kind": "requests", "request_types": "hospital_coverage", "export_format": "csv",
                                  "csrf_token": token}).encode()
                started = time.perf_counter()
                connection = http.client.HTTPConnection("127.0.0.1", PORTS["export"], timeout=600)
                connection.request("POST", "/backoffice/exports/", body=body, headers={
                    "Cookie": session_cookie, "Content-Type": "application/x-www-form-urlencoded"})
                response = connection.getresponse()
                first_byte = time.perf_counter() - started
                size = 0
                while chunk := response.read(1 << 16):
                    size += len(chunk)
                elapsed = time.perf_counter() - started
                connection.close()
                rows.append(("product", elapsed, first_byte, (before, peak_rss_mb(server.pid)), size))
    for target in ("product", "psql"):
        mine = [r for r in rows if r[0] == target]
        seconds = statistics.median(r[1] for r in mine)
        fastest, slowest = min(r[1] for r in mine), max(r[1] for r in mine)
        line = f"  {target:<8} median {seconds:6.2f} s  (min {fastest:.2f}, max {slowest:.2f})"
        line += f"  {statistics.median(r[4] for r in mine) / 1e6:.0f} MB of CSV"
        if target == "product":
            line += (f"; first byte after {statistics.median(r[2] for r in mine) * 1000:.0f} ms; peak RSS of the "
                     f"serving worker {max(r[3][1] for r in mine):.0f} MB (after one page: "
                     f"{max(r[3][0] for r in mine):.0f} MB)")
        print(line)
    product = statistics.median(r[1] for r in rows if r[0] == "product")
    psql = statistics.median(r[1] for r in rows if r[0] == "psql")
    print(f"  ratio product / psql \\copy: {product / psql:.2f}")


def where_the_time_goes(url: str, session_cookies) -> None:
    """The coverage queue's first page in the product; in the product writing the audit event of every read
    (bench.apps:product_every_read: the product leaves out an identical read repeated within a minute); and in the
    product with its 20 rows kept in memory and no audit write (bench.apps:product_memory): the part of the page
    its data costs."""
    path, cookie = "/backoffice/prises-en-charge/", session_cookies["manager"]
    labels = ("product", "product_every_read", "product_memory", "plain")
    with served("product", PORTS["product"], url), served("product_every_read", PORTS["product_every_read"], url), \
            served("product_memory", PORTS["product_memory"], url), served("plain", PORTS["plain"], url):
        for label in labels:
            for _ in range(4):
                fetch(PORTS[label], path if label != "plain" else "/plain/hospital_coverage", cookie)
        samples = {label: [] for label in labels}
        for _round in range(ROUNDS * 3):
            for label in random.sample(labels, len(labels)):
                target = "/plain/hospital_coverage" if label == "plain" else path
                _status, _body, ms, headers = fetch(PORTS[label], target, cookie)
                samples[label].append(ms)
                cookie = kept_cookie(cookie, headers)
        product, every, memory, plain = (median_ms(samples[k]) for k in labels)
        print("\n1b. Where the time of a list page goes (coverage queue, first page, ms, median)")
        print(f"  product {product:.1f}   same page, audit event written for every read {every:.1f}   "
              f"same page, rows kept in memory and no audit write {memory:.1f}   plain Flask page {plain:.1f}")
        print(f"  data (query and audit) {product - memory:.1f} ms ({every - memory:.1f} ms when every read is "
              f"written); signed-in Flask-Admin page without data {memory - plain:.1f} ms; ratio product / page "
              f"without data {product / memory:.2f}; every read written / plain {every / plain:.2f}")
        memory_rate = throughput(PORTS["product_memory"], path, cookie)
        every_rate = throughput(PORTS["product_every_read"], path, cookie)
        print(f"  throughput of the page without data: {memory_rate:.1f} req/s; with every read written: "
              f"{every_rate:.1f} req/s")


def main() -> None:
    url = ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{NAME}"
    if not REUSE:
        print(f"building {NAME}:")
        url = fresh_database(NAME)
        fill(url, Volumes(), field_key=FIELD_KEY)
    session_cookies = cookies(url)
    with served("product", PORTS["product"], url), served("plain", PORTS["plain"], url), \
            served("modelview", PORTS["modelview"], url):
        found = modelview_filter_args(url, cases(url))
        for name, case, who, product, modelview in found:  # warm-up: every page once, both workers
            for _ in range(2):
                fetch(PORTS["product"], product, session_cookies[who])
                fetch(PORTS["plain"], f"/plain/{name}")
        lists(found, session_cookies)
        print("\n2. Throughput of the coverage queue's first page, 16 concurrent clients, 10 s each "
              "(gunicorn 2 sync workers; the clients run on the same 2 cores)")
        product = throughput(PORTS["product"], "/backoffice/prises-en-charge/", session_cookies["manager"])
        modelview = throughput(PORTS["modelview"], "/admin/hospital_coverage_request/", "")
        plain = throughput(PORTS["plain"], "/plain/hospital_coverage", "")
        print(f"  product {product:7.1f} req/s   plain ModelView {modelview:6.1f} req/s   "
              f"ratio {product / modelview:5.1f}   (plain Flask page: {plain:.0f} req/s)")
    where_the_time_goes(url, session_cookies)
    csv_export(url, session_cookies["manager"])


if __name__ == "__main__":
    main()
