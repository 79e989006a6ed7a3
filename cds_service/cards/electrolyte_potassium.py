"""Low potassium in a patient this guideline is about (guideline S16, A5; StatPearls NBK482465).

Fires on the latest valid potassium below `Thresholds.potassium_low_mmol_per_l` (mmol/L = mEq/L):
info (mild), below `potassium_warning_mmol_per_l` warning; below `potassium_critical_mmol_per_l`, or
flagged critical-low (LL) by the lab, critical.
Scope is the electrolyte family's (see `cards._electrolytes`): order hooks when a muscle relaxant is
being ordered; patient-view when the patient is on a muscle relaxant or has muscle cramps on the
problem list, and only in the warning and critical bands (a mild low value needs no action on chart
opening: issue 12; it shows on the next relaxant order). Everyone else gets no card, however low
their potassium: other services own general lab alerting. The value is shown as reported and in
mmol/L with its date; a preliminary result says so; a reported ">x" value is never read as low. An
old result still fires (with its age): a low value that was never rechecked matters.
"""

from __future__ import annotations

from cds_service.cards._electrolytes import (
    LOW_LAB_OVERRIDES,
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
    "Correct it: oral potassium chloride if mild to moderate; IV, monitored, if severe, symptomatic or with "
    "ECG changes. **Check magnesium: hypokalaemia does not correct while it is low.**"
)


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    newer = unreadable_of(facts, LabKind.POTASSIUM)
    if flag_of(newer) in ("L", "LL") and newer is not None:
        reason = why_in_scope(facts)
        return [flagged_low_card(RULE, facts, newer, reason, _ADVICE)] if reason else []
    if flag_of(newer) in ("H", "HH"):
        return []  # the newest result, unreadable, is flagged high: an older low value is not the latest
    result = facts.potassium
    if result is None:
        return []
    if not is_below(result.value_mmol_l, result.comparator, t.potassium_low_mmol_per_l):
        return []
    reason = why_in_scope(facts)
    if reason is None:
        return []
    critical = is_below(result.value_mmol_l, result.comparator, t.potassium_critical_mmol_per_l) or (
        (result.interpretation or "").upper() == "LL"
    )
    warning = critical or is_below(result.value_mmol_l, result.comparator, t.potassium_warning_mmol_per_l)
    if not critical and on_supplement(facts, LabKind.POTASSIUM):
        return []  # being treated, and not in the critical band
    if not warning and facts.hook not in ORDER_HOOKS:
        return []  # chart opening: a mildly low value needs no action now; the next relaxant order shows it
    band = "severe hypokalaemia" if critical else "moderate hypokalaemia" if warning else "mild hypokalaemia"
    threshold = t.potassium_critical_mmol_per_l if critical else t.potassium_low_mmol_per_l
    return [
        low_lab_card(
            RULE,
            facts,
            result,
            critical=critical,
            warning=warning,
            band=band,
            below=f"{fmt_number(threshold)} mmol/L",
            advice=_ADVICE,
            reason=reason,
        )
    ]


_REASONING = "\n\n".join(
    (
        (
            "Why. Low potassium causes cramps and muscle weakness that no muscle relaxant treats; the summary "
            "asks to correct it (S16, A5). Bands (StatPearls NBK482465): below {potassium_low_mmol_per_l} mmol/L "
            "low (mild: information), below {potassium_warning_mmol_per_l} mmol/L moderate (warning), below "
            "{potassium_critical_mmol_per_l} mmol/L or flagged LL by the lab severe (critical). The value is "
            "judged as reported (mmol/L equals mEq/L) with its comparator: a result reported as below a value is "
            "below it, one reported as above a value is never low."
        ),
        (
            "Correction (general guidance, not an order): oral potassium chloride 20-40 mEq/day in divided doses "
            "(about 20 mEq per dose) for mild to moderate hypokalaemia; IV replacement in a monitored setting "
            "when severe, symptomatic or with ECG changes (typically no more than 10 mEq/h through a peripheral "
            "line). Recheck 24-48 h after oral and 4-6 h after IV replacement. Check magnesium too: hypokalaemia "
            "does not correct until magnesium is replaced."
        ),
        (
            "Scope, quiet by default: on order hooks when a muscle relaxant is being ordered; on chart opening "
            "when the patient is on a muscle relaxant or has muscle cramps on the problem list, and then only in "
            "the warning and critical bands (a mildly low value waits for the next relaxant order). A current "
            "potassium supplement quiets all but the critical band. A newest result that could not be read is "
            "named; when the lab flagged it low, the card fires on the flag and an older readable value is called"
            " previous. Everyone else gets no card however low: general lab alerting belongs to the EHR."
        ),
        ("Sources: StatPearls, Hypokalemia (NBK482465)."),
    )
)


RULE = Rule(
    topic="electrolyte-potassium",
    title="Low potassium",
    statements=("S16", "A5"),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "Latest potassium below {potassium_low_mmol_per_l} mmol/L (info), below {potassium_warning_mmol_per_l} "
        "mmol/L (warning), below {potassium_critical_mmol_per_l} mmol/L or flagged LL (critical), when a muscle "
        "relaxant is being ordered; on chart opening, for a patient on a relaxant or with muscle cramps, the "
        "warning and critical bands only. A current supplement quiets all but the critical band."
    ),
    overrides=LOW_LAB_OVERRIDES,
    thresholds=("potassium_low_mmol_per_l", "potassium_warning_mmol_per_l", "potassium_critical_mmol_per_l"),
)
