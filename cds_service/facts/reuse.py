"""What one prefetch value yields before the clock or the drafts are consulted, reused by content
(issue 22, item 4).

A patient's chart opening, the order-selects while the form fills and the order-sign arrive within
minutes with mostly the same prefetch. Reading a value (indexing its entries; finding and validating
its Conditions of a known category and its lab results of the kinds we read) depends on nothing but
its key and its content, so it is done once per distinct content and reused. What depends on the
clock (a condition abated, an infarction still recent, a result or an order dated in the future, an
order ended long ago) or on the drafts (a stored copy of a draft) is decided on every call from these
readings by the same code as a cold build: it is never remembered.

Key: the prefetch key (it is in every location reported) and the value's bytes as orjson writes them
back. Only values parsed from JSON text are read this way (`build_facts(reuse=True)`, the hook route):
for them equal bytes mean equal values, and distinct contents never share an entry (no digest, the
bytes themselves are compared). A changed lab bundle is a new key, read alone; the other values'
readings still serve. Bounded by entries and by bytes (`MAX_BYTES`, charged `COST_PER_BYTE` per byte
of content for the parsed objects held), in this process only, nothing on disk. The readings hold the
resources of the request that carried the content; nothing downstream changes a resource.

Off by default (`CDS_FACTS_REUSE`): measured on this stack it does not pay. The facts layer already
remembers each element's validation and each stored order's facts by content, so a hit saves the
indexing and look-ups around them: 11-16 % of the instructions of an encounter's calls (valgrind),
but over HTTP, encounter traffic ran at the same calls/s with a worse p99 (334 and 338 vs 339 and
334 calls/s, p99 128 and 113 vs 91 and 105 ms, alternating runs), and distinct patients pay the
orjson key and keep 5 bytes of objects per byte of JSON that the cyclic GC then walks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from cds_service.facts.conditions import ConditionReading, condition_readings
from cds_service.facts.fhir_index import FhirIndex, index_prefetch, string_or_none
from cds_service.facts.labs import LabEntry, lab_entries
from cds_service.facts.medications import last_date_if_finished
from cds_service.facts.memo import SizedMemo

ConditionUrl = tuple[str, dict[str, Any], Any]  # (where, Condition, fullUrl) for reasonReference look-ups

MAX_BYTES = 64 * 1024 * 1024
COST_PER_BYTE = 6  # the key's bytes and the parsed value (measured: 5.2 bytes of objects per byte of JSON)
_DUMPS_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_SUBCLASS


@dataclass(frozen=True, slots=True)
class StoredOrder:
    """A MedicationRequest of a prefetch value, with what build_facts asks of it before reading it."""

    where: str
    raw: dict[str, Any]
    rid: str | None
    entered_in_error: bool
    is_draft: bool  # status "draft": dropped beside a draft with its id
    last_date_if_finished: str | None  # compared with the history horizon on each call
    store: dict[str, Any]  # the value's orders' facts by where (MedicationReader.medication_fact)


@dataclass(frozen=True, slots=True)
class ValueReading:
    """One prefetch value read without the clock or the drafts. Shared between calls: never changed
    but for the orders' `store`, a memo of facts that carry the clock edges they hold between."""

    index: FhirIndex  # this value's entries alone
    conditions: tuple[ConditionReading, ...]
    labs: tuple[LabEntry, ...]
    condition_urls: tuple[ConditionUrl, ...]
    orders: tuple[StoredOrder, ...]


READINGS: SizedMemo[ValueReading] = SizedMemo(4096, MAX_BYTES)


def entered_in_error(raw: Mapping[str, Any]) -> bool:
    """A resource recorded by mistake: ignored everywhere, not even listed."""
    status = raw.get("status")
    return isinstance(status, str) and status.strip().lower() == "entered-in-error"


def read_value(key: str, value: Any) -> ValueReading:
    """The reading of `prefetch[key]`, computed now."""
    index = FhirIndex()
    index_prefetch({key: value}, index)
    store: dict[str, Any] = {}
    orders = tuple(
        StoredOrder(
            where,
            raw,
            string_or_none(raw.get("id")),
            entered_in_error(raw),
            raw.get("status") == "draft",
            last_date_if_finished(raw),
            store,
        )
        for where, raw in index.by_type.get("MedicationRequest", [])
    )
    return ValueReading(
        index=index,
        conditions=tuple(condition_readings(index.by_type.get("Condition", []))),
        labs=tuple(lab_entries(index.by_type.get("Observation", []))),
        condition_urls=tuple(condition_urls(key, value)),
        orders=orders,
    )


def content_key(key: str, value: Any) -> bytes | None:
    """The bytes of `value` (None for what JSON text cannot hold, such as a datetime)."""
    try:
        return orjson.dumps(value, option=_DUMPS_OPTIONS)
    except (TypeError, orjson.JSONEncodeError):
        return None


def prefetch_readings(prefetch: Mapping[str, Any | None], *, reuse: bool) -> list[ValueReading]:
    """The readings of the prefetch values, in the prefetch's order; with `reuse`, each remembered by
    its key and content (values parsed from JSON text only, see module doc)."""
    out: list[ValueReading] = []
    for key, value in prefetch.items():
        if value is None:
            continue
        if not reuse or not isinstance(value, dict) or not _worth_remembering(value):
            out.append(read_value(key, value))
            continue
        content = content_key(key, value)
        if content is None:
            out.append(read_value(key, value))
            continue
        memo_key = (key, content)
        reading = READINGS.get(memo_key)
        if reading is None:
            reading = read_value(key, value)
            READINGS.put(memo_key, reading, cost=COST_PER_BYTE * (len(content) + len(key)))
        out.append(reading)
    return out


def _worth_remembering(value: dict[str, Any]) -> bool:
    """A Bundle without entries has nothing to read, and its self link names the patient: kept, every
    patient's empty search would take an entry (measured: 1,519 such readings over 1,500 distinct
    patients, and a 67 ms pause of the cyclic GC walking them)."""
    entries = value.get("entry")
    return value.get("resourceType") != "Bundle" or (isinstance(entries, list) and bool(entries))


def merged_index(readings: Iterable[ValueReading]) -> FhirIndex:
    """One index of all values, as indexing them in turn would build it: resources of each type in the
    prefetch's order, the first Medication for each reference key, every skipped entry. New lists: the
    readings stay untouched."""
    index = FhirIndex()
    for reading in readings:
        for resource_type, entries in reading.index.by_type.items():
            index.by_type.setdefault(resource_type, []).extend(entries)
        for reference, medication in reading.index.medications.items():
            index.medications.setdefault(reference, medication)
        index.skipped.extend(reading.index.skipped)
    return index


def condition_urls(key: str, value: Any) -> list[ConditionUrl]:
    """Conditions of a prefetch Bundle with their fullUrl (a reasonReference may use it)."""
    if not isinstance(value, dict) or value.get("resourceType") != "Bundle" or not isinstance(value.get("entry"), list):
        return []
    out: list[ConditionUrl] = []
    for i, entry in enumerate(value["entry"]):
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        resource = entry["resource"]
        if resource.get("resourceType") == "Condition" and isinstance(entry.get("fullUrl"), str):
            out.append((f"prefetch.{key}.entry[{i}]", resource, entry["fullUrl"]))
    return out
