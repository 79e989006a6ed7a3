"""Albumin for muscle cramps in liver disease (guideline S9; EASL 2018 decompensated cirrhosis).

The evidence (Angeli 1996; EASL 2018) is for cramps in cirrhosis only, so the card needs both an
active muscle-cramp condition and cirrhosis (fatty liver or hepatitis alone do not count).
Patient-view: whenever both are on the problem list. Order hooks: when a muscle relaxant is being
ordered for such a patient (the moment a cramp treatment is chosen). Quiet when albumin is already
among the active orders. Info only: albumin is an infusion planned by the hepatology team, not a
one-click order.
"""

from __future__ import annotations

from cds_service.cards._electrolytes import relaxant_drafts
from cds_service.cards.base import NOT_APPLICABLE, Rule, make_card
from cds_service.cards.text import describe_condition, fmt_mg
from cds_service.cards.thresholds import ALBUMIN_G_PER_WEEK, DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, ORDER_HOOKS, Card
from cds_service.facts.model import ConditionCategory, PatientFacts

_OVERRIDES = (NOT_APPLICABLE,)


def _on_albumin(facts: PatientFacts) -> bool:
    return any(
        "albumin" in m.display.lower() or any("albumin" in i for i in m.ingredients) for m in facts.would_be_active()
    )


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    if facts.hook in ORDER_HOOKS and not relaxant_drafts(facts):
        return []
    cramps = facts.conditions_in(ConditionCategory.MUSCLE_CRAMPS)
    liver = facts.conditions_in(ConditionCategory.CIRRHOSIS)
    if not cramps or not liver or _on_albumin(facts):
        return []
    low, high = ALBUMIN_G_PER_WEEK
    return [
        make_card(
            RULE,
            summary=f"Consider albumin {low}-{high} g/week for cramps in cirrhosis (EASL 2018)",
            indicator="info",
            detail="\n".join(
                [
                    f"This patient has {describe_condition(cramps[0])} and {describe_condition(liver[0])}.",
                    "",
                    f"Weekly albumin infusion ({low}-{high} g/week) may reduce muscle cramps in cirrhosis "
                    "(EASL 2018). The evidence is from cirrhosis only. Correct potassium and magnesium as well; "
                    f"baclofen {fmt_mg(t.baclofen_start_max_mg_per_day)}-"
                    f"{fmt_mg(t.baclofen_plan_ceiling_mg_per_day)}/day is the source's drug option for these cramps.",
                ]
            ),
            overrides=_OVERRIDES,
            about=relaxant_drafts(facts),
            sources=("EASL 2018 decompensated-cirrhosis guideline",),
        )
    ]


RULE = Rule(
    topic="albumin-liver-cramps",
    title="Albumin for cramps in liver disease",
    statements=("S9",),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    description=(
        f"Muscle cramps with cirrhosis: albumin {ALBUMIN_G_PER_WEEK[0]}-{ALBUMIN_G_PER_WEEK[1]} g/week may help (info)."
    ),
    overrides=_OVERRIDES,
    thresholds=("baclofen_start_max_mg_per_day", "baclofen_plan_ceiling_mg_per_day"),
)
