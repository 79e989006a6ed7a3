"""Do not stop baclofen abruptly: taper (guideline S20; oral label; intrathecal boxed warning).

Order hooks only, and only when a draft in scope concerns baclofen. Oral: the daily dose that would
be active once signed is compared with the active dose; a stop (a draft with status
stopped/cancelled/completed, or a regimen that falls to zero) or a cut larger than one taper step
(`Thresholds.baclofen_taper_step_max_mg_per_day`) is a warning. The suggestion, where the draft
carries a dose, rewrites it to the first taper step (one step below the current dose). A dose that
cannot be computed on either side is not guessed at: only an explicit stop fires then. A stop order
is taken to mean the patient has the order it stops, even when that order is not in the medication
list (an order the facts layer replaced by its draft). The regimen before the drafts includes what
they continue (`facts.continuation_of`), so a renewal of an order whose supply ran out is compared
with that order's dose; a gradual taper (one step or less) is quiet, and so is a stop from one taper
step or less (the last step of a taper). Intrathecal baclofen (dosed in micrograms through a pump)
fires when a draft stops an intrathecal order, with the boxed-warning wording; intrathecal dose
changes are the pump team's and are not judged here.

The stop reason and the exposure come from the order's dose judgment (`facts.judgment`, issue 19):
a stop or cut for toxicity (the stop's reasonCode or reasonReference, or an adverse effect such as
T42.8X5A or an encephalopathy on the problem list) gets the label's exception (rapid withdrawal is
allowed when serious adverse effects justify it), never a taper dose that keeps giving the drug; the
days and daily dose taken say how much withdrawal to watch for (a few days, below
`baclofen_withdrawal_short_exposure_days`: little risk). Where the kidney leaves no labelled oral
dose the taper is planned with nephrology and no dose is stated or offered.
"""

from __future__ import annotations

from cds_service.cards._baclofen import (
    BACLOFEN,
    Regimen,
    is_baclofen,
    is_intrathecal_baclofen,
    is_oral_baclofen,
    regimen_after,
    regimen_before,
)
from cds_service.cards.base import SPECIALIST_DIRECTED, Override, Rule, make_card
from cds_service.cards.suggestions import dose_change
from cds_service.cards.text import describe_order, fmt_mg, fmt_number, quote
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ORDER_HOOKS, Card
from cds_service.facts.judgment import DoseJudgment, judgment_of
from cds_service.facts.model import MedicationFact, PatientFacts, above

STOPPING_FOR_ADVERSE_EFFECT = Override(
    "stopping-for-adverse-effect", "Stopping for a serious adverse effect; patient monitored for withdrawal"
)
_ORAL_LABEL = "Oral label: hallucinations and seizures have occurred on abrupt withdrawal; reduce the dose slowly."
_ITB_BOXED = (
    "**Boxed warning:** abrupt discontinuation of intrathecal baclofen, whatever the cause, has caused high "
    "fever, altered mental status, rebound spasticity and muscle rigidity, rarely rhabdomyolysis, "
    "multiple-organ failure and death."
)


_OVERRIDES = (STOPPING_FOR_ADVERSE_EFFECT, SPECIALIST_DIRECTED)


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    touched = [m for m in facts.drafts_in_scope if is_baclofen(m)]
    if not touched:
        return []
    cards: list[Card] = []
    oral_card = _oral(facts, [m for m in touched if m.is_oral], t)
    if oral_card is not None:
        cards.append(oral_card)
    cards.extend(_intrathecal_stops(facts, [m for m in touched if m.is_stop]))
    return cards


def _oral(facts: PatientFacts, touched: list[MedicationFact], t: Thresholds) -> Card | None:
    if not touched:
        return None
    current = regimen_before(facts)
    if current.empty:
        return None
    after = regimen_after(facts)
    stopping = after.empty
    if stopping and current.total is not None and not above(current.total, t.baclofen_taper_step_max_mg_per_day):
        return None  # stopping from one taper step or less: the last step of a taper, not an abrupt stop
    if not stopping:
        if not (current.complete and after.complete):
            return None
        cut = (current.total or 0.0) - (after.total or 0.0)
        if not above(cut, t.baclofen_taper_step_max_mg_per_day):
            return None
    return _oral_card(facts, current, after, touched, stopping, t)


def _oral_card(
    facts: PatientFacts,
    current: Regimen,
    after: Regimen,
    touched: list[MedicationFact],
    stopping: bool,
    t: Thresholds,
) -> Card:
    judgments = [judgment_of(facts, m, t) for m in touched]
    toxic = next((j for j in judgments if j.stop_reason is not None), None)
    if toxic is not None:
        return _toxicity_card(current, touched, toxic, stopping, t)
    taper_step = t.baclofen_taper_step_max_mg_per_day
    now_text = fmt_mg(current.total) + "/day" if current.total is not None else "an unknown dose"
    if stopping:
        summary = f"Taper baclofen: {now_text} stopped abruptly risks seizures, hallucinations"
        what = f"These orders **stop** oral baclofen, now **{now_text}**."
    else:
        cut = (current.total or 0.0) - (after.total or 0.0)
        summary = (
            f"Taper baclofen: a cut {fmt_number(current.total or 0)} → {fmt_number(after.total or 0)} mg/day "
            "in one step risks withdrawal"
        )
        what = (
            f"These orders cut oral baclofen **{now_text} → {fmt_mg(after.total)}/day** at once "
            f"(−{fmt_mg(cut)}/day), more than one {fmt_mg(taper_step)}/day step."
        )
    first_step = max((current.total or 0.0) - taper_step, 0.0)
    labelled = all(j.has_labelled_dose or j.pediatric for j in judgments)
    plan = f"Taper by {fmt_mg(taper_step)}/day or less per step: next **{fmt_mg(first_step)}/day**."
    if not labelled:  # no labelled oral dose at this kidney: no taper dose stated or offered
        plan = "Taper rather than stop, planned with nephrology: the label gives no oral dose at this kidney function."
    detail = "\n\n".join([what, plan, _ORAL_LABEL])
    suggestions = []
    dosed = [m for m in facts.drafts_in_scope if is_oral_baclofen(m) and not m.is_stop]
    if labelled and len(dosed) == 1 and first_step > 0 and after.complete:
        draft = dosed[0]
        others = (after.total or 0.0) - (draft.daily_dose.mg_per_day or 0.0)
        draft_dose = first_step - others
        if above(draft_dose, 0.0):
            # the taper dose is inside the judgment by `labelled` above (a reduction to the first step)
            advice = dose_change(draft, draft_dose, others=others, verb="Taper: change to")
            if advice.suggestion is not None:
                suggestions.append(advice.suggestion)
            else:
                detail = "\n\n".join([what, plan + " " + advice.instruction, _ORAL_LABEL])
    return make_card(
        RULE,
        summary=summary,
        indicator="warning",
        detail=detail,
        suggestions=suggestions,
        overrides=_OVERRIDES,
        about=touched,
        sources=("FDA oral baclofen label",),
        label_of=(BACLOFEN,),
        drugs=(BACLOFEN,),
        basis=("oral", current.total, None if stopping else after.total),
    )


def _toxicity_card(
    current: Regimen, touched: list[MedicationFact], judgment: DoseJudgment, stopping: bool, t: Thresholds
) -> Card:
    """A stop (or cut) for a serious adverse effect: the label's exception, never a taper dose."""
    reason = judgment.stop_reason
    assert reason is not None
    exposure = judgment.exposure
    days = exposure.days if exposure is not None else None
    dose = exposure.mg_per_day if exposure is not None and exposure.mg_per_day is not None else current.total
    taken = f"{fmt_mg(dose)}/day" if dose is not None else "an unknown dose"
    if days is not None:
        taken += f" for {fmt_number(days, 0)} days"
    short = days is not None and days < t.baclofen_withdrawal_short_exposure_days
    risk = (
        "A few days' exposure carries little withdrawal risk."
        if short
        else "After this exposure watch for withdrawal: hallucinations, seizures, rebound spasticity."
    )
    what = "stop" if stopping else "cut"
    return make_card(
        RULE,
        summary=f"Baclofen {what} for {reason.kind.replace('-', ' ')}: rapid withdrawal is allowed (label)",
        indicator="info",
        detail="\n\n".join(
            [
                f"Stopped for **{quote(reason.display, 80)}** ({reason.source}); taken: {taken}.",
                "Oral label: except for serious adverse reactions the dose is reduced slowly; a serious adverse "
                f"effect justifies rapid withdrawal. {risk}",
            ]
        ),
        overrides=_OVERRIDES,
        about=touched,
        sources=("FDA oral baclofen label",),
        label_of=(BACLOFEN,),
        drugs=(BACLOFEN,),
        basis=("oral", "toxicity stop", reason.kind, current.total, short),
    )


def _intrathecal_stops(facts: PatientFacts, stops: list[MedicationFact]) -> list[Card]:
    active_itb = {m.reference: m for m in facts.active_medications() if is_intrathecal_baclofen(m)}
    cards: list[Card] = []
    for stop in stops:
        if stop.reference in active_itb:
            what = describe_order(active_itb[stop.reference])
        elif is_intrathecal_baclofen(stop):
            # The stop order stands for the pump order it ends (same id, or the only one on file).
            pumps = [describe_order(m) for m in active_itb.values()]
            what = pumps[0] if len(pumps) == 1 else f"**{quote(stop.display)}**"
        else:
            continue
        cards.append(
            make_card(
                RULE,
                summary="Taper intrathecal baclofen, do not interrupt it: abrupt withdrawal can be fatal",
                indicator="warning",
                detail="\n\n".join(
                    [
                        f"This order stops {what}.",
                        _ITB_BOXED,
                        "Reduce the dose gradually with the pump team; if it must stop, cover with oral baclofen "
                        "and watch for withdrawal.",
                    ]
                ),
                statements=("S20", "S10"),
                overrides=_OVERRIDES,
                about=(stop,),
                sources=("FDA intrathecal baclofen boxed warning",),
                label_of=(BACLOFEN,),
                drugs=(BACLOFEN,),
                basis=("intrathecal stop",),
            )
        )
    return cards


_REASONING = "\n\n".join(
    (
        (
            "The oral label: hallucinations and seizures have occurred on abrupt withdrawal of baclofen; except "
            "for serious adverse reactions, the dose should be reduced slowly when the drug is discontinued. The "
            "intrathecal boxed warning: abrupt discontinuation of intrathecal baclofen, regardless of the cause, "
            "has resulted in sequelae that include high fever, altered mental status, exaggerated rebound "
            "spasticity and muscle rigidity, that in rare cases have advanced to rhabdomyolysis, multiple organ-"
            "system failure and death; prevention needs attention to pump programming and monitoring, refill "
            "scheduling and procedures, and pump alarms."
        ),
        (
            "What fires. Draft orders that stop oral baclofen (a stopped or cancelled draft, or a regimen that "
            "falls to nothing) or that cut the oral daily total by more than one step of "
            "{baclofen_taper_step_max_mg_per_day} mg/day at once. The totals are sums over the oral baclofen "
            "orders before and after the drafts, with what the drafts continue; a dose that cannot be computed is"
            " not guessed, and only an explicit stop fires then. A gradual taper, one step or less at a time, is "
            "quiet."
        ),
        (
            "A stop for toxicity. Where the stop's reasonCode or reasonReference, or the problem list, records an "
            "adverse effect (ICD-10-CM T42.8X5-, poisoning T42.8X1-4) or an encephalopathy, the card gives the "
            "label's exception instead of a taper: rapid withdrawal is allowed when serious adverse effects justify "
            "it; it says how long and how much was taken (below {baclofen_withdrawal_short_exposure_days} days: "
            "little withdrawal risk; longer: watch for hallucinations, seizures, rebound spasticity). No dose is "
            "offered. Where the kidney leaves no labelled oral dose (eGFR below {baclofen_critical_egfr}, "
            "dialysis) the taper is planned with nephrology and no taper dose is stated."
        ),
        (
            "The taper. The label gives no schedule; the card uses the titration plan in reverse: no more than "
            "{baclofen_taper_step_max_mg_per_day} mg/day per step, the first step one step below the current "
            "dose, written onto the draft when there is one dosed draft."
        ),
        (
            "Intrathecal. A stop of a pump order fires with the boxed-warning words; reduce the dose gradually "
            "with the pump team and, if it must stop, cover with oral baclofen and watch for withdrawal. "
            "Intrathecal dose changes belong to the pump team and are not judged here."
        ),
        (
            "Sources: FDA oral baclofen label (Warnings: abrupt drug withdrawal); FDA intrathecal baclofen labels"
            " (boxed warning)."
        ),
    )
)


RULE = Rule(
    topic="baclofen-withdrawal",
    title="Baclofen withdrawal",
    statements=("S20", "S10"),
    hooks=ORDER_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "Warns when draft orders stop oral or intrathecal baclofen, or cut oral baclofen by more than one "
        "{baclofen_taper_step_max_mg_per_day} mg/day step; suggests the first taper step on the draft."
    ),
    overrides=_OVERRIDES,
    thresholds=(
        "baclofen_taper_step_max_mg_per_day",
        "baclofen_withdrawal_short_exposure_days",
        "baclofen_critical_egfr",
    ),
)
