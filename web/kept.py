"""What a process keeps between requests because it is the same for many of them (rendered parts of pages, built
statements): one bounded store for each kind, so that no kind can grow without end."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Kept(Generic[T]):
    """Values made once per key and kept, at most ``max_entries`` of them: when full, the store starts again
    empty (the keys in use are few; those of a past time slot or of a dropped page are never asked again). A key
    that must expire carries its time slot (``int(time.monotonic() // seconds)``)."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._values: dict[Hashable, T] = {}

    def get(self, key: Hashable, make: Callable[[], T], *, keep: Callable[[T], bool] | None = None) -> T:
        """The value kept for ``key``, else ``make()``, kept unless ``keep`` says not to."""
        found = self._values.get(key)
        if found is None:
            found = make()
            if keep is None or keep(found):
                if len(self._values) >= self.max_entries:
                    self._values.clear()
                self._values[key] = found
        return found

    def clear(self) -> None:
        """Forget every value."""
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values)
