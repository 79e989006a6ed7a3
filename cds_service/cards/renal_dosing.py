"""Baclofen and tizanidine with reduced kidney function (AGS Beers 2023 Table 6; FDA tizanidine label).

What it checks. Oral baclofen (renally cleared, mostly unchanged) with an eGFR below
`beers_baclofen_min_egfr`: warning (Beers 2023: avoid; if used, the lowest effective dose and watch
for confusion and encephalopathy); below `baclofen_critical_egfr`, or on dialysis: critical
(encephalopathy needing hospital care has been reported). Tizanidine with a CrCl below
`tizanidine_reduce_below_crcl`: warning (label: clearance falls by more than half; reduce the dose);
the eGFR stands in for the CrCl, and the card says so. A CKD stage from a condition is used when no
eGFR is on record (stage 3: 30-59; stage 4: 15-29; stage 5: < 15), and the card says how the eGFR
was obtained (a result, computed with CKD-EPI 2021 from creatinine, or a condition).

When. Order hooks: a draft in scope for oral baclofen or tizanidine, except a reduction or a stop
(the card would ask for what the order already does). Patient-view: a current order in reduced
kidney function, warning and critical alike: the regimen in place is what accumulates, and the
chart opening may be the first time anyone looks at the two together (an override keeps the card
away for that patient while the facts stay the same). "Check CrCl" when only a CKD stage suggests a
tizanidine reduction is for the moment of ordering. No renal data: quiet here (a baclofen start at
65 or older gets a line in its dose card instead).
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.cards.base import ALREADY_TOLERATING, SPECIALIST_DIRECTED, WILL_MONITOR, Rule, make_card
from cds_service.cards.scope import is_order_hook
from cds_service.cards.text import fmt_date, fmt_number, quote
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, Card, Indicator
from cds_service.facts.model import ConditionCategory, MedicationFact, OrderRelation, PatientFacts, Route

_OVERRIDES = (SPECIALIST_DIRECTED, WILL_MONITOR, ALREADY_TOLERATING)
_STAGE_RANGE = {3: (30.0, 59.0), 4: (15.0, 29.0), 5: (0.0, 14.0)}


@dataclass(frozen=True, slots=True)
class Kidney:
    """The kidney function a card quotes: an eGFR (or the top of a stage's range), and how it was obtained."""

    egfr: float | None  # the value, or None for dialysis only
    upper: float | None  # the highest eGFR the record allows (a stage's top); = egfr for a result
    how: str
    dialysis: bool


def kidney(facts: PatientFacts) -> Kidney | None:
    renal = facts.renal
    dialysis = bool(renal and renal.on_dialysis) or bool(facts.conditions_in(ConditionCategory.DIALYSIS))
    if renal is not None and renal.egfr is not None:
        when = f" on {fmt_date(renal.measured_at)}" if renal.measured_at else ""
        return Kidney(renal.egfr, renal.egfr, f"{quote(renal.method, 80)}{when}", dialysis)
    stage = renal.ckd_stage if renal is not None else None
    if stage is None:
        for number, category in (
            (5, ConditionCategory.CKD_STAGE_5),
            (4, ConditionCategory.CKD_STAGE_4),
            (3, ConditionCategory.CKD_STAGE_3),
        ):
            if facts.conditions_in(category):
                stage = number
                break
    if stage in _STAGE_RANGE:
        low, high = _STAGE_RANGE[stage]
        return Kidney(
            None, high, f"CKD stage {stage} on the problem list (eGFR {fmt_number(low)}-{fmt_number(high)})", dialysis
        )
    if dialysis:
        return Kidney(None, 0.0, "dialysis on record", True)
    return None


def _egfr_text(k: Kidney) -> str:
    value = f"eGFR {fmt_number(k.egfr, 0)} mL/min/1.73 m²" if k.egfr is not None else "eGFR not measured"
    return f"{value} ({k.how})" + ("; on dialysis" if k.dialysis else "")


def _is_subject(facts: PatientFacts, order: MedicationFact) -> bool:
    if order.is_stop or order.route is Route.INTRATHECAL or not order.is_oral:
        return False
    if not (order.has("baclofen") or order.has("tizanidine")):
        return False
    if order.is_draft:
        return facts.continuation_of(order).relation is not OrderRelation.DECREASE
    return True


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    orders = facts.drafts_in_scope if is_order_hook(facts) else facts.active_medications()
    subjects = [m for m in orders if _is_subject(facts, m)]
    if not subjects:
        return []
    k = kidney(facts)
    if k is None:
        return []
    cards: list[Card] = []
    seen: set[str] = set()
    for order in subjects:
        drug = "baclofen" if order.has("baclofen") else "tizanidine"
        if drug in seen:
            continue
        card = _baclofen(facts, order, k, t) if drug == "baclofen" else _tizanidine(facts, order, k, t)
        if card is not None:
            seen.add(drug)
            cards.append(card)
    return cards


def _baclofen(facts: PatientFacts, order: MedicationFact, k: Kidney, t: Thresholds) -> Card | None:
    critical = k.dialysis or (k.upper is not None and k.upper < t.baclofen_critical_egfr)
    low = critical or (k.upper is not None and k.upper < t.beers_baclofen_min_egfr)
    if not low:  # on chart opening too: the regimen in place is what accumulates (Beers: avoid)
        return None
    indicator: Indicator = "critical" if critical else "warning"
    if critical:
        summary = "Avoid baclofen: severe kidney impairment (encephalopathy risk)"
        advice = (
            "Baclofen is cleared by the kidney and accumulates at this function (confusion, encephalopathy, "
            "coma): choose another option, or a much lower dose with close monitoring."
        )
    else:
        summary = f"Avoid baclofen at eGFR < {fmt_number(t.beers_baclofen_min_egfr)}; if used, lowest dose"
        advice = (
            f"Beers 2023: avoid baclofen at eGFR < {fmt_number(t.beers_baclofen_min_egfr)}; if it is needed, use the "
            "lowest effective dose and watch for confusion and encephalopathy."
        )
    return make_card(
        RULE,
        summary=summary,
        indicator=indicator,
        detail=f"Kidney: {_egfr_text(k)}.\n\n{advice}",
        statements=("S22",),
        overrides=_OVERRIDES,
        about=(order,),
        sources=("AGS Beers 2023", "FDA oral baclofen label"),
        label_of=("baclofen",),
        drugs=("baclofen",),
        basis=(indicator, k.dialysis, k.egfr is None),
    )


def _tizanidine(facts: PatientFacts, order: MedicationFact, k: Kidney, t: Thresholds) -> Card | None:
    below = k.dialysis or (k.upper is not None and k.upper < t.tizanidine_reduce_below_crcl)
    maybe = not below and k.egfr is None and k.upper is not None and k.upper - 15 < t.tizanidine_reduce_below_crcl
    if not below and (not maybe or not is_order_hook(facts)):  # "check CrCl" is for the moment of ordering
        return None
    limit = fmt_number(t.tizanidine_reduce_below_crcl)
    detail = (
        f"Kidney: {_egfr_text(k)}. The eGFR stands in for the creatinine clearance the label uses.\n\n"
        f"Tizanidine label: at CrCl < {limit} mL/min clearance falls by more than half; reduce the individual "
        "doses, raising the dose size before the frequency. Watch blood pressure and sedation."
    )
    return make_card(
        RULE,
        summary=(
            f"Reduce tizanidine doses: CrCl < {limit} mL/min (label)"
            if below
            else f"Check CrCl before tizanidine: below {limit} mL/min needs lower doses"
        ),
        indicator="warning" if below else "info",
        detail=detail,
        statements=("S4",),
        overrides=_OVERRIDES,
        about=(order,),
        sources=("FDA tizanidine label",),
        label_of=("tizanidine",),
        drugs=("tizanidine",),
        basis=("below" if below else "maybe below", k.dialysis, k.egfr is None),
    )


_REASONING = "\n\n".join(
    (
        (
            "Baclofen is cleared by the kidney, mostly unchanged: at reduced function it accumulates, and "
            "encephalopathy needing hospital care has been reported. AGS Beers 2023 (Table 6): avoid baclofen at "
            "eGFR < {beers_baclofen_min_egfr}; if it is needed, use the lowest effective dose and watch for "
            "confusion and encephalopathy. Below {baclofen_critical_egfr} or on dialysis the card is critical: "
            "choose another option, or a much lower dose with close monitoring."
        ),
        (
            "Tizanidine label: at a creatinine clearance below {tizanidine_reduce_below_crcl} mL/min clearance "
            "falls by more than half; reduce the individual doses and, if higher doses are needed, raise the dose"
            " size before the frequency; watch blood pressure and sedation. The eGFR stands in for the creatinine"
            " clearance."
        ),
        (
            "How kidney function is known: an eGFR result; an eGFR computed with the race-free CKD-EPI 2021 "
            "equation from serum creatinine, age and sex; a CKD stage on the problem list (stage 3: 30-59, stage "
            "4: 15-29, stage 5: below 15; the top of the stage is used); or dialysis. The card says which."
        ),
        ("Sources: AGS Beers Criteria 2023 (Table 6); FDA oral baclofen and tizanidine labels."),
    )
)


RULE = Rule(
    topic="renal-dosing",
    title="Baclofen and tizanidine in reduced kidney function",
    statements=("S22", "S4"),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "Oral baclofen at eGFR < {beers_baclofen_min_egfr} mL/min/1.73 m²: warning (Beers 2023: avoid; lowest "
        "effective dose, watch for encephalopathy); below {baclofen_critical_egfr} or on dialysis: critical (also "
        "on chart opening). Tizanidine at CrCl < {tizanidine_reduce_below_crcl} mL/min (eGFR standing in): warning "
        "(label: reduce the dose). The card says whether the eGFR is a result, computed with CKD-EPI 2021 from "
        "creatinine, or a CKD stage on the problem list. A reduction or a stop is quiet."
    ),
    overrides=_OVERRIDES,
    thresholds=("beers_baclofen_min_egfr", "baclofen_critical_egfr", "tizanidine_reduce_below_crcl"),
)
