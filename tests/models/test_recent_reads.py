"""The read audit's granularity: an identical read moments after a written one is covered by it."""

from __future__ import annotations

from models.audit import operations
from models.audit.operations import RecentReads


def key(**changes) -> str:
    details = {"view": "hospital_coverage", "page": 0, "search": None, "filters": [["Statut", "open"]], "rows": 20,
               **changes}
    return RecentReads.key("backoffice.listed", actor_type="staff", actor_id=7,
                           ip="10.0.0.1", **details)


def test_an_identical_read_within_the_window_is_a_repeat(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(operations.time, "monotonic", lambda: clock[0])
    reads = RecentReads(seconds=60)
    assert not reads.is_repeat(key())
    reads.written(key())
    clock[0] += 59
    assert reads.is_repeat(key())
    clock[0] += 2
    assert not reads.is_repeat(key())


def test_a_read_differing_in_any_detail_is_not_a_repeat():
    reads = RecentReads(seconds=60)
    reads.written(key())
    for other in (key(page=1), key(search="PEC"), key(filters=[]), key(rows=19), key(view="documents_queue"),
                  RecentReads.key("backoffice.listed", actor_type="staff", actor_id=8, ip="10.0.0.1", view="x")):
        assert not reads.is_repeat(other)
    assert not reads.is_repeat(RecentReads.key("backoffice.listed", actor_type="staff", actor_id=7, ip="10.0.0.2",
                                               view="hospital_coverage", page=0, search=None,
                                               filters=[["Statut", "open"]], rows=20))


def test_a_read_not_yet_written_is_never_a_repeat_and_zero_seconds_writes_every_read():
    assert not RecentReads(seconds=60).is_repeat(key())
    reads = RecentReads(seconds=0)
    reads.written(key())
    assert not reads.is_repeat(key())


def test_the_memory_stays_bounded():
    reads = RecentReads(seconds=60, max_entries=3)
    for page in range(10):
        reads.written(key(page=page))
    assert len(reads._written) <= 3 and reads.is_repeat(key(page=9))
