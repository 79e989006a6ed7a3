"""Bounded, in-process memos of pure computations, with hit and miss counts for the metrics.

The facts layer remembers what recurs across hook calls (an element's validation, a dosage's daily
dose, a stored order's facts, what one prefetch value yields): the values are what requests
themselves carried, never written anywhere, and the least recently used entries go first once the
bound (entries, and for `SizedMemo` a total cost in bytes) is reached.
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


class SizedMemo(BoundedMemo[V]):
    """A `BoundedMemo` also bounded by the total `cost` its entries were put with (bytes, for values
    that hold parsed request content): large records cannot grow it past `max_cost`."""

    def __init__(self, size: int, max_cost: int) -> None:
        super().__init__(size)
        self.max_cost = max_cost
        self.cost = 0
        self._costs: dict[Hashable, int] = {}

    def put(self, key: Hashable, value: V, cost: int = 0) -> None:
        if cost > self.max_cost:
            return  # larger than the whole budget: not remembered
        self.cost += cost - self._costs.get(key, 0)
        self._costs[key] = cost
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.size or self.cost > self.max_cost:
            oldest, _ = self._entries.popitem(last=False)
            self.cost -= self._costs.pop(oldest)

    def clear(self) -> None:
        super().clear()
        self._costs.clear()
        self.cost = 0
