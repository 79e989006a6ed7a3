"""Counts of the facts layer's in-process memos, for the edge's metrics: sizes, hits and misses only
(never keys or values). Reading them changes nothing."""

from __future__ import annotations

from functools import _lru_cache_wrapper
from typing import Any

from cds_service.facts import dates, dose, fhir_json, medications, terminology
from cds_service.facts.memo import BoundedMemo


def _lru(fn: _lru_cache_wrapper[Any]) -> dict[str, int]:
    info = fn.cache_info()
    return {"entries": info.currsize, "hits": info.hits, "misses": info.misses}


def _bounded(memo: BoundedMemo[Any]) -> dict[str, int]:
    return {"entries": len(memo), **memo.counts}


def memo_stats() -> dict[str, dict[str, int]]:
    """{memo: {"entries", "hits", "misses"}}, cumulative since the process started."""
    return {
        "validation": _bounded(fhir_json.MEMO),
        "stored_orders": _bounded(medications.STORED_ORDER_FACTS),
        "daily_doses": _bounded(dose.DAILY_DOSES),
        "ingredient_text": _lru(terminology.ingredients_in_text),
        "dates": _lru(dates._parse),
    }
