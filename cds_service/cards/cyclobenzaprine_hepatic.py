"""Cyclobenzaprine in hepatic impairment (FDA cyclobenzaprine IR and Amrix labels; issue 19, item 7).

What it checks, by the labels: immediate release in **mild** hepatic impairment: 5 mg, titrated
slowly, less often (a warning above `cyclobenzaprine_mild_hepatic_max_mg_per_day`, an info card when
the dose cannot be computed); in **moderate or severe** impairment: not recommended (warning). The
extended-release capsule (Amrix): not recommended in **any** hepatic impairment, mild included
(about twice the exposure) (warning). "Not recommended" is the labels' word, not a contraindication:
a warning, with removal of the draft offered.

It speaks from the order's dose judgment (`facts.judgment`, the one liver reading every rule shares):
its `hepatic` severity (from `facts.hepatic`: cirrhosis or active hepatitis mild; ascites,
encephalopathy, hepatic failure or Child-Pugh B/C moderate to severe), its "not recommended" (no
labelled dose) and its mild-impairment ceiling. Quiet without a liver condition
that impairs function (fatty liver alone), for mild impairment at the label's own dose, and on a stop.
Order hooks: the cyclobenzaprine drafts in scope, any relation (a renewal carries the same exposure).
Chart opening: a current order, only where the label says "not recommended" or the dose is above the
mild-impairment dose (action now).
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
from cds_service.cards.text import describe_condition, describe_order, fmt_number
from cds_service.cards.thresholds import CYCLOBENZAPRINE_MILD_HEPATIC_DOSE_MG, DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, Card, Indicator
from cds_service.facts.hepatic import HepaticSeverity
from cds_service.facts.judgment import CautionKind, DoseJudgment, judgment_of
from cds_service.facts.model import MedicationFact, PatientFacts, above

_OVERRIDES = (DATA_OUTDATED, SPECIALIST_DIRECTED, BENEFIT_OUTWEIGHS_RISK)
_MILD_DOSE = f"{fmt_number(CYCLOBENZAPRINE_MILD_HEPATIC_DOSE_MG)} mg"


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    cards = []
    for order in subject_medications(facts):
        if not order.has("cyclobenzaprine"):
            continue
        judgment = judgment_of(facts, order, t)
        if not judgment.hepatic.impaired:
            continue
        card = _card(facts, order, judgment)
        if card is not None:
            cards.append(card)
    return cards


def _card(facts: PatientFacts, order: MedicationFact, judgment: DoseJudgment) -> Card | None:
    liver = judgment.hepatic
    severe = liver.severity is HepaticSeverity.MODERATE_OR_SEVERE
    daily = order.daily_dose.mg_per_day
    # the label's "not recommended": the judgment leaves no labelled dose for a hepatic reason
    not_recommended = judgment.no_dose_reason is not None and bool(
        judgment.caution(CautionKind.HEPATIC_NOT_RECOMMENDED)
    )
    ceiling = judgment.ceiling_mg_per_day
    indicator: Indicator
    if not_recommended:
        form = "extended-release cyclobenzaprine" if order.extended_release else "cyclobenzaprine"
        grade = "moderate to severe" if severe else "mild"
        summary = f"Avoid {form}: {grade} hepatic impairment (label: not recommended)"
        if len(summary) > SUMMARY_MAX:
            summary = f"Avoid {form}: {grade} liver impairment (label)"
        if order.extended_release:
            advice = "Amrix label: not recommended in any hepatic impairment, mild included (about twice the exposure)."
            if not severe:
                advice += f" If needed, immediate release {_MILD_DOSE}, titrated slowly, less often."
        else:
            advice = "Label: not recommended in moderate to severe hepatic impairment. Choose another option."
        indicator, finding = "warning", "not recommended"
    elif daily is None:
        if not is_order_hook(facts):
            return None
        summary = f"Use cyclobenzaprine {_MILD_DOSE}, less often: mild hepatic impairment (dose not computed)"
        advice = (
            f"Label, mild hepatic impairment: {_MILD_DOSE}, titrated slowly, less often; the dose could not be read."
        )
        indicator, finding = "info", "dose unknown"
    elif ceiling is not None and above(daily, ceiling):
        summary = f"Lower cyclobenzaprine to {_MILD_DOSE} per dose, less often: mild hepatic impairment"
        advice = (
            f"**{fmt_number(daily)} mg/day** ordered; label, mild hepatic impairment: {_MILD_DOSE} per dose, titrated "
            f"slowly, less often (at most {fmt_number(ceiling)} mg/day)."
        )
        indicator, finding = "warning", "above the mild-impairment dose"
    else:
        return None  # the label's own dose in mild impairment
    on_record = "; ".join(describe_condition(c, 40, brief=True) for c in liver.conditions[:2])
    detail = "\n\n".join([f"Order: {describe_order(order, 50)}. Liver: {on_record} ({liver.basis}).", advice])
    suggestions = (
        [remove_draft_suggestion(order, "not recommended by the label in this hepatic impairment")]
        if not_recommended and order.is_draft
        else []
    )
    return make_card(
        RULE,
        summary=summary,
        indicator=indicator,
        detail=detail,
        suggestions=suggestions,
        overrides=_OVERRIDES,
        about=(order,),
        sources=("FDA Amrix label" if order.extended_release else "FDA cyclobenzaprine label",),
        label_of=("cyclobenzaprine",),
        drugs=("cyclobenzaprine",),
        basis=(liver.severity, order.extended_release, finding, daily if finding != "not recommended" else None),
    )


_REASONING = "\n\n".join(
    (
        (
            "Cyclobenzaprine is cleared by the liver. The immediate-release label: in mild hepatic impairment "
            "start with 5 mg and titrate slowly upward, considering less frequent dosing; in moderate to severe "
            "hepatic impairment it is not recommended. The extended-release capsule (Amrix): plasma levels about "
            "twice as high in hepatic impairment, so it is not recommended in any hepatic impairment, mild "
            "included (its capsules cannot deliver a lower dose)."
        ),
        (
            "How severity is read from the record (a coded Child-Pugh class is rare): a Child-Pugh class or "
            "score written in a liver condition or its stage (A mild; B, C moderate to severe); a sign of "
            "decompensation (ascites beside a liver condition, hepatic encephalopathy, hepatic failure, "
            "hepatorenal syndrome, spontaneous bacterial peritonitis, bleeding varices): moderate to severe; "
            "cirrhosis or active hepatitis without such a sign: mild; fatty liver or an unspecified liver "
            "disorder alone: not hepatic impairment, no card. The most severe reading wins."
        ),
        (
            "Cards: warning where the label says not recommended (removal of the draft offered) and where an "
            "immediate-release order in mild impairment is above {cyclobenzaprine_mild_hepatic_max_mg_per_day} "
            "mg/day (5 mg three times a day); information when the dose could not be read. The label's own dose "
            "in mild impairment is quiet. On chart opening, only the warnings (a change is needed now)."
        ),
        ("Sources: FDA cyclobenzaprine hydrochloride tablet label; FDA Amrix (extended-release) label."),
    )
)


RULE = Rule(
    topic="cyclobenzaprine-hepatic",
    title="Cyclobenzaprine in hepatic impairment",
    statements=("S3",),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "Warning for extended-release cyclobenzaprine (Amrix) in any hepatic impairment and for immediate release "
        "in moderate to severe impairment (labels: not recommended); warning above "
        "{cyclobenzaprine_mild_hepatic_max_mg_per_day} mg/day in mild impairment (label: 5 mg, less often). "
        "Severity from the problem list: cirrhosis or hepatitis mild; ascites, encephalopathy, hepatic failure or "
        "Child-Pugh B/C moderate to severe."
    ),
    overrides=_OVERRIDES,
    thresholds=("cyclobenzaprine_mild_hepatic_max_mg_per_day",),
)
