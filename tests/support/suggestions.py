"""Apply an order suggestion as two kinds of client do, and read the result with the service's own facts.

- the CDS Hooks sandbox (and EHRs that behave like it): its reducer for a `create`/`update` action
  takes only `resource.medicationCodeableConcept` (text and first coding's code) as the new
  prescribable; the dose, frequency and supply the prescriber typed stay (sandbox
  src/reducers/medication-reducers.js, TAKE_SUGGESTION; a `delete` resets the order form);
- a full client: the action's resource replaces the draft.

Both results go through `read_drafts`, the service's own daily-dose and supply arithmetic.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from cds_service.cards.suggestions import OrderSuggestion
from cds_service.cdshooks import Suggestion
from cds_service.facts.build import read_drafts
from cds_service.facts.model import MedicationFact

# Every suggestion the clinical tests built and checked: (topic, label, client, daily dose, supply days).
APPLIED: list[tuple[str, str, str, float | None, float | None]] = []


def as_sandbox(order_raw: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    """The draft after the sandbox applies `resource`: the medication only, the sig kept."""
    applied = copy.deepcopy(order_raw)
    concept = resource.get("medicationCodeableConcept") or {}
    coding = (concept.get("coding") or [{}])[0]
    if concept.get("text") and coding.get("code"):
        applied.pop("medicationReference", None)
        applied["medicationCodeableConcept"] = {
            "text": concept["text"],
            "coding": [{"system": coding.get("system"), "code": coding["code"], "display": concept["text"]}],
        }
    return applied


def read_order(resource: dict[str, Any]) -> MedicationFact:
    """The draft as the service reads it at the next call."""
    context = {"draftOrders": {"resourceType": "Bundle", "entry": [{"resource": resource}]}}
    drafts = read_drafts("order-sign", context, datetime.now(UTC))
    [entry] = drafts.entries
    assert entry.fact is not None
    return entry.fact


def check_applied(topic: str, suggestion: Suggestion, orders: tuple[MedicationFact, ...]) -> list[str]:
    """What is wrong when `suggestion` is applied both ways (empty: both reach its intent)."""
    problems: list[str] = []
    for action in suggestion.actions:
        resource = action.resource or {}
        if resource.get("resourceType") != "MedicationRequest" and action.type != "delete":
            continue  # a lab request: no dose to reach
        intent = suggestion.intent if isinstance(suggestion, OrderSuggestion) else None
        if intent is None:
            problems.append(f"{topic}: {suggestion.label!r} changes an order without an intent")
            continue
        if action.type == "delete":
            if action.resourceId != [intent.order] or not intent.remove:
                problems.append(f"{topic}: {suggestion.label!r} deletes {action.resourceId}, intent {intent}")
            continue
        order = next((o for o in orders if o.reference == intent.order), None)
        if order is None or order.raw is None:
            problems.append(f"{topic}: {suggestion.label!r}: the order it changes is not on the card")
            continue
        before = read_order(order.raw)
        switch = intent.rxcui is not None and intent.rxcui != before.rxnorm_code
        # a product switch must reach its dose; anything else must leave the dose as the order has it
        wanted_mg = intent.mg_per_day if switch else before.daily_dose.mg_per_day
        for client, applied in (("sandbox", as_sandbox(order.raw, resource)), ("full", resource)):
            fact = read_order(applied)
            mg, days = fact.daily_dose.mg_per_day, fact.supply.days
            APPLIED.append((topic, suggestion.label, client, mg, days))
            if (switch and mg is None) or (mg is not None and wanted_mg is not None and abs(mg - wanted_mg) > 1e-6):
                problems.append(f"{topic}: {suggestion.label!r} applied ({client}) gives {mg} mg/day, not {intent}")
            supply_limit = not switch and intent.supply_days is not None
            if client == "sandbox" and supply_limit:
                continue  # the sandbox applies no supply (its dose is checked above): see follow-through
            if intent.supply_days is not None and (days is None or abs(days - intent.supply_days) > 0.05):
                problems.append(f"{topic}: {suggestion.label!r} applied ({client}) supplies {days} days, not {intent}")
    return problems


def applied_report() -> str:
    """One line for the end of the run: how many suggestions were applied both ways."""
    labels = {(topic, label) for topic, label, *_ in APPLIED}
    topics = sorted({topic for topic, _ in labels})
    return f"order suggestions applied as the sandbox and as a full client: {len(APPLIED) // 2} ({', '.join(topics)})"
