"""Counts of the facts layer's in-process memos, for the edge's metrics: sizes, hits and misses only
(never keys or values). Reading them changes nothing."""

from __future__ import annotations

from functools import _lru_cache_wrapper
from typing import Any

from cds_service.facts import dates, fhir_json, medications, terminology


def _lru(fn: _lru_cache_wrapper[Any]) -> dict[str, int]:
    info = fn.cache_info()
    return {"entries": info.currsize, "hits": info.hits, "misses": info.misses}


def memo_stats() -> dict[str, dict[str, int]]:
    """{memo: {"entries", "hits", "misses"}}, cumulative since the process started."""
    return {
        "validation": {"entries": len(fhir_json._memo), **fhir_json.MEMO_COUNTS},
        "stored_orders": {"entries": len(medications._STORED_ORDER_FACTS), **medications.STORED_ORDER_MEMO_COUNTS},
        "ingredient_text": _lru(terminology.ingredients_in_text),
        "dates": _lru(dates._parse),
    }
