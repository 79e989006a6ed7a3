"""A bounded, in-process memo of pure computations, with hit and miss counts for the metrics.

The facts layer remembers what recurs across hook calls (an element's validation, a dosage's daily
dose, a stored order's facts): the values are what requests themselves carried, never written
anywhere, and the oldest entries go first once `size` is reached.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")
_ABSENT = object()


class BoundedMemo(Generic[V]):
    """Least-recently-used memo; `get` returns `default` when the key is unknown."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.counts = {"hits": 0, "misses": 0}  # counts only, for facts/memo_stats.py
        self._entries: OrderedDict[Hashable, V] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable, default: V | None = None) -> V | None:
        found = self._entries.get(key, _ABSENT)
        if found is _ABSENT:
            self.counts["misses"] += 1
            return default
        self.counts["hits"] += 1
        self._entries.move_to_end(key)
        return found  # type: ignore[return-value]

    def put(self, key: Hashable, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
