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
    SUMMARY_MAX,
    Rule,
    make_card,
    remove_draft_suggestion,
)
from cds_service.cards.scope import is_order_hook, subject_medications
from cds_service.cards.text import describe_condition, describe_order, join_and
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, Card
from cds_service.facts.model import ConditionCategory, PatientFacts

# The label's contraindications (its own words are on the guideline page), as a card names them, in order.
LABEL_CONTRAINDICATIONS: dict[ConditionCategory, str] = {
    ConditionCategory.CARDIAC_ARRHYTHMIA: "arrhythmia",
    ConditionCategory.CARDIAC_CONDUCTION: "heart block",
    ConditionCategory.HEART_FAILURE: "heart failure",
    ConditionCategory.RECENT_MI: "acute MI",
    ConditionCategory.HYPERTHYROIDISM: "hyperthyroidism",
}


_OVERRIDES = (DATA_OUTDATED, SPECIALIST_DIRECTED, BENEFIT_OUTWEIGHS_RISK)


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    orders = [m for m in subject_medications(facts) if m.has("cyclobenzaprine")]
    if not orders:
        return []
    matches = [
        (condition, [words for c, words in LABEL_CONTRAINDICATIONS.items() if c in condition.categories])
        for condition in facts.conditions_in(*LABEL_CONTRAINDICATIONS)
    ]
    if not matches:
        return []
    short: list[str] = []
    for _, found in matches:
        short += [name for name in found if name not in short]
    verb = "Avoid" if is_order_hook(facts) else "Stop"
    summary = f"{verb} cyclobenzaprine: contraindicated with {join_and(short)} (label)"
    if len(summary) > SUMMARY_MAX:
        summary = f"{verb} cyclobenzaprine: {len(short)} label contraindications on record"
    condition_lines = "\n".join(
        f"- {describe_condition(c, 30, brief=True)}: {', '.join(found)}" for c, found in matches[:3]
    )
    if len(matches) > 3:
        rest = list(dict.fromkeys(name for _, found in matches[3:] for name in found))
        condition_lines += f"\n- and {len(matches) - 3} more: {', '.join(rest)}"
    more = f" and {len(orders) - 1} more" if len(orders) > 1 else ""
    detail = "\n\n".join(
        [
            f"Order: {describe_order(orders[0], 45)}{more}. On record:\n{condition_lines}",
            "Tricyclic-like (arrhythmias, conduction delay, MI, stroke): the label contraindicates it. Choose "
            "another option.",
        ]
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
            about=orders,
            sources=("FDA cyclobenzaprine label",),
            label_of=("cyclobenzaprine",),
            drugs=("cyclobenzaprine",),
            basis=(tuple(sorted(short)), tuple(sorted((c.system or "", c.code or c.display) for c, _ in matches))),
        )
    ]


_REASONING = "\n\n".join(
    (
        (
            "Cyclobenzaprine is structurally related to the tricyclic antidepressants, which have been reported "
            "to produce arrhythmias, sinus tachycardia and prolongation of the conduction time leading to "
            "myocardial infarction and stroke. The FDA label therefore contraindicates it in the acute recovery "
            "phase of myocardial infarction, in arrhythmias, heart block or conduction disturbances, in "
            "congestive heart failure and in hyperthyroidism (with MAOIs: serotonergic-combination)."
        ),
        (
            "The source summary says only 'use with caution' (S21); the label is the floor, so the card is "
            "critical and, on an order, offers removing the draft. A recent MI is what the facts layer reads as "
            "acute (ICD-10-CM I21/I22, or an MI with a recent onset); an old MI is not a contraindication by "
            "itself. Resolved, inactive, refuted or entered-in-error conditions do not count. On chart opening "
            "the card appears for a current cyclobenzaprine order: stopping it is needed now."
        ),
        ("Sources: FDA cyclobenzaprine label (Contraindications; Warnings)."),
    )
)


RULE = Rule(
    topic="cyclobenzaprine-cardiac",
    title="Cyclobenzaprine with a cardiac contraindication or hyperthyroidism",
    statements=("S21",),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "Critical card when cyclobenzaprine is ordered (or active, patient-view) for a patient with an "
        "arrhythmia, heart block or conduction disturbance, heart failure, an acute/recent myocardial "
        'infarction or hyperthyroidism: label contraindications, stronger than the source\'s "caution".'
    ),
    overrides=_OVERRIDES,
)
