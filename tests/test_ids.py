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


def test_ids_drawn_from_the_pool_are_never_handed_out_twice_across_threads_or_a_fork() -> None:
    """The random bytes come from the OS 4 KiB at a time: threads each have their own, and a forked
    child draws afresh rather than repeating its parent's next ids."""
    import os
    import threading

    new_uuid()  # the pool holds bytes a fork would inherit
    made: list[str] = []
    threads = [threading.Thread(target=lambda: made.extend(new_uuid() for _ in range(3000))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == len(made) == 12_000
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next id, then out without running the parent's cleanup
        os.write(write, new_uuid().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child_id = os.read(read, 64).decode()
    assert child_id != new_uuid() and uuid.UUID(child_id).version == 4
