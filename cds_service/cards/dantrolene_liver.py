"""Oral dantrolene and the liver (guideline S5; FDA dantrolene boxed warning: hepatotoxicity).

What it checks. Oral dantrolene (capsules; not IV dantrolene for malignant hyperthermia) with active
liver disease (active hepatitis, cirrhosis: `ConditionCategory.ACTIVE_LIVER_DISEASE`): critical,
the label contraindicates it. Otherwise a start or restart gets one info card: the boxed warning
(fatal and non-fatal hepatitis; higher risk in women, over 35, with estrogens, above 400 mg/day),
liver tests at baseline and during treatment, and stop if no benefit within 45 days.

When. Order hooks: a dantrolene draft in scope (not a stop). Patient-view: only the contraindication
(a current oral dantrolene order with active liver disease), which needs action now. A renewal
without liver disease is quiet.
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
from cds_service.cards.text import describe_condition, fmt_mg, quote
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, Card
from cds_service.facts.model import ConditionCategory, MedicationFact, OrderRelation, PatientFacts

_OVERRIDES = (DATA_OUTDATED, SPECIALIST_DIRECTED, BENEFIT_OUTWEIGHS_RISK)


def _name(order: MedicationFact) -> str:
    return f"**{quote(order.display)}**"


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    orders = [m for m in subject_medications(facts) if m.has("dantrolene") and m.is_oral]
    if not orders:
        return []
    liver = facts.conditions_in(ConditionCategory.ACTIVE_LIVER_DISEASE)
    cards: list[Card] = []
    for order in orders:
        if liver:
            cards.append(
                make_card(
                    RULE,
                    summary="Do not use oral dantrolene: contraindicated in active liver disease",
                    indicator="critical",
                    detail=(
                        f"{_name(order)} with {describe_condition(liver[0])}. The dantrolene label "
                        "contraindicates oral dantrolene in active hepatic disease (hepatitis, cirrhosis); boxed "
                        "warning: fatal and non-fatal hepatitis."
                    ),
                    statements=("S5",),
                    suggestions=[remove_draft_suggestion(order, "contraindicated in active liver disease")]
                    if is_order_hook(facts) and order.is_draft
                    else [],
                    overrides=_OVERRIDES,
                    about=(order,),
                    sources=("FDA dantrolene label (boxed warning)",),
                    label_of=("dantrolene",),
                    drugs=("dantrolene",),
                    basis=("active liver disease", liver[0].system, liver[0].code or liver[0].display),
                )
            )
            continue
        if not is_order_hook(facts):
            continue
        if facts.continuation_of(order).relation not in (OrderRelation.START, OrderRelation.RESTART):
            continue
        cards.append(
            make_card(
                RULE,
                summary="Check liver tests before and during oral dantrolene (boxed warning)",
                indicator="info",
                detail=(
                    f"{_name(order)}: boxed warning, hepatotoxicity (fatal and non-fatal hepatitis; "
                    f"more often in women, over 35, with estrogens, above {fmt_mg(t.dantrolene_max_mg_per_day)}/day). "
                    "Check liver tests at baseline and during treatment; stop if there is no benefit within 45 days."
                ),
                statements=("S5",),
                overrides=_OVERRIDES,
                about=(order,),
                sources=("FDA dantrolene label (boxed warning)",),
                label_of=("dantrolene",),
                drugs=("dantrolene",),
                basis=("start", order.daily_dose.mg_per_day),
            )
        )
    return cards


_REASONING = "\n\n".join(
    (
        (
            "Boxed warning (oral dantrolene): potential for hepatotoxicity. Symptomatic hepatitis, fatal and non-"
            "fatal, has been reported at various doses, more often above {dantrolene_max_mg_per_day} mg/day, in "
            "women, in patients over 35 and with estrogens. The label contraindicates oral dantrolene in active "
            "hepatic disease such as hepatitis and cirrhosis; liver function is checked at baseline and during "
            "treatment, and dantrolene is stopped if no benefit is seen within 45 days."
        ),
        (
            "What fires: oral dantrolene (not IV dantrolene for malignant hyperthermia) with active liver disease"
            " on the problem list: critical, with removal of the draft offered, and on chart opening for a "
            "current order. A start or restart without it: one information card on the boxed warning and liver "
            "tests. Fatty liver alone is not active liver disease."
        ),
        ("Sources: FDA dantrolene capsule label (boxed warning; Contraindications)."),
    )
)


RULE = Rule(
    topic="dantrolene-liver",
    title="Dantrolene and the liver",
    statements=("S5",),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "Oral dantrolene with active liver disease (active hepatitis, cirrhosis): critical, a label "
        "contraindication (also on chart opening). A dantrolene start otherwise: info on the boxed "
        "hepatotoxicity warning and liver tests (risk higher above {dantrolene_max_mg_per_day} mg/day)."
    ),
    overrides=_OVERRIDES,
    thresholds=("dantrolene_max_mg_per_day",),
)
