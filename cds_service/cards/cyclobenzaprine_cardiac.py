"""Cyclobenzaprine with a cardiac condition or hyperthyroidism (guideline S21, FDA label).

The source says "use with caution"; the label says more: cyclobenzaprine is contraindicated in
arrhythmias, heart block or conduction disturbances, congestive heart failure, the acute recovery
phase of myocardial infarction, and hyperthyroidism. Every category this rule matches is one of
those label contraindications, so the card is always **critical** (never less than the label).
"Recent MI" is what the facts layer classifies as acute (ICD-10 I21/I22, or a recent onset); an old
MI (I25.2) is not a contraindication by itself. One card lists every matching condition. Resolved,
inactive, refuted or entered-in-error conditions do not count. Order hooks: a draft cyclobenzaprine
order (suggestion: remove it). Patient-view: an active one.
"""

from __future__ import annotations

from cds_service.cards.base import (
    BENEFIT_OUTWEIGHS_RISK,
    DATA_OUTDATED,
    SPECIALIST_DIRECTED,
    Rule,
    make_card,
    remove_draft_suggestion,
)
from cds_service.cards.scope import is_order_hook, subject_medications
from cds_service.cards.text import describe_condition, describe_order
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, Card
from cds_service.facts.model import ConditionCategory, PatientFacts

# What the label calls each category, in the order a card lists them.
LABEL_CONTRAINDICATIONS: dict[ConditionCategory, str] = {
    ConditionCategory.CARDIAC_ARRHYTHMIA: "arrhythmia",
    ConditionCategory.CARDIAC_CONDUCTION: "heart block / conduction disturbance",
    ConditionCategory.HEART_FAILURE: "congestive heart failure",
    ConditionCategory.RECENT_MI: "acute recovery phase of myocardial infarction",
    ConditionCategory.HYPERTHYROIDISM: "hyperthyroidism",
}


_OVERRIDES = (DATA_OUTDATED, SPECIALIST_DIRECTED, BENEFIT_OUTWEIGHS_RISK)


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    orders = [m for m in subject_medications(facts) if m.has("cyclobenzaprine")]
    if not orders:
        return []
    matches = [
        (condition, [name for c, name in LABEL_CONTRAINDICATIONS.items() if c in condition.categories])
        for condition in facts.conditions_in(*LABEL_CONTRAINDICATIONS)
    ]
    if not matches:
        return []
    problems: list[str] = []
    for _, names in matches:
        problems += [n for n in names if n not in problems]
    summary = f"Cyclobenzaprine is contraindicated with {_join(problems)}"
    condition_lines = "\n".join(f"- {describe_condition(c)}: {', '.join(names)}" for c, names in matches)
    order_lines = "\n".join(f"- {describe_order(m)}" for m in orders)
    detail = (
        f"Cyclobenzaprine order:\n{order_lines}\n\n"
        f"The patient's conditions that the cyclobenzaprine label lists as **contraindications**:\n"
        f"{condition_lines}\n\n"
        "Cyclobenzaprine is structurally related to the tricyclic antidepressants: it can cause arrhythmias, "
        "sinus tachycardia and prolonged conduction time leading to myocardial infarction and stroke. "
        'The source summary says only "use with caution"; the FDA label contraindicates it in '
        "arrhythmias, heart block or conduction disturbances, congestive heart failure, the acute "
        "recovery phase of myocardial infarction and hyperthyroidism. Choose another approach."
    )
    suggestions = (
        [
            remove_draft_suggestion(m, "contraindicated by the label in this patient's condition")
            for m in orders
            if m.is_draft
        ]
        if is_order_hook(facts)
        else []
    )
    return [
        make_card(
            RULE,
            summary=summary,
            indicator="critical",
            detail=detail,
            suggestions=suggestions,
            overrides=_OVERRIDES,
        )
    ]


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


RULE = Rule(
    topic="cyclobenzaprine-cardiac",
    title="Cyclobenzaprine with a cardiac contraindication or hyperthyroidism",
    statements=("S21",),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    description=(
        "Critical card when cyclobenzaprine is ordered (or active, patient-view) for a patient with an "
        "arrhythmia, heart block or conduction disturbance, heart failure, an acute/recent myocardial "
        'infarction or hyperthyroidism: label contraindications, stronger than the source\'s "caution".'
    ),
    overrides=_OVERRIDES,
)
