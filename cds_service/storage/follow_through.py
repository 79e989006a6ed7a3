"""Whether an accepted suggestion was applied (issue 20): read from the next calls about the same draft.

A client reports "accepted" when the clinician presses a suggestion's button; what it then does to
the order differs (the sandbox applies only the medication, so a supply limit changes nothing). Each
card row keeps what its suggestions lead to (`intents`: the order as a keyed hash, the daily dose,
supply and product), and each call the drafts in scope as it saw them (`hook_call.drafts`). A
suggestion is *applied* when a later call for the same patient and client, within `FOLLOW_HOURS`,
saw that order at the intended dose, supply and product (or, for a removal, an order-sign without
it); *not applied* when later calls saw the order and none matched; unknown when no later call came.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, select

from cds_service.storage import schema
from cds_service.storage.db import utc

FOLLOW_HOURS = 24


@dataclass
class FollowThrough:
    applied: int = 0
    not_applied: int = 0


def _matches(intent: dict[str, Any], state: dict[str, Any]) -> bool:
    if intent.get("rxcui") and state.get("rxcui") != intent["rxcui"]:
        return False
    for name, tolerance in (("mg_per_day", 1e-6), ("supply_days", 0.05)):
        wanted = intent.get(name)
        if wanted is not None and (state.get(name) is None or abs(state[name] - wanted) > tolerance):
            return False
    return True


def _verdict(intent: dict[str, Any], shown_at: datetime, later: list[tuple[datetime, str, list[dict]]]) -> bool | None:
    """True applied, False not applied, None unknown (no later call about the order)."""
    seen = False
    for at, hook, drafts in later:
        if at <= shown_at or at - shown_at > timedelta(hours=FOLLOW_HOURS):
            continue
        states = [d for d in drafts if d.get("order") == intent.get("order")]
        if intent.get("remove"):
            if hook == "order-sign":
                if not states:
                    return True
                seen = True
            continue
        for state in states:
            seen = True
            if _matches(intent, state):
                return True
    return False if seen else None


def follow_through(conn: Connection, since: datetime, client: str | None) -> dict[tuple[str, str], FollowThrough]:
    """Per (service, topic): accepted suggestions applied and not applied, from the audit trail."""
    cs, fb, hc = schema.card_shown, schema.feedback, schema.hook_call
    accepted = (
        select(
            cs.c.service_id,
            cs.c.topic,
            cs.c.intents,
            cs.c.shown_at,
            fb.c.accepted_suggestions,
            hc.c.patient_hash,
            hc.c.client,
        )
        .join(fb, and_(fb.c.service_id == cs.c.service_id, fb.c.card_uuid == cs.c.card_uuid))
        .join(hc, hc.c.id == cs.c.hook_call_id)
        .where(fb.c.outcome == "accepted", cs.c.intents.is_not(None), cs.c.shown_at >= since)
    )
    if client is not None:
        accepted = accepted.where(hc.c.client == client)
    rows = conn.execute(accepted).all()
    patients = {row.patient_hash for row in rows if row.patient_hash}
    later: dict[tuple[str | None, str], list[tuple[datetime, str, list[dict]]]] = {}
    if patients:
        calls = select(hc.c.patient_hash, hc.c.client, hc.c.received_at, hc.c.hook, hc.c.drafts).where(
            hc.c.received_at >= since, hc.c.patient_hash.in_(sorted(patients)), hc.c.hook != "patient-view"
        )
        for patient, issued_to, at, hook, drafts in conn.execute(calls):
            later.setdefault((issued_to, patient), []).append((utc(at), hook, json.loads(drafts or "[]")))
    out: dict[tuple[str, str], FollowThrough] = {}
    done: set[tuple[str, str]] = set()  # a suggestion accepted twice counts once
    for row in rows:
        intents = json.loads(row.intents or "{}")
        for suggestion in (row.accepted_suggestions or "").split():
            intent = intents.get(suggestion)
            if intent is None or (row.service_id, suggestion) in done:
                continue
            done.add((row.service_id, suggestion))
            verdict = _verdict(intent, utc(row.shown_at), later.get((row.client, row.patient_hash), []))
            stats = out.setdefault((row.service_id, row.topic or "(no topic)"), FollowThrough())
            if verdict is True:
                stats.applied += 1
            elif verdict is False:
                stats.not_applied += 1
    return out
