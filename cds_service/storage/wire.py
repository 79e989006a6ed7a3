"""How audit records travel from the serving process to the audit writer process (issue 22).

A batch is one orjson document of the `HookCallRecord` dataclasses, encoded in C in one call: pickling
them ran a Python `__getstate__` per record and per card in the server, and a `__setstate__` per
object in the writer (measured: ~120 µs of the sender thread's CPU per record at 250 records/s).
The writer builds the stored rows straight from the decoded mappings (`sql_writes.wire_row`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from cds_service.storage.records import HookCallRecord


class Entries(list):  # type: ignore[type-arg]
    """Decoded records of one batch, queued to the writer thread as one item."""


def encode_records(records: Sequence[HookCallRecord]) -> bytes:
    """The batch as JSON bytes (raises TypeError when a field is of a type orjson does not know)."""
    return orjson.dumps(records)


def decode_records(payload: bytes) -> Entries:
    entries: list[dict[str, Any]] = orjson.loads(payload)
    return Entries(entries)
