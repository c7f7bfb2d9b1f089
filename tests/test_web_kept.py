"""The bounded store of what a process keeps between requests (web.kept)."""

from web.kept import Kept


def test_a_value_is_made_once_per_key_and_the_store_starts_again_empty_when_full():
    made = []
    kept = Kept(2)

    def make(value):
        return lambda: made.append(value) or value

    assert kept.get("a", make("A")) == "A"
    assert kept.get("a", make("other")) == "A"
    kept.get("b", make("B"))
    assert made == ["A", "B"] and len(kept) == 2
    kept.get("c", make("C"))  # full: emptied, then holds the new value only
    assert len(kept) == 1
    assert kept.get("a", make("A again")) == "A again"


def test_a_value_refused_by_keep_is_given_but_not_kept():
    kept = Kept(10)
    assert kept.get("k", lambda: "slot", keep=lambda value: value != "slot") == "slot"
    assert len(kept) == 0
    assert kept.get("k", lambda: "part", keep=lambda value: value != "slot") == "part"
    assert kept.get("k", lambda: "never made") == "part"
