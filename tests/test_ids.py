"""Identifiers the service makes on every call: card and suggestion uuids (clients echo them in
feedback, so they must be real RFC 4122 version 4 UUIDs) and the audit record key (replay dedupe)."""

from __future__ import annotations

import re
import uuid

from cds_service.cdshooks import new_uuid
from cds_service.storage.records import HookCallRecord


def test_card_uuids_are_random_rfc4122_version_4_uuids_in_canonical_text() -> None:
    made = [new_uuid() for _ in range(5000)]
    assert len(set(made)) == len(made)
    for text in made[:500]:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, text)


def test_each_audit_record_has_its_own_128_bit_key() -> None:
    from datetime import UTC, datetime

    keys = {
        HookCallRecord("i", "s", "order-select", datetime.now(UTC), 1.0, "ok", None, None).record_key
        for _ in range(2000)
    }
    assert len(keys) == 2000 and all(re.fullmatch(r"[0-9a-f]{32}", k) for k in keys)
