"""The short-lived copies of staff-managed content: a change is seen at once when this process writes it, and
within ``SECONDS`` when another process does."""

import psycopg
import pytest

from models.content import cache
from models.content.entities import ContactReason, DocumentCategory, DocumentType
from models.content.queries import contact_reason_choices, document_choices


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(monkeypatch):
    fake = FakeClock()
    monkeypatch.setattr(cache, "clock", fake)
    cache.clear()
    yield fake
    cache.clear()


def _write_from_another_process(url: str, sql: str) -> None:
    """A write the SQLAlchemy engines of this process do not see (another worker, the back office elsewhere)."""
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.execute(sql)


def test_a_change_written_by_this_process_is_seen_at_once(session, clock):
    category = DocumentCategory(name="Soins", position=1)
    session.add(DocumentType(category=category, name="Facture", position=1))
    session.commit()
    assert [(c.name, c.types) for c in document_choices(session)] == [("Soins", ((category.types[0].id, "Facture"),))]
    session.add(DocumentType(category=category, name="Devis", position=2))
    category.name = "Soins courants"
    session.commit()
    assert [(c.name, [name for _id, name in c.types]) for c in document_choices(session)] == [
        ("Soins courants", ["Facture", "Devis"])]


def test_a_change_written_elsewhere_is_seen_within_the_copy_s_lifetime(session, clock, migrated_database):
    session.add(ContactReason(name="Remboursement", position=1))
    session.commit()
    assert [name for _id, name in contact_reason_choices(session)] == ["Remboursement"]
    _write_from_another_process(migrated_database, "UPDATE contact_reason SET name = 'Cotisations'")
    clock.now += cache.SECONDS - 1
    assert [name for _id, name in contact_reason_choices(session)] == ["Remboursement"]  # the copy, still young
    clock.now += 2
    assert [name for _id, name in contact_reason_choices(session)] == ["Cotisations"]


def test_the_copies_are_bounded(session, clock):
    for n in range(cache.MAX_ENTRIES + 5):
        cache.cached(session, "test", lambda: n, n)
    assert len(cache._copies) <= cache.MAX_ENTRIES
