"""Issue 19's expectations beyond needs, and cards per order, scored from the alert-burden outcomes.

A need says a card must be shown; some situations also say what must **not** be: a topic no card may
carry (IV dantrolene for malignant hyperthermia: no oral-maximum card), or no card offering a dose in
one click (a titration at eGFR < 30, a drug stopped for toxicity), or no "Taper" for a drug stopped
because it poisons the patient. Each scenario carries them (`Scenario.forbidden_topics`,
`no_dose_suggestion`, `forbidden_phrases`); here they are checked per situation and reported with
examples. Pure functions of the outcomes (the suite tests them on hand-made cards).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

ORDER_HOOKS = ("order-select", "order-sign")


def expectations(outcomes: list[Any]) -> dict[str, Any]:
    """Per situation: patients with an expectation, how many held it, and the first failures."""
    checked: Counter[str] = Counter()
    held: Counter[str] = Counter()
    failures: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for o in outcomes:
        if not (o.forbidden_topics or o.no_dose_suggestion or o.forbidden_phrases):
            continue
        checked[o.situation] += 1
        broken = [
            f"{call.hook}: {card.topic} {card.indicator}: {card.summary[:80]}"
            for call in o.calls
            for card in call.cards
            if card.topic in o.forbidden_topics
            or any(t in o.forbidden_topics for t in card.also)
            or (o.no_dose_suggestion and card.suggests_dose)
            or any(phrase in card.summary for phrase in o.forbidden_phrases)
        ]
        if broken:
            if len(failures[o.situation]) < 3:
                failures[o.situation].append({"patient": o.pid, "shown": broken[:3]})
        else:
            held[o.situation] += 1
    return {
        situation: {
            "patients": checked[situation],
            "held": held[situation],
            "pass": held[situation] == checked[situation],
            "failures": failures.get(situation, []),
        }
        for situation in sorted(checked)
    }


def cards_per_order(outcomes: list[Any]) -> dict[str, Any]:
    """Order hooks: cards per order in scope (the selected drafts at order-select, every draft at order-sign)."""
    out: dict[str, Any] = {}
    for hook in ORDER_HOOKS:
        calls = [call for o in outcomes for call in o.calls if call.hook == hook and call.orders]
        orders = sum(call.orders for call in calls)
        cards = sum(len(call.cards) for call in calls)
        out[hook] = {
            "calls": len(calls),
            "orders": orders,
            "cards": cards,
            "cards_per_order": cards / orders if orders else 0.0,
            "max_cards_per_order": max((len(call.cards) / call.orders for call in calls), default=0.0),
        }
    return out


def render(report: dict[str, Any]) -> list[str]:
    """The report's lines for these two sections."""
    lines = []
    per_order = report.get("cards_per_order", {})
    if per_order:
        lines.append(
            "cards per order in scope: "
            + "; ".join(
                f"{hook} {v['cards_per_order']:.2f} ({v['cards']} cards / {v['orders']} orders, max "
                f"{v['max_cards_per_order']:.1f})"
                for hook, v in per_order.items()
            )
        )
    for situation, e in report.get("expectations", {}).items():
        first = e["failures"][0] if e["failures"] else None
        example = f" — e.g. {first['patient']}: {first['shown'][0]}" if first else ""
        lines.append(
            f"{'PASS' if e['pass'] else 'FAIL'}  expectation {situation}: {e['held']}/{e['patients']} patients{example}"
        )
    return lines
