"""Apply an order suggestion as two kinds of client do, and read the result with the service's own facts.

- the CDS Hooks sandbox (and EHRs that behave like it): its reducer for a `create`/`update` action
  takes only `resource.medicationCodeableConcept` (text and first coding's code) as the new
  prescribable; the dose, frequency and supply the prescriber typed stay (sandbox
  src/reducers/medication-reducers.js, TAKE_SUGGESTION; a `delete` resets the order form);
- a full client: the action's resource replaces the draft.

Both results go through `read_drafts`, the service's own daily-dose and supply arithmetic. A rule's
card is checked both ways, except that a suggestion marked `by_hand` (a supply limit) must only work
whole: the engine never shows it as a button to a medication-only client (`for_client`), which the
engine's answers, checked as the client they were made for, confirm.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from cds_service.cards.suggestions import MEDICATION_ONLY, OrderSuggestion, SuggestionStyle
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


CLIENT_OF_STYLE = {MEDICATION_ONLY: "sandbox", "whole-resource": "full"}


def check_applied(
    topic: str, suggestion: Suggestion, orders: tuple[MedicationFact, ...], style: SuggestionStyle | None = None
) -> list[str]:
    """What is wrong when `suggestion` is applied both ways, or (`style`) as a client of that style
    does (empty: it reaches its intent)."""
    problems: list[str] = []
    by_hand = isinstance(suggestion, OrderSuggestion) and bool(suggestion.by_hand)
    if style == MEDICATION_ONLY and by_hand:
        return [f"{topic}: {suggestion.label!r} is a button a medication-only client would not apply"]
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
        ways = (("sandbox", as_sandbox(order.raw, resource)), ("full", resource))
        for client, applied in ways:
            if (style is not None and client != CLIENT_OF_STYLE[style]) or (client == "sandbox" and by_hand):
                continue  # a by-hand suggestion is never a medication-only client's button (checked above)
            fact = read_order(applied)
            mg, days = fact.daily_dose.mg_per_day, fact.supply.days
            APPLIED.append((topic, suggestion.label, client, mg, days))
            if (switch and mg is None) or (mg is not None and wanted_mg is not None and abs(mg - wanted_mg) > 1e-6):
                problems.append(f"{topic}: {suggestion.label!r} applied ({client}) gives {mg} mg/day, not {intent}")
            if intent.supply_days is not None and (days is None or abs(days - intent.supply_days) > 0.05):
                problems.append(f"{topic}: {suggestion.label!r} applied ({client}) supplies {days} days, not {intent}")
    return problems


def applied_report() -> str:
    """One line for the end of the run: how many suggestions were applied both ways."""
    labels = {(topic, label) for topic, label, *_ in APPLIED}
    topics = sorted({topic for topic, _ in labels})
    ways = {client: sum(1 for *_, c, _, _ in APPLIED if c == client) for client in ("sandbox", "full")}
    counts = f"as the sandbox: {ways['sandbox']}, as a full client: {ways['full']}"
    return f"order suggestions applied {counts} ({', '.join(topics)})"
