"""Tizanidine with fluvoxamine or ciprofloxacin (guideline S4, FDA tizanidine label).

The label contraindicates these strong CYP1A2 inhibitors with tizanidine: they greatly raise its
exposure (clinically significant hypotension and sedation), so the card is
**critical**. Inhibitors are recognized by class (`strong-cyp1a2-inhibitor`) and, as a safety net,
by ingredient name. Order hooks: fires when tizanidine or an inhibitor is among the drafts in scope
and both would be active (suggestion: remove the draft(s) involved). Patient-view: both active.
One card lists every inhibitor.
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
from cds_service.cards.scope import combination_pool, group_by_drug, is_order_hook
from cds_service.cards.text import describe_order, main_name
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, Card
from cds_service.facts.model import DrugClass, MedicationFact, PatientFacts

# FDA tizanidine label, Contraindications (codes.json strong_cyp1a2_inhibitors_tizanidine_contraindicated).
LABEL_CONTRAINDICATED_INHIBITORS = frozenset({"fluvoxamine", "ciprofloxacin"})
_OVERRIDES = (DATA_OUTDATED, SPECIALIST_DIRECTED, BENEFIT_OUTWEIGHS_RISK)


def is_contraindicated_inhibitor(medication: MedicationFact) -> bool:
    return medication.in_class(DrugClass.STRONG_CYP1A2_INHIBITOR) or any(
        medication.has(name) for name in LABEL_CONTRAINDICATED_INHIBITORS
    )


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    pool = combination_pool(facts)
    tizanidine = [m for m in pool if m.has("tizanidine")]
    inhibitors = [m for m in pool if is_contraindicated_inhibitor(m) and not m.has("tizanidine")]
    if not tizanidine or not inhibitors:
        return []
    involved = tizanidine + inhibitors
    drafts_in_scope: list[MedicationFact] = []
    if is_order_hook(facts):
        scope = {m.reference for m in facts.drafts_in_scope}
        drafts_in_scope = [m for m in involved if m.reference in scope and m.is_draft]
        if not drafts_in_scope:
            return []
    inhibitor_names = [main_name(g[0]) for g in group_by_drug(inhibitors)]
    summary = f"Tizanidine with {' and '.join(inhibitor_names)} is contraindicated (CYP1A2: hypotension, sedation)"
    lines = ["Orders involved:"]
    lines += [f"- {describe_order(m)}" for m in involved]
    lines.append(
        "\nThe tizanidine label **contraindicates** use with fluvoxamine or ciprofloxacin: these strong "
        "CYP1A2 inhibitors greatly raise tizanidine levels, causing clinically significant hypotension, "
        "excessive sedation and psychomotor impairment. Choose an alternative to one of the two "
        "(e.g. another antibiotic or antidepressant, or another antispasticity agent)."
    )
    suggestions = [
        remove_draft_suggestion(m, "contraindicated combination of tizanidine and a strong CYP1A2 inhibitor")
        for m in drafts_in_scope
    ]
    return [
        make_card(
            RULE,
            summary=summary,
            indicator="critical",
            detail="\n".join(lines),
            suggestions=suggestions,
            overrides=_OVERRIDES,
        )
    ]


RULE = Rule(
    topic="tizanidine-interaction",
    title="Tizanidine with fluvoxamine or ciprofloxacin",
    statements=("S4",),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    description=(
        "Critical card when tizanidine and fluvoxamine or ciprofloxacin (strong CYP1A2 inhibitors) would be "
        "active together: a label contraindication."
    ),
    overrides=_OVERRIDES,
)
