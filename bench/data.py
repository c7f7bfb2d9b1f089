"""Realistic volumes for the benchmarks, built with SQL (generate_series, COPY), never with ORM loops.

``fill(url)`` writes into a freshly migrated database: staff (agents, managers, admins), members whose NIRs are
really encrypted with ``models.crypto`` (so that every page that shows a member can read them), one principal
beneficiary each, requests of the five types (the newest 3 % open, as in a working back office), outbox messages
and audit events. Dates spread over two years; every row points at rows that exist.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psycopg

from models import crypto
from models.formats import compact

AGENTS, MANAGERS, ADMINS = 40, 5, 2
#: The share of the newest requests still open (new, in progress, waiting for the member).
OPEN_SHARE = 0.03
SPAN_DAYS = 730


@dataclass(frozen=True)
class Volumes:
    """How many rows of each kind to build."""

    members: int = 100_000
    coverage: int = 1_000_000
    #: Rows of each of the four other request types.
    other_requests: int = 100_000
    outbox: int = 1_000_000
    audit: int = 1_000_000


def _dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def nir_of(n: int) -> str:
    """A well-formed 13-digit NIR for member ``n`` (sex, year, month, department, commune, order)."""
    return f"{1 + n % 2}{50 + n % 50:02d}{1 + n % 12:02d}38{n % 1000:03d}{(n * 7) % 1000:03d}"


def _staff(cur) -> None:
    cur.execute("""
        INSERT INTO staff_user (email, full_name, role, password_hash, password_set_at, active, failed_login_count,
                                created_at, updated_at)
        SELECT CASE WHEN g <= %(a)s THEN 'agent' || g WHEN g <= %(a)s + %(m)s THEN 'manager' || g ELSE 'admin' || g END
                 || '@bench.mese',
               CASE WHEN g <= %(a)s THEN 'Agent ' WHEN g <= %(a)s + %(m)s THEN 'Responsable ' ELSE 'Admin ' END
                 || lpad(g::text, 2, '0'),
               CASE WHEN g <= %(a)s THEN 'agent' WHEN g <= %(a)s + %(m)s THEN 'manager' ELSE 'admin' END,
               'bench-no-password', now(), true, 0, now(), now()
        FROM generate_series(1, %(a)s + %(m)s + %(d)s) g""", {"a": AGENTS, "m": MANAGERS, "d": ADMINS})


def _members(conn, members: int) -> None:
    with conn.cursor() as cur, cur.copy(
            "COPY member (number, civility, first_name, last_name, birth_date, nir, nir_index, email, "
            "mobile_verified, address_line, postcode, city, language, second_factor, failed_login_count, "
            "created_at, updated_at) FROM STDIN") as copy:
        for n in range(1, members + 1):
            nir = nir_of(n)
            copy.write_row((str(4_000_000 + n), "Madame" if n % 2 else "Monsieur", f"Prénom{n}", f"NOM{n}",
                            f"{1950 + n % 50}-{1 + n % 12:02d}-{1 + n % 28:02d}", crypto.encrypt(nir),
                            crypto.blind_index(nir), f"m{n}@example.test", False, f"{n} rue des Alpes", "38000",
                            "Grenoble", "fr", "sms", 0, "2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"))
    conn.execute("""
        INSERT INTO beneficiary (member_id, role, first_name, last_name, birth_date, organism_number,
                                 teletransmission_active, created_at, updated_at)
        SELECT id, 'principal', first_name, last_name, birth_date, '381', false, created_at, created_at
        FROM member ORDER BY id""")


#: Columns every request type shares, as a SELECT over generate_series(1, n) g (see _requests).
_COMMON = """
  %(prefix)s || '-' || to_char(c.at, 'YYYY') || '-' || lpad(g::text, 7, '0') AS reference,
  CASE WHEN g > %(n)s - %(open)s THEN (ARRAY['in_progress', 'new', 'waiting_member'])[1 + g %% 3]
       WHEN g %% 50 = 0 THEN 'rejected' ELSE 'done' END AS status,
  c.at AS created_at, c.at AS updated_at,
  ((c.at AT TIME ZONE 'Europe/Paris')::date + 2 + (g %% 3)) AS due_on,
  CASE WHEN g > %(n)s - %(open)s AND g %% 3 = 1 THEN NULL ELSE c.at + interval '2 hours' END AS claimed_at,
  CASE WHEN g > %(n)s - %(open)s THEN NULL ELSE c.at + (1 + g %% 7) * interval '1 day' END AS closed_at,
  CASE WHEN g > %(n)s - %(open)s AND g %% 3 = 2 THEN c.at + interval '1 day' END AS waiting_since,
  1 + (g::bigint * 7919) %% %(members)s AS member_id,
  CASE WHEN g > %(n)s - %(open)s AND g %% 3 = 1 THEN NULL ELSE 1 + g %% %(agents)s END AS assigned_to_id
"""
_FROM = """
FROM generate_series(1, %(n)s) g,
     LATERAL (SELECT now() - interval '1 hour' - (%(n)s - g) * (%(span)s * interval '1 day' / %(n)s) AS at) c
"""
_COLUMNS = ("reference, status, created_at, updated_at, due_on, claimed_at, closed_at, waiting_since, member_id, "
            "assigned_to_id")
_TYPES = {
    "hospital_coverage_request": ("PEC", "beneficiary_id, establishment_name, finess, start_on, admission_fax, "
                                  "no_coverage_notice_shown",
                                  "1 + (g::bigint * 7919) %% %(members)s, 'Clinique ' || (g %% 900), '380780080', "
                                  "(c.at AT TIME ZONE 'Europe/Paris')::date + 10, '0476000000', false"),
    "document_submission": ("DOC", "category_id, type_id, beneficiary_id, comment",
                            "1, 1 + g %% 3, 1 + (g::bigint * 7919) %% %(members)s, ''"),
    "contact_request": ("CTC", "reason_id, beneficiary_id, message",
                        "1 + g %% 3, 1 + (g::bigint * 7919) %% %(members)s, "
                        "'Bonjour, une question sur mes remboursements.'"),
    "bank_detail_change_request": ("RIB", "beneficiary_id, holder, iban, bic, confirmed_by",
                                   "NULL, 'Titulaire ' || g, (%(ibans)s::text[])[1 + g %% 100], 'CCBPFRPPGRE', 'sms'"),
    "teletransmission_request": ("TLT", "beneficiary_id", "1 + (g::bigint * 7919) %% %(members)s"),
}


def _requests(conn, table: str, n: int, members: int) -> None:
    if not n:
        return
    prefix, columns, values = _TYPES[table]
    ibans = [crypto.encrypt(compact(f"FR76 3000 6000 01{i:02d} 2345 6789 {i % 90 + 10:03d}"))
             for i in range(100)]
    conn.execute(f"INSERT INTO {table} ({_COLUMNS}, {columns}) SELECT {_COMMON}, {values} {_FROM}",
                 {"prefix": prefix, "n": n, "open": int(n * OPEN_SHARE), "members": members, "agents": AGENTS,
                  "span": SPAN_DAYS, "ibans": ibans})


def _content(conn) -> None:
    conn.execute("INSERT INTO document_category (name, position, active) VALUES ('Santé', 1, true)")
    conn.execute("INSERT INTO document_type (category_id, name, position, active) "
                 "VALUES (1, 'Facture', 1, true), (1, 'Devis', 2, true), (1, 'Attestation', 3, true)")
    conn.execute("INSERT INTO contact_reason (name, position, active) "
                 "VALUES ('Remboursements', 1, true), ('Cotisations', 2, true), ('Autre', 3, true)")


def _outbox(conn, n: int, members: int) -> None:
    if not n:
        return
    conn.execute("""
        INSERT INTO outbox_message (channel, recipient, subject, text_body, attachments, template, member_id, related,
                                    status, attempts, last_error, created_at, next_attempt_at, sent_at, secret)
        SELECT CASE WHEN g %% 20 = 0 THEN 'fax' WHEN g %% 20 < 4 THEN 'sms' ELSE 'email' END,
               CASE WHEN g %% 20 = 0 THEN '0476000000' WHEN g %% 20 < 4 THEN '+33600000000'
                    ELSE 'm' || (1 + g %% %(members)s) || '@example.test' END,
               'Votre demande', 'Bonjour', '[]', 'bench', 1 + g %% %(members)s,
               CASE WHEN g %% 2 = 0 THEN 'PEC-' || to_char(c.at, 'YYYY') || '-' || lpad((g / 2)::text, 7, '0') END,
               CASE WHEN g %% 200 = 0 THEN 'dead' WHEN g > %(n)s - 50 THEN 'pending' ELSE 'sent' END,
               CASE WHEN g %% 200 = 0 THEN 6 ELSE 1 END,
               CASE WHEN g %% 200 = 0 THEN '550 mailbox unavailable' END,
               c.at, c.at, CASE WHEN g %% 200 <> 0 AND g <= %(n)s - 50 THEN c.at + interval '5 seconds' END, false
        FROM generate_series(1, %(n)s) g,
             LATERAL (SELECT now() - (%(n)s - g) * (%(span)s * interval '1 day' / %(n)s) AS at) c""",
                 {"n": n, "members": members, "span": SPAN_DAYS})


def _audit(conn, n: int, members: int) -> None:
    if not n:
        return
    conn.execute("""
        INSERT INTO audit_event (at, actor_type, actor_id, action, subject_type, subject_id, member_id, ip, details)
        SELECT c.at, CASE WHEN g %% 5 = 0 THEN 'member' ELSE 'staff' END,
               CASE WHEN g %% 5 = 0 THEN 1 + g %% %(members)s ELSE 1 + g %% %(staff)s END,
               (ARRAY['backoffice.listed', 'backoffice.viewed', 'request.in_progress', 'request.done',
                      'member.signed_in', 'backoffice.listed', 'backoffice.viewed', 'request.done',
                      'request.waiting_member', 'backoffice.exported'])[1 + g %% 10],
               CASE WHEN g %% 10 IN (1, 2, 3, 6, 7, 8) THEN 'HospitalCoverageRequest' END,
               CASE WHEN g %% 10 IN (1, 2, 3, 6, 7, 8) THEN 1 + g %% 1000000 END,
               1 + (g::bigint * 31) %% %(members)s, '10.0.0.' || (g %% 250), '{"view": "hospital_coverage"}'
        FROM generate_series(1, %(n)s) g,
             LATERAL (SELECT now() - (%(n)s - g) * (%(span)s * interval '1 day' / %(n)s) AS at) c""",
                 {"n": n, "members": members, "staff": AGENTS + MANAGERS + ADMINS, "span": SPAN_DAYS})


def fill(url: str, volumes: Volumes = Volumes(), *, field_key: str | None = None, log=print) -> None:
    """Fill the migrated, empty database at ``url``; NIRs and IBANs encrypted with ``field_key``."""
    if field_key:
        crypto.configure(field_key)
    started = time.perf_counter()

    def step(label: str, fn, *args) -> None:
        t0 = time.perf_counter()
        fn(*args)
        log(f"  {label:<44} {time.perf_counter() - t0:6.1f} s")

    with psycopg.connect(_dsn(url), autocommit=True) as conn:
        step("staff", lambda: _staff(conn.cursor()))
        step("content (categories, types, reasons)", _content, conn)
        step(f"{volumes.members:,} members (encrypted NIRs), beneficiaries", _members, conn, volumes.members)
        step(f"{volumes.coverage:,} hospital coverage requests", _requests, conn, "hospital_coverage_request",
             volumes.coverage, volumes.members)
        for table in ("document_submission", "contact_request", "bank_detail_change_request",
                      "teletransmission_request"):
            step(f"{volumes.other_requests:,} {table}", _requests, conn, table, volumes.other_requests,
                 volumes.members)
        step(f"{volumes.outbox:,} outbox messages", _outbox, conn, volumes.outbox, volumes.members)
        step(f"{volumes.audit:,} audit events", _audit, conn, volumes.audit, volumes.members)
        # Visibility map and statistics, as autovacuum would leave them on a live database.
        step("VACUUM ANALYZE", lambda: conn.execute("VACUUM ANALYZE"))
    log(f"  {'filled in':<44} {time.perf_counter() - started:6.1f} s")
