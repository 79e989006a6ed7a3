"""A muscle relaxant ordered for a child below the age its label covers (FDA labels, Pediatric Use).

What it checks. A draft in scope (oral, not a stop) for a muscle relaxant whose label has not
established safety and effectiveness at the patient's age (`thresholds.PEDIATRIC_LABEL_AGES`, each
age checked against the label: oral baclofen tablets under 12, cyclobenzaprine under 15 (extended
release: all children), methocarbamol and carisoprodol under 16, metaxalone 12 and under, orphenadrine,
chlorzoxazone and tizanidine in children, dantrolene under 5). Warning: the label has not
established safety at this age, and pediatric dosing is weight-based. Oral dantrolene from 5 has a
weight-based pediatric dose in its label: info, once, on a start.

Why. The adult plans and ceilings are not a child's; the service's adult titration and ceiling
cards stay quiet for children (the label maximum and the interaction rules still speak).

Quiet: age unknown, adults, a renewal of a drug the child already takes (the decision was made at
the start), intrathecal baclofen (dosed by the pump team), patient-view.
"""

from __future__ import annotations

from cds_service.cards.base import SPECIALIST_DIRECTED, WILL_MONITOR, Rule, make_card
from cds_service.cards.scope import is_muscle_relaxant, subject_medications
from cds_service.cards.text import quote
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, PEDIATRIC_LABEL_AGES, Thresholds
from cds_service.cdshooks import ORDER_HOOKS, Card
from cds_service.facts.judgment import LabelScope, judgment_of
from cds_service.facts.model import MedicationFact, OrderRelation, PatientFacts

_OVERRIDES = (SPECIALIST_DIRECTED, WILL_MONITOR)


def label_age(order: MedicationFact) -> tuple[str, int, str] | None:
    """(ingredient, minimum age, the label's words) for the order's product, or None."""
    for ingredient in order.ingredients:
        key = (
            f"{ingredient}-er" if order.extended_release and f"{ingredient}-er" in PEDIATRIC_LABEL_AGES else ingredient
        )
        if key in PEDIATRIC_LABEL_AGES:
            age, words = PEDIATRIC_LABEL_AGES[key]
            return ingredient, age, words
    return None


def _name(order: MedicationFact) -> str:
    return f"**{quote(order.display)}**"


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    age = facts.age_years
    if age is None or age >= t.elderly_age_years:
        return []
    cards: list[Card] = []
    for order in subject_medications(facts):
        if not is_muscle_relaxant(order) or judgment_of(facts, order, t).scope is not LabelScope.ORAL:
            continue  # the oral labels' ages: an intrathecal or injected product has its own label
        found = label_age(order)
        if found is None:
            continue
        ingredient, min_age, words = found
        relation = facts.continuation_of(order).relation
        if ingredient == "dantrolene" and age >= min_age:
            if relation not in (OrderRelation.START, OrderRelation.RESTART) or age >= 17:
                continue
            cards.append(
                make_card(
                    RULE,
                    summary=f"Dose dantrolene by weight at age {age} (label pediatric dosing)",
                    indicator="info",
                    detail=(
                        f"{_name(order)} for a patient aged {age}. The oral dantrolene label gives "
                        "pediatric dosing by body weight (starting at 0.5 mg/kg), raised stepwise; check liver "
                        "tests (boxed warning: hepatotoxicity)."
                    ),
                    statements=("S5",),
                    overrides=_OVERRIDES,
                    about=(order,),
                    sources=("FDA dantrolene label",),
                    label_of=(ingredient,),
                    drugs=(ingredient,),
                    basis=("weight-based", age),
                )
            )
            continue
        if age >= min_age or relation is OrderRelation.RENEWAL:
            continue
        cards.append(
            make_card(
                RULE,
                summary=f"Reconsider {ingredient} at age {age}: label safety not established (under {min_age})",
                indicator="warning",
                detail=(
                    f"{_name(order)} for a patient aged {age}. {words[0].upper() + words[1:]}. "
                    "Adult doses and plans do not apply; pediatric dosing, where used, is by body weight and "
                    "specialist-directed."
                ),
                statements=("S22",) if ingredient != "dantrolene" else ("S5",),
                overrides=_OVERRIDES,
                about=(order,),
                sources=(f"FDA {ingredient} label",),
                label_of=(ingredient,),
                drugs=(ingredient,),
                basis=("below label age", min_age, age, order.extended_release),
            )
        )
    return cards


_REASONING = "\n\n".join(
    (
        (
            "The labels: oral baclofen tablets, not established below 12; cyclobenzaprine, below 15 (the "
            "extended-release form: not in children); methocarbamol and carisoprodol, below 16; metaxalone, "
            "adults and children over 12; orphenadrine, chlorzoxazone and tizanidine, adult dosing only; oral "
            "dantrolene, weight-based pediatric dosing (0.5 mg/kg to start, raised stepwise), long-term safety "
            "not established below 5."
        ),
        (
            "Adult plans and ceilings are not a child's: pediatric dosing, where used, is by body weight and "
            "specialist-directed. Baclofen titration stays quiet below the label age; the label maximum and the "
            "interaction rules still speak. A renewal, intrathecal baclofen and chart openings are quiet."
        ),
        ("Sources: FDA labels (Pediatric Use) of each drug."),
    )
)


RULE = Rule(
    topic="pediatric-caution",
    title="Muscle relaxant below the label's age",
    statements=("S22", "S5"),
    hooks=ORDER_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "A muscle relaxant ordered for a child below the age its FDA label covers (baclofen tablets under 12, "
        "cyclobenzaprine under 15 and its extended-release form in all children, methocarbamol and carisoprodol "
        "under 16, metaxalone 12 and under, orphenadrine, chlorzoxazone and tizanidine in children, dantrolene "
        "under 5): warning that safety is not established and pediatric dosing is weight-based. Dantrolene from "
        "5: info on weight-based dosing at a start."
    ),
    overrides=_OVERRIDES,
    thresholds=("elderly_age_years",),
)
