"""Albumin for muscle cramps in liver disease (guideline S9; EASL 2018 decompensated cirrhosis).

The evidence (Angeli 1996; EASL 2018) is for cramps in cirrhosis only, so the card needs both an
active muscle-cramp condition and cirrhosis (fatty liver or hepatitis alone do not count).
Order hooks only: when a muscle relaxant is being ordered for such a patient, the moment a cramp
treatment is chosen (a line in the lab-request card when there is one); a chart opening is quiet
(issue 12: nothing here needs action now). Quiet when albumin is already among the active orders.
Info only: albumin is an infusion planned by the hepatology team, not a one-click order.
"""

from __future__ import annotations

from cds_service.cards._electrolytes import relaxant_drafts
from cds_service.cards.base import NOT_APPLICABLE, Rule, make_card
from cds_service.cards.text import describe_condition, main_name
from cds_service.cards.thresholds import ALBUMIN_G_PER_WEEK, DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ORDER_HOOKS, Card
from cds_service.facts.model import ConditionCategory, PatientFacts

_OVERRIDES = (NOT_APPLICABLE,)


def _on_albumin(facts: PatientFacts) -> bool:
    return any(
        "albumin" in m.display.lower() or any("albumin" in i for i in m.ingredients) for m in facts.would_be_active()
    )


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    if facts.hook not in ORDER_HOOKS or not relaxant_drafts(facts):
        return []
    cramps = facts.conditions_in(ConditionCategory.MUSCLE_CRAMPS)
    liver = facts.conditions_in(ConditionCategory.CIRRHOSIS)
    if not cramps or not liver or _on_albumin(facts):
        return []
    low, high = ALBUMIN_G_PER_WEEK
    relaxants = relaxant_drafts(facts)
    return [
        make_card(
            RULE,
            summary=f"Consider albumin {low}-{high} g/week for cramps in cirrhosis (EASL 2018)",
            indicator="info",
            detail="\n\n".join(
                [
                    f"On record: {describe_condition(cramps[0])} and {describe_condition(liver[0])}.",
                    f"Weekly albumin ({low}-{high} g/week), planned with the hepatology team, may reduce cramps in "
                    "cirrhosis; the evidence is from cirrhosis only. Correct potassium and magnesium as well.",
                ]
            ),
            overrides=_OVERRIDES,
            about=relaxants,
            sources=("EASL 2018 (cramps in cirrhosis)",),
            drugs=tuple(sorted({main_name(m) for m in relaxants})),
            basis=(
                (cramps[0].system, cramps[0].code or cramps[0].display),
                (liver[0].system, liver[0].code or liver[0].display),
            ),
        )
    ]


_REASONING = "\n\n".join(
    (
        (
            "EASL 2018 (decompensated cirrhosis): weekly albumin, 20-40 g/week, may reduce muscle cramps; the "
            "evidence (Angeli 1996) is from cirrhosis only, so the card needs both muscle cramps and cirrhosis on"
            " the problem list (fatty liver or hepatitis alone do not count). Albumin is an infusion planned with"
            " the hepatology team: the card is information, never a one-click order. The summary's drug option "
            "for these cramps is baclofen {baclofen_start_max_mg_per_day} to {baclofen_plan_ceiling_mg_per_day} "
            "mg/day (baclofen-titration); correct potassium and magnesium as well."
        ),
        ("Sources: EASL 2018 clinical practice guideline for decompensated cirrhosis; Angeli et al., Hepatology 1996."),
    )
)


RULE = Rule(
    topic="albumin-liver-cramps",
    title="Albumin for cramps in liver disease",
    statements=("S9",),
    hooks=ORDER_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        f"Muscle cramps with cirrhosis: albumin {ALBUMIN_G_PER_WEEK[0]}-{ALBUMIN_G_PER_WEEK[1]} g/week may help (info)."
    ),
    overrides=_OVERRIDES,
    thresholds=("baclofen_start_max_mg_per_day", "baclofen_plan_ceiling_mg_per_day"),
    accompanies=True,  # a line in the lab-request card when there is one (both are cramps-in-cirrhosis care)
)
