"""An order for a drug this service checks whose fields could not be read (MedicationFact.problems).

What it checks. An order in scope (a draft in scope on order hooks, a current order on patient-view)
for a drug the rules read, with fields the facts layer could not read (a date without a timezone, a
dose "NaN", frequency 0 ...). Warning naming the order, what could not be read and which checks
therefore did not run: an unreadable order must never look like "all clear" (`{"cards": []}`).
"""

from __future__ import annotations

from cds_service.cards.base import DATA_OUTDATED, Rule, make_card
from cds_service.cards.scope import subject_medications
from cds_service.cards.text import describe_order, main_name, quote
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, Card
from cds_service.facts.model import PatientFacts

_OVERRIDES = (DATA_OUTDATED,)


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    cards: list[Card] = []
    for order in subject_medications(facts):
        if not order.problems:
            continue
        problems = "; ".join(quote(p) for p in order.problems[:4])
        cards.append(
            make_card(
                RULE,
                summary=f"Check this {main_name(order)} order by hand: part of it could not be read",
                indicator="warning",
                detail=(
                    f"{describe_order(order)}: could not read {problems}. The dose, duration and interaction "
                    "checks that need these fields did **not** run for this order; a missing warning does not "
                    "mean it is safe. Correct the order, or review it in full."
                ),
                statements=("S23",),
                overrides=_OVERRIDES,
                about=(order,),
                drugs=order.ingredients,
                basis=(order.problems,),
            )
        )
    return cards


_REASONING = "\n\n".join(
    (
        (
            "An order for a drug the rules read, with fields the facts layer could not read (a date without a "
            "timezone, a dose that is not a number, frequency 0...): the checks that need those fields did not "
            "run for it. An unreadable order must never look like 'all clear', so a warning names the order and "
            "what could not be read."
        ),
    )
)


RULE = Rule(
    topic="order-unreadable",
    title="Order that could not be read in full",
    statements=("S23",),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "An order in scope for a drug this service checks, with fields that could not be read (a date without "
        "a timezone, a dose that is not a number, frequency 0...): warning naming the order, what could not be "
        "read and that the checks needing it did not run."
    ),
    overrides=_OVERRIDES,
)
