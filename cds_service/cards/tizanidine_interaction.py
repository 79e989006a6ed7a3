"""Tizanidine with CYP1A2 inhibitors (guideline S4, FDA tizanidine label).

The label contraindicates fluvoxamine and ciprofloxacin with tizanidine: they greatly raise its
exposure (clinically significant hypotension and sedation), so that card is **critical**. The label's
other CYP1A2 inhibitors (other fluoroquinolones, amiodarone, mexiletine, propafenone, verapamil,
cimetidine, famotidine, acyclovir, ticlopidine, zileuton, oral contraceptives: class
`cyp1a2-inhibitor`) should be avoided; if needed, start tizanidine low and watch blood pressure and
sedation: **warning**. Inhibitors are recognized by class and, for the contraindicated two, by name
as a safety net. Order hooks: fires when tizanidine or an inhibitor is among the drafts in scope and
both would be taken (a stop is never taken). Patient-view: both current (the pair may have been put
together by two prescribers; an override keeps the card away while the same drugs stay together).
One card per concern lists every inhibitor.
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
from cds_service.cards.scope import combination_pool, group_by_drug, is_order_hook
from cds_service.cards.text import describe_drug, fit_names, main_name
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


def is_other_inhibitor(medication: MedicationFact) -> bool:
    return medication.in_class(DrugClass.CYP1A2_INHIBITOR) and not is_contraindicated_inhibitor(medication)


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    pool = combination_pool(facts)
    tizanidine = [m for m in pool if m.has("tizanidine")]
    if not tizanidine:
        return []
    inhibitors = [m for m in pool if is_contraindicated_inhibitor(m) and not m.has("tizanidine")]
    if inhibitors:
        return _contraindicated(facts, tizanidine, inhibitors)
    others = [m for m in pool if is_other_inhibitor(m) and not m.has("tizanidine")]
    if others:
        return _avoid(facts, tizanidine, others)
    return []


def _in_scope(facts: PatientFacts, involved: list[MedicationFact]) -> list[MedicationFact]:
    scope = {m.reference for m in facts.drafts_in_scope}
    return [m for m in involved if m.reference in scope and m.is_draft]


def _taken(involved: list[MedicationFact]) -> str:
    groups = group_by_drug(involved)
    return f"Taken together: {', '.join(describe_drug(g[0]) for g in groups[:4])}."


def _avoid(facts: PatientFacts, tizanidine: list[MedicationFact], others: list[MedicationFact]) -> list[Card]:
    involved = tizanidine + others
    drafts = _in_scope(facts, involved) if is_order_hook(facts) else []
    if is_order_hook(facts) and not drafts:
        return []
    names = [main_name(g[0]) for g in group_by_drug(others)]
    return [
        make_card(
            RULE,
            summary=f"Avoid tizanidine with {fit_names(names, 40)} (CYP1A2); if needed, start low",
            indicator="warning",
            detail="\n\n".join(
                [
                    _taken(involved),
                    "Tizanidine label: avoid other CYP1A2 inhibitors, which raise tizanidine levels; if the "
                    "combination is needed, start tizanidine low and watch blood pressure and sedation.",
                ]
            ),
            overrides=_OVERRIDES,
            about=drafts,
            sources=("FDA tizanidine label",),
            label_of=("tizanidine",),
            drugs=("tizanidine", *names),
            basis=("avoid",),
        )
    ]


def _contraindicated(
    facts: PatientFacts, tizanidine: list[MedicationFact], inhibitors: list[MedicationFact]
) -> list[Card]:
    involved = tizanidine + inhibitors
    drafts_in_scope: list[MedicationFact] = []
    if is_order_hook(facts):
        drafts_in_scope = _in_scope(facts, involved)
        if not drafts_in_scope:
            return []
    inhibitor_names = [main_name(g[0]) for g in group_by_drug(inhibitors)]
    summary = f"Do not use tizanidine with {' and '.join(inhibitor_names)}: contraindicated (hypotension, sedation)"
    if len(summary) > SUMMARY_MAX:
        summary = "Do not use tizanidine with strong CYP1A2 inhibitors: contraindicated (hypotension, sedation)"
    detail = "\n\n".join(
        [
            _taken(involved),
            "The tizanidine label **contraindicates** fluvoxamine and ciprofloxacin: these strong CYP1A2 inhibitors "
            "greatly raise tizanidine levels (significant hypotension, excessive sedation, psychomotor impairment). "
            "Choose another drug for one of the two.",
        ]
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
            detail=detail,
            suggestions=suggestions,
            overrides=_OVERRIDES,
            about=drafts_in_scope or involved,
            sources=("FDA tizanidine label",),
            label_of=("tizanidine",),
            drugs=("tizanidine", *inhibitor_names),
            basis=("contraindicated",),
        )
    ]


_REASONING = "\n\n".join(
    (
        (
            "Tizanidine label: contraindicated with fluvoxamine or ciprofloxacin, potent CYP1A2 inhibitors that "
            "raise tizanidine exposure many-fold (clinically significant hypotension, excessive sedation, "
            "psychomotor impairment). Other CYP1A2 inhibitors (other fluoroquinolones, amiodarone, mexiletine, "
            "propafenone, verapamil, cimetidine, famotidine, acyclovir, ticlopidine, zileuton, oral "
            "contraceptives) should be avoided; if one is needed, start tizanidine low and watch blood pressure "
            "and sedation."
        ),
        (
            "Critical for the contraindicated pair, a warning for the others; on order hooks and on chart opening "
            "when both are current."
        ),
        ("Sources: FDA tizanidine label (Contraindications; Drug Interactions)."),
    )
)


RULE = Rule(
    topic="tizanidine-interaction",
    title="Tizanidine with CYP1A2 inhibitors",
    statements=("S4",),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "Critical card when tizanidine and fluvoxamine or ciprofloxacin (strong CYP1A2 inhibitors) would be "
        "taken together: a label contraindication. Warning (order hooks) with the label's other CYP1A2 "
        "inhibitors (other fluoroquinolones, amiodarone, mexiletine, propafenone, verapamil, cimetidine, "
        "famotidine, acyclovir, ticlopidine, zileuton, oral contraceptives): avoid; if needed, start low and watch "
        "blood pressure and sedation."
    ),
    overrides=_OVERRIDES,
)
