"""Benchmark of the hospital coverage queue on realistic volumes (100,000 members, 1,000,000 requests).

Builds a scratch PostgreSQL database from the Alembic migrations, fills it with SQL
(generate_series), then measures what agents do all day: claim the next request (alone and four
at once) and open the first page of the queue. Prints its figures; asserts nothing.

    python -m bench.queue_bench            # PG_ADMIN_DSN=postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import os
import statistics
import threading
import time
from datetime import UTC, datetime

from sqlalchemy import select, text

from bench.data import Volumes, fill
from bench.scratch import fresh_database
from models.config import ModelsConfig
from models.db import session_factory
from models.requests.entities import OPEN_STATUSES, HospitalCoverageRequest, RequestStatus
from models.requests.queries import status_in
from models.requests.operations import claim_next
from models.staff.entities import StaffRole, StaffUser

NAME = os.environ.get("BENCH_DB", "mese_bench")
MEMBERS = int(os.environ.get("BENCH_MEMBERS", 100_000))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", 1_000_000))


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(label: str, ms: list[float]) -> None:
    print(f"{label:<58} median {statistics.median(ms):8.2f} ms   min {min(ms):8.2f}   max {max(ms):8.2f}   n={len(ms)}")


def main() -> None:
    url = fresh_database(NAME)
    config = ModelsConfig(database_url=url)
    Session = session_factory(config)
    start = time.perf_counter()
    # Members' NIRs are encrypted with this process's key (models.crypto), so every page can read them.
    fill(url, Volumes(members=MEMBERS, coverage=REQUESTS, other_requests=0, outbox=0, audit=0),
         field_key=config.field_key, log=lambda line: None)
    print(f"filled {MEMBERS:,} members and {REQUESTS:,} requests in {time.perf_counter() - start:.1f} s")

    with Session() as s:
        new_count = s.scalar(select(text("count(*)")).select_from(HospitalCoverageRequest).where(
            HospitalCoverageRequest.status == RequestStatus.NEW))
        agents = list(s.scalars(select(StaffUser).where(StaffUser.role == StaffRole.AGENT).order_by(StaffUser.id)
                                .limit(4)))
    print(f"queue: {new_count:,} new requests")

    def one_claim(agent_id: int) -> None:
        with Session() as s, s.begin():
            claim_next(s, HospitalCoverageRequest, staff=s.get(StaffUser, agent_id), now=datetime.now(UTC))

    summary("claim_next, one agent (commit included)", timed(lambda: one_claim(agents[0].id), 200))

    claimed: list[int] = []
    lock = threading.Lock()

    def agent_loop(agent_id: int, n: int) -> None:
        for _ in range(n):
            with Session() as s, s.begin():
                r = claim_next(s, HospitalCoverageRequest, staff=s.get(StaffUser, agent_id), now=datetime.now(UTC))
                if r is None:
                    return
                with lock:
                    claimed.append(r.id)

    threads = [threading.Thread(target=agent_loop, args=(a.id, 250)) for a in agents]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    print(f"4 agents x 250 claims: {len(claimed)} claims, {len(set(claimed))} distinct, "
          f"{len(claimed) / elapsed:.0f} claims/s")

    def first_page() -> None:
        with Session() as s:
            s.execute(select(HospitalCoverageRequest).where(HospitalCoverageRequest.status == RequestStatus.NEW)
                      .order_by(HospitalCoverageRequest.created_at, HospitalCoverageRequest.id).limit(20)).all()

    summary("queue page 1 (status=new, ORDER BY created_at, id LIMIT 20)", timed(first_page, 50))

    def first_open_page() -> None:
        with Session() as s:
            s.execute(select(HospitalCoverageRequest.id)
                      .where(status_in(HospitalCoverageRequest, OPEN_STATUSES))
                      .order_by(HospitalCoverageRequest.created_at, HospitalCoverageRequest.id).limit(20)).all()

    summary("queue page 1 (open statuses: the partial index)", timed(first_open_page, 50))

    def member_requests() -> None:
        with Session() as s:
            s.execute(select(HospitalCoverageRequest).where(HospitalCoverageRequest.member_id == 4242)
                      .order_by(HospitalCoverageRequest.created_at.desc()).limit(20)).all()

    summary("one member's requests (member_id index)", timed(member_requests, 50))


if __name__ == "__main__":
    main()
