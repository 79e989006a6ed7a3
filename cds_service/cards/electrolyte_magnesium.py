"""Low magnesium in a patient this guideline is about (guideline S16, A5).

Fires on the latest valid magnesium below `Thresholds.magnesium_low_mmol_per_l` (info),
`magnesium_warning_mmol_per_l` (warning) or `magnesium_critical_mmol_per_l` (critical, the
symptomatic band), judged in the unit the lab
reported with the cut-off converted at the lab's precision (0.70 mmol/L = 1.7 mg/dL = 1.4 mEq/L), so
a result reported exactly at the cut-off is not called low by a conversion's rounding. Scope as for
potassium (see `cards._electrolytes`): order hooks when a muscle relaxant is being ordered;
patient-view when on a muscle relaxant or with muscle cramps on the problem list, in the warning and
critical bands only. A lab flag LL makes it critical.
"""

from __future__ import annotations

from cds_service.cards._electrolytes import (
    LOW_LAB_OVERRIDES,
    cutoff_in_reported_unit,
    flag_of,
    flagged_low_card,
    is_below,
    low_lab_card,
    on_supplement,
    unreadable_of,
    why_in_scope,
)
from cds_service.cards.base import Rule
from cds_service.cards.text import fmt_number
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, ORDER_HOOKS, Card
from cds_service.facts.model import LabKind, PatientFacts

_ADVICE = (
    "Replace it: oral magnesium oxide if mild, IV magnesium sulfate if severe or symptomatic; avoid "
    "supplements when creatinine clearance is below 20-30 mL/min. Correct it **before or with** potassium."
)


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    newer = unreadable_of(facts, LabKind.MAGNESIUM)
    if flag_of(newer) in ("L", "LL") and newer is not None:
        reason = why_in_scope(facts)
        return [flagged_low_card(RULE, facts, newer, reason, _ADVICE)] if reason else []
    if flag_of(newer) in ("H", "HH"):
        return []  # the newest result, unreadable, is flagged high: an older low value is not the latest
    result = facts.magnesium
    if result is None:
        return []
    value, low, unit = cutoff_in_reported_unit(result, t.magnesium_low_mmol_per_l)
    _, severe, _ = cutoff_in_reported_unit(result, t.magnesium_critical_mmol_per_l)
    if not is_below(value, result.comparator, low):
        return []
    reason = why_in_scope(facts)
    if reason is None:
        return []
    critical = is_below(value, result.comparator, severe) or (result.interpretation or "").upper() == "LL"
    _, moderate, _ = cutoff_in_reported_unit(result, t.magnesium_warning_mmol_per_l)
    warning = critical or is_below(value, result.comparator, moderate)
    if not critical and on_supplement(facts, LabKind.MAGNESIUM):
        return []  # being treated, and not in the critical band
    if not warning and facts.hook not in ORDER_HOOKS:
        return []  # chart opening: a mildly low value needs no action now; the next relaxant order shows it
    band = "severe hypomagnesaemia" if critical else "moderate hypomagnesaemia" if warning else "hypomagnesaemia"
    threshold = severe if critical else low
    return [
        low_lab_card(
            RULE,
            facts,
            result,
            critical=critical,
            warning=warning,
            band=band,
            below=f"{fmt_number(threshold)} {unit}",
            advice=_ADVICE,
            reason=reason,
        )
    ]


_REASONING = "\n\n".join(
    (
        (
            "Why. Low magnesium causes cramps and keeps potassium low (S16, A5). Bands: below "
            "{magnesium_low_mmol_per_l} mmol/L low (information), below {magnesium_warning_mmol_per_l} mmol/L "
            "warning, below {magnesium_critical_mmol_per_l} mmol/L or flagged LL by the lab severe (critical). "
            "The cut-offs are converted into the unit the lab reported, at its precision (mg/dL times 0.4114 is "
            "mmol/L; mmol/L times 2 is mEq/L), so a result reported exactly at a cut-off is not called low by "
            "rounding."
        ),
        (
            "Replacement (general guidance, not an order): oral magnesium oxide for mild deficits; IV magnesium "
            "sulfate 1-2 g when severe or symptomatic. Avoid magnesium supplements when creatinine clearance is "
            "below 20-30 mL/min. Correct magnesium before or with potassium: hypokalaemia does not correct while "
            "magnesium is low. Recheck after replacement."
        ),
        (
            "Scope as for potassium: on order hooks when a muscle relaxant is being ordered; on chart opening "
            "when the patient is on a muscle relaxant or has muscle cramps on the problem list, and then only in "
            "the warning and critical bands (a mildly low value waits for the next relaxant order). A current "
            "magnesium supplement quiets all but the critical band."
        ),
        ("Sources: StatPearls, Hypomagnesemia (NBK500003)."),
    )
)


RULE = Rule(
    topic="electrolyte-magnesium",
    title="Low magnesium",
    statements=("S16", "A5"),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "Latest magnesium below {magnesium_low_mmol_per_l} mmol/L (info), below {magnesium_warning_mmol_per_l} "
        "mmol/L (warning), below {magnesium_critical_mmol_per_l} mmol/L or flagged LL (critical), when a muscle "
        "relaxant is being ordered; on chart opening, for a patient on a relaxant or with muscle cramps, the "
        "warning and critical bands only. A current supplement quiets all but the critical band."
    ),
    overrides=LOW_LAB_OVERRIDES,
    thresholds=("magnesium_low_mmol_per_l", "magnesium_warning_mmol_per_l", "magnesium_critical_mmol_per_l"),
)
