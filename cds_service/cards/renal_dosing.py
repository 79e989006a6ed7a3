"""Baclofen and tizanidine with reduced kidney function (FDA labels; AGS Beers 2023 Table 6 from 65).

What it checks. Oral baclofen (excreted mainly unchanged by the kidney), judged from the order's dose
judgment (`facts.judgment`): below `baclofen_critical_egfr`, or on dialysis, there is no labelled oral
dose: critical, no one-click dose anywhere, the card says why and what to consider. Below
`beers_baclofen_min_egfr`: at `elderly_age_years` or older Beers 2023 (avoid; if used, the lowest
effective dose), younger the label's own words (renally excreted: caution, a reduced dosage may be
needed): a dose review, never "avoid", which can prompt an abrupt stop (issue 19, item 4). Acute
kidney injury is named: its eGFR overstates the function. Tizanidine with a CrCl below
`tizanidine_reduce_below_crcl`: warning (label: reduce the dose); the eGFR stands in for the CrCl.
A CKD stage from a condition is used when no eGFR is on record (the top of its range), and the card
says how the eGFR was obtained and when it was measured, beside the value (issue 19, item 11).

When. Order hooks: a draft in scope for oral baclofen or tizanidine, whatever it is: a start, a raise,
a renewal, and (issue 19, item 3) a reduction where the kidney leaves no labelled dose or is failing
acutely: the dose an order leads to is judged against the kidney. A reduction in the 30-59 band is
itself the dose review the card would ask for: quiet. A stop is the withdrawal rule's. Patient-view: a
current order in reduced kidney function. "Check CrCl" when only a CKD stage suggests a tizanidine
reduction is for the moment of ordering. No renal data: quiet here.
"""

from __future__ import annotations

import re

from cds_service.cards.base import (
    ALREADY_TOLERATING,
    DETAIL_MAX,
    SPECIALIST_DIRECTED,
    WILL_MONITOR,
    Rule,
    citation_line,
    make_card,
)
from cds_service.cards.scope import is_order_hook
from cds_service.cards.text import fmt_date, fmt_number, quote
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, Card, Indicator
from cds_service.facts.judgment import CautionKind, DoseJudgment, Kidney, RenalBand, judgment_of, kidney_of
from cds_service.facts.model import MedicationFact, OrderRelation, PatientFacts, Route

_OVERRIDES = (SPECIALIST_DIRECTED, WILL_MONITOR, ALREADY_TOLERATING)


_RESULT_REPEAT = re.compile(r"^eGFR result [\d.]+ mL/min/1\.73 m² \(LOINC ([\w-]+)\)")


def _egfr_text(k: Kidney, room: int = 240) -> str:
    """'eGFR 22 mL/min/1.73 m², measured 2026-11-20 (how)': the date beside the value it dates."""
    if k.egfr is not None:
        value = f"eGFR {fmt_number(k.egfr, 1)} mL/min/1.73 m²"
        if k.measured_at is not None:
            value += f", measured {fmt_date(k.measured_at)}"
    else:
        value = "eGFR not measured"
    how = _RESULT_REPEAT.sub(r"LOINC \1 result", k.how)  # the value is already said
    text = f"{value} ({quote(how, max(room, 40))})"
    if k.dialysis and "dialysis" not in k.how:
        text += "; on dialysis"
    if k.acute_injury:
        text += "; **acute kidney injury** on the problem list"
    return text


def _is_subject(facts: PatientFacts, order: MedicationFact) -> bool:
    if order.is_stop or order.route is Route.INTRATHECAL or not order.is_oral:
        return False
    return order.has("baclofen") or order.has("tizanidine")


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    orders = facts.drafts_in_scope if is_order_hook(facts) else facts.active_medications()
    subjects = [m for m in orders if _is_subject(facts, m)]
    if not subjects:
        return []
    k = kidney_of(facts, t)
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
    judgment = judgment_of(facts, order, t)
    if not judgment.renal_adjusted:
        return None
    severe = k.band is RenalBand.SEVERE
    if (
        order.is_draft
        and facts.continuation_of(order).relation is OrderRelation.DECREASE
        and not (severe or k.acute_injury)
    ):
        return None  # a reduction in the 30-59 band is the dose review itself
    older = facts.age_years is not None and facts.age_years >= t.elderly_age_years
    indicator: Indicator = "critical" if severe else "warning"
    dose = order.daily_dose.mg_per_day
    ordered = f" ({fmt_number(dose)} mg/day)" if dose is not None else ""
    if severe:
        where = "on dialysis" if k.dialysis else f"at eGFR {_value(k)}"
        summary = f"No labelled baclofen dose {where}: renally excreted, encephalopathy risk"
        advice = _severe_advice(judgment)
    elif k.band is RenalBand.REDUCED and older:
        summary = f"Avoid baclofen at eGFR < {fmt_number(t.beers_baclofen_min_egfr)} (Beers); if used, lowest dose"
        advice = _caution(judgment, CautionKind.RENAL_BEERS)
    elif k.band is RenalBand.REDUCED:
        summary = f"Review the baclofen dose{ordered}: renally excreted, eGFR {_value(k)}"
        advice = _caution(judgment, CautionKind.RENAL_LABEL)
    else:  # acute kidney injury with a normal or unknown eGFR
        summary = f"Review the baclofen dose{ordered}: acute kidney injury, renally excreted"
        advice = (
            "Baclofen is renally excreted: with kidney function falling, review the dose and watch for "
            "drowsiness and confusion."
        )
    if k.acute_injury and k.band is not RenalBand.UNKNOWN:
        advice += " " + _caution(judgment, CautionKind.UNSTABLE_KIDNEY)
    sources = ("FDA oral baclofen label", "AGS Beers 2023") if older else ("FDA oral baclofen label",)
    return make_card(
        RULE,
        summary=summary,
        indicator=indicator,
        detail=_fit(k, advice, sources),
        statements=("S22",),
        overrides=_OVERRIDES,
        about=(order,),
        sources=sources,
        label_of=("baclofen",),
        drugs=("baclofen",),
        basis=(indicator, k.band, k.dialysis, k.acute_injury, k.egfr is None, older),
    )


def _fit(k: Kidney, advice: str, sources: tuple[str, ...]) -> str:
    """The detail with how the eGFR was obtained in full when it fits (a facts-made explanation always
    does), cut only to keep the card within `DETAIL_MAX` (hostile EHR text)."""
    room = DETAIL_MAX - len(citation_line(("S22",), sources)) - len(advice) - len(_egfr_text(k, 0)) - 16
    return f"Kidney: {_egfr_text(k, room)}.\n\n{advice}"


def _value(k: Kidney) -> str:
    """'22' for a result; '29 or less' for the top of a CKD stage's range."""
    return fmt_number(k.egfr, 1) if k.egfr is not None else f"{fmt_number(k.upper or 0, 1)} or less"


def _caution(judgment: DoseJudgment, kind: CautionKind) -> str:
    found = judgment.caution(kind)
    return found.text if found is not None else ""


def _severe_advice(judgment: DoseJudgment) -> str:
    why = _caution(judgment, CautionKind.RENAL_SEVERE)
    return f"{why} The label gives no dose here, none is offered. Consider {judgment.consider}"


def _tizanidine(facts: PatientFacts, order: MedicationFact, k: Kidney, t: Thresholds) -> Card | None:
    below = k.dialysis or (k.upper is not None and k.upper < t.tizanidine_reduce_below_crcl)
    maybe = not below and k.egfr is None and k.upper is not None and k.upper - 15 < t.tizanidine_reduce_below_crcl
    if not below and (not maybe or not is_order_hook(facts)):  # "check CrCl" is for the moment of ordering
        return None
    limit = fmt_number(t.tizanidine_reduce_below_crcl)
    detail = (
        f"Kidney: {_egfr_text(k, 100)}. The eGFR stands in for the creatinine clearance the label uses.\n\n"
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
            "Baclofen is excreted by the kidney, mostly unchanged: at reduced function it accumulates, and "
            "encephalopathy needing hospital care has been reported. The label: use with caution in renal "
            "impairment; a reduced dosage may be needed. AGS Beers 2023 (Table 6), from {elderly_age_years}: avoid "
            "baclofen at eGFR < {beers_baclofen_min_egfr}; if it is needed, the lowest effective dose, watching for "
            "confusion and encephalopathy. Below {elderly_age_years} the card uses the label's words (a dose "
            "review), never 'avoid', which can prompt an abrupt stop and withdrawal. Below "
            "{baclofen_critical_egfr} or on dialysis no labelled oral dose is left: the card is critical, offers no"
            " dose (nor does any other card about the order) and names what to consider: holding or stopping it "
            "under close watch for toxicity and withdrawal, or an option not cleared by the kidney, with the "
            "nephrology team. Acute kidney injury is named: its eGFR is not at steady state and overstates the "
            "function. A start, a raise, a renewal and, below {baclofen_critical_egfr} or in acute kidney injury, "
            "a reduction are all judged: the dose an order leads to is what the kidney must clear."
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
        "Oral baclofen at eGFR < {beers_baclofen_min_egfr} mL/min/1.73 m²: warning (from {elderly_age_years}, "
        "Beers 2023: avoid, lowest effective dose; younger, the label: a dose review); below "
        "{baclofen_critical_egfr} or on dialysis: critical, no labelled dose and no dose offered (also on chart "
        "opening); acute kidney injury named. Tizanidine at CrCl < {tizanidine_reduce_below_crcl} mL/min (eGFR "
        "standing in): warning (label: reduce the dose). The card says whether the eGFR is a result, computed "
        "with CKD-EPI 2021 from creatinine, or a CKD stage on the problem list. A stop is quiet; a reduction "
        "speaks below {baclofen_critical_egfr} or in acute kidney injury."
    ),
    overrides=_OVERRIDES,
    thresholds=(
        "beers_baclofen_min_egfr",
        "baclofen_critical_egfr",
        "tizanidine_reduce_below_crcl",
        "elderly_age_years",
    ),
)
