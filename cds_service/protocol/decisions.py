"""What makes one decision of many hook calls (issue 20), as keyed hashes for the audit trail.

order-select is called on every edit of the order form: the same card about the same order is shown
again and again while the prescriber types. Analytics count a card once per order, fingerprint and
encounter (or hour when the EHR sends no encounter): its `decision` key. A warning or info card shown
at order-select is not repeated at order-sign for the unchanged order: its `repeat` key (topic, the
facts behind the card, the orders it is about, patient and client). The suggestions' intents and the
drafts each call saw, with orders as keyed hashes, let the report tell an accepted suggestion from an
applied one; at signing, a card whose suggestion was accepted for the unchanged order says so
(`not_applied_line`). No clinical logic: the keys come from what the rules put on their cards.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from cds_service.cards.base import RuleCard
from cds_service.cards.suggestions import OrderSuggestion
from cds_service.cards.text import fmt_number
from cds_service.cdshooks import Card
from cds_service.protocol.hooks import DraftState, HookOutcome
from cds_service.storage.records import keyed, order_key, repeat_key


@dataclass
class CallKeys:
    client: str | None = None
    patient_id: str | None = None
    repeat: dict[str, str] = field(default_factory=dict)  # card uuid -> repeat key (warnings and infos)
    same: dict[str, str] = field(default_factory=dict)  # card uuid -> repeat key, criticals too
    decision: dict[str, str] = field(default_factory=dict)  # card uuid -> decision key


def call_keys(outcome: HookOutcome, client: str | None, secret: str, received_at: datetime) -> CallKeys:
    if outcome.status != 200 or outcome.request is None:
        return CallKeys(client)
    context = outcome.request.context
    patient_id = str(context.get("patientId") or "") or None
    keys = CallKeys(client, patient_id)
    if patient_id is None:
        return keys
    encounter = str(context.get("encounterId") or "") or None
    bucket = f"encounter {encounter}" if encounter else received_at.strftime("hour %Y-%m-%dT%H")
    for card in outcome.cards:
        fingerprint = card.fingerprint if isinstance(card, RuleCard) else None  # a property: read once
        if not fingerprint:
            continue
        about = tuple(card.about)
        keys.decision[card.uuid] = keyed(
            secret, "decision", client, patient_id, card.topic_code, fingerprint, *sorted(about), bucket
        )
        key = repeat_key(secret, client, patient_id, card.topic_code, fingerprint, about)
        if key is not None:
            keys.same[card.uuid] = key  # an accepted suggestion is followed on criticals too
            if card.indicator != "critical":
                keys.repeat[card.uuid] = key
    return keys


def intents_json(card: Card, keys: CallKeys, secret: str) -> str | None:
    """{suggestion uuid: what applying it leads to}, the order as a keyed hash; None without any."""
    found = {}
    for suggestion in card.suggestions or ():
        intent = suggestion.intent if isinstance(suggestion, OrderSuggestion) else None
        if intent is not None and keys.patient_id:
            found[suggestion.uuid] = {"order": order_key(secret, keys.client, keys.patient_id, intent.order)}
            found[suggestion.uuid].update(intent.as_dict(), label=suggestion.label)
    return orjson.dumps(found).decode() if found else None  # JSON as json.loads reads it back, in C


def drafts_json(outcome: HookOutcome, keys: CallKeys, secret: str | None = None) -> str | None:
    """The checked drafts in scope as this call saw them (order as a keyed hash); None without any."""
    if not outcome.drafts or not keys.patient_id or secret is None:
        return None
    return orjson.dumps(
        [
            {
                "order": order_key(secret, keys.client, keys.patient_id, d.reference),
                "rxcui": d.rxcui,
                "mg_per_day": d.mg_per_day,
                "supply_days": d.supply_days,
            }
            for d in outcome.drafts
        ]
    ).decode()


def not_applied_line(intents: tuple[dict[str, Any], ...], drafts: dict[str, DraftState]) -> str:
    """What a card shown again at signing says when a suggestion of it was accepted at order-select
    and the order is still as it was (`drafts`: the drafts of this call by keyed order)."""
    parts = []
    for intent in intents:
        label = str(intent.get("label") or "its suggestion")
        state = drafts.get(str(intent.get("order")))
        parts.append(f"“{label}” was accepted, but the order still {_still(intent, state)}")
    said = "; ".join(parts) or "A suggestion of this card was accepted, but the order is unchanged"
    return f"**Accepted, not applied:** {said}. Change the order itself before signing."


def _still(intent: dict[str, Any], state: DraftState | None) -> str:
    if intent.get("remove"):
        return "stands"
    if state is None:
        return "has not changed"
    wanted_days, days = intent.get("supply_days"), state.supply_days
    if wanted_days is not None and days is not None and abs(days - float(wanted_days)) > 0.05:
        return f"supplies {fmt_number(days, 1)} days"
    wanted_mg, mg = intent.get("mg_per_day"), state.mg_per_day
    if wanted_mg is not None and mg is not None and abs(mg - float(wanted_mg)) > 1e-6:
        return f"gives {fmt_number(mg, 1)} mg/day"
    return "has not changed"


def drafts_by_key(outcome: HookOutcome, keys: CallKeys, secret: str) -> dict[str, DraftState]:
    """This call's checked drafts by keyed order (the intents name orders that way)."""
    if not keys.patient_id:
        return {}
    return {order_key(secret, keys.client, keys.patient_id, d.reference): d for d in outcome.drafts}
