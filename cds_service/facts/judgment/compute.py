"""Works out one order's `DoseJudgment` from the patient's facts (see `judgment.model`).

Order of decisions: which label covers the product (route and form first: an injected or intrathecal
product has its own label, and no oral limit applies to it); then the indication's plan (baclofen:
the cramp plan for cramps in liver disease, the label otherwise); then what rules a labelled dose out
(oral baclofen at eGFR < `baclofen_critical_egfr` or on dialysis; oral dantrolene in active liver
disease; cyclobenzaprine where its label says "not recommended" at the `facts.hepatic` severity; a
child below the label age); then the cautions, each worded for the patient's age (Beers 2023 only at
`elderly_age_years` or older; below, the label's own words).
"""

from __future__ import annotations

from cds_service.facts import terminology
from cds_service.facts.hepatic import HepaticImpairment, HepaticSeverity, hepatic_impairment
from cds_service.facts.judgment.kidney import kidney_of
from cds_service.facts.judgment.labels import (
    ADULT_AGE_YEARS,
    AMRIX_LABEL,
    ORAL_LABELS,
    OWN_LABELS,
    PEDIATRIC_LABEL_AGES,
    dose_form,
    is_beers_avoid_relaxant,
    main_ingredient,
)
from cds_service.facts.judgment.model import (
    Caution,
    CautionKind,
    DoseJudgment,
    Exposure,
    JudgmentThresholds,
    Kidney,
    LabelScope,
    RenalBand,
    StopReason,
)
from cds_service.facts.model import (
    ConditionCategory,
    Indication,
    MedicationFact,
    PatientFacts,
    Route,
)

BEERS = "AGS Beers 2023"
EASL_2018 = "EASL 2018 (cramps in cirrhosis)"
_TOXIC_CATEGORIES = frozenset({ConditionCategory.RELAXANT_ADVERSE_EFFECT, ConditionCategory.ENCEPHALOPATHY})
_TOXIC_WORDS = ("toxicity", "toxic", "adverse effect", "adverse reaction", "overdose", "poisoning", "encephalopathy")
_SEVERE_KIDNEY_CONSIDER = (
    "holding or stopping it (watch for toxicity and withdrawal), or an option not cleared by the kidney, "
    "with nephrology."
)


def judge(facts: PatientFacts, order: MedicationFact, t: JudgmentThresholds) -> DoseJudgment:
    ingredient = main_ingredient(order)
    form = dose_form(order)
    relation = facts.continuation_of(order).relation if order.is_draft else None
    indication = facts.indication_of(order).indication
    base: dict[str, object] = {
        "order": order.reference,
        "ingredient": ingredient,
        "route": order.route,
        "form": form,
        "extended_release": order.extended_release,
        "indication": indication,
        "relation": relation,
        "stop_reason": stop_reason_of(facts, order) if order.is_draft else None,
        "exposure": exposure_of(facts, order) if order.is_draft else None,
        "hepatic": hepatic_impairment(facts.conditions),
    }
    if ingredient is None or ingredient not in ORAL_LABELS:
        return DoseJudgment(scope=LabelScope.NONE, label=None, **base)  # type: ignore[arg-type]
    if form in ("intrathecal", "injection") or order.route in (Route.INTRATHECAL, Route.INJECTION, Route.TOPICAL):
        own = OWN_LABELS.get((ingredient, form))
        reason = f"{own}: not an oral product, no oral limit applies" if own else "not an oral product"
        return DoseJudgment(
            scope=LabelScope.OWN_LABEL if own else LabelScope.NONE, label=own, no_dose_reason=reason,
            sources=(own,) if own else (), **base,  # type: ignore[arg-type]
        )  # fmt: skip
    return _oral(facts, order, ingredient, t, base)


def _oral(
    facts: PatientFacts, order: MedicationFact, ingredient: str, t: JudgmentThresholds, base: dict[str, object]
) -> DoseJudgment:
    er = order.extended_release and ingredient == "cyclobenzaprine"
    label, max_field = ORAL_LABELS[ingredient]
    if er:
        label = AMRIX_LABEL
    label_max = float(t.cyclobenzaprine_er_max_mg_per_day if er else getattr(t, max_field))
    sources: list[str] = [label]
    cautions: list[Caution] = []
    plan: str | None = None
    start: float | None = None
    step: float | None = None
    interval: int | None = None
    plan_ceiling = label_max
    indication = base["indication"]
    if ingredient == "baclofen":
        if indication is Indication.CRAMPS_WITH_LIVER_DISEASE:
            plan, start, step = "the cramp plan", t.baclofen_start_max_mg_per_day, t.baclofen_step_max_mg_per_day
            interval, plan_ceiling = t.baclofen_step_interval_days, t.baclofen_plan_ceiling_mg_per_day
            sources.insert(0, EASL_2018)
        else:
            plan, start, step = "the label", t.baclofen_label_start_max_mg_per_day, t.baclofen_label_step_max_mg_per_day
            interval = t.baclofen_label_step_interval_days
        if indication is Indication.ACUTE_MUSCULOSKELETAL:
            cautions.append(Caution(
                CautionKind.NOT_INDICATED,
                "Baclofen label: not indicated for spasm from rheumatic disorders.", label,
            ))  # fmt: skip
    no_dose: str | None = None
    consider = ""
    renal_adjusted = hepatic_adjusted = age_adjusted = pediatric = False
    age = facts.age_years
    older = age is not None and age >= t.elderly_age_years
    kidney = kidney_of(facts, t)
    ceiling = label_max

    # --- kidney (baclofen: renally excreted; tizanidine: CrCl < 25)
    if ingredient == "baclofen" and kidney is not None:
        renal_adjusted, no_dose, consider = _baclofen_kidney(kidney, older, label, cautions, t)
        if older and kidney.band in (RenalBand.REDUCED, RenalBand.SEVERE):
            sources.append(BEERS)
    if ingredient == "tizanidine" and kidney is not None:
        below = kidney.dialysis or (kidney.upper is not None and kidney.upper < t.tizanidine_reduce_below_crcl)
        if below:
            renal_adjusted = True
            cautions.append(Caution(
                CautionKind.RENAL_LABEL,
                "Tizanidine label: at CrCl below the label's threshold clearance falls by more than half; "
                "reduce the individual doses.", label,
            ))  # fmt: skip

    # --- liver: one reading, `facts.hepatic` (severity from cirrhosis, hepatitis, decompensation, Child-Pugh)
    hepatic: HepaticImpairment = base["hepatic"]  # type: ignore[assignment]
    if ingredient == "dantrolene" and facts.conditions_in(ConditionCategory.ACTIVE_LIVER_DISEASE):
        hepatic_adjusted = True
        no_dose = no_dose or "oral dantrolene is contraindicated in active liver disease (label)"
        consider = consider or "Another antispasticity option without hepatotoxicity."
    if ingredient == "cyclobenzaprine" and hepatic.impaired:
        hepatic_adjusted = True
        ceiling, hepatic_no_dose, hepatic_consider = _cyclobenzaprine_liver(hepatic, er, label, ceiling, cautions, t)
        no_dose = no_dose or hepatic_no_dose
        consider = consider or hepatic_consider

    # --- age
    if age is not None:
        min_age, words = _pediatric_age(ingredient, er)
        if age < min_age:
            pediatric = True
            no_dose = no_dose or f"below the label age ({words}); pediatric dosing is by weight, specialist-directed"
            cautions.append(Caution(CautionKind.PEDIATRIC, words[0].upper() + words[1:] + ".", label))
        elif ingredient == "dantrolene" and age < ADULT_AGE_YEARS:
            pediatric = True
            no_dose = no_dose or "pediatric dantrolene is dosed by weight (0.5 mg/kg to start); weight not judged here"
            cautions.append(Caution(CautionKind.PEDIATRIC, "Dantrolene label: pediatric dosing by body weight.", label))
        if older:
            if is_beers_avoid_relaxant(order):
                age_adjusted = True
                avoid = f"Beers 2023: avoid {ingredient} at {t.elderly_age_years} or older."
                cautions.append(Caution(CautionKind.BEERS_AVOID, avoid, BEERS))
                sources.append(BEERS)
            if ingredient in ("baclofen", "tizanidine") or (ingredient == "cyclobenzaprine" and not er):
                age_adjusted = True
                cautions.append(Caution(
                    CautionKind.ELDERLY_START_LOW, "Label: start low and titrate slowly in older adults.", label,
                ))  # fmt: skip
    return DoseJudgment(
        scope=LabelScope.ORAL, label=label, plan=plan, start_mg_per_day=start, step_mg_per_day=step,
        interval_days=interval, plan_ceiling_mg_per_day=min(plan_ceiling, ceiling), ceiling_mg_per_day=ceiling,
        label_max_mg_per_day=label_max, renal_adjusted=renal_adjusted, hepatic_adjusted=hepatic_adjusted,
        age_adjusted=age_adjusted, pediatric=pediatric, no_dose_reason=no_dose, consider=consider,
        kidney=kidney, cautions=tuple(cautions), sources=tuple(dict.fromkeys(sources)),
        **base,  # type: ignore[arg-type]
    )  # fmt: skip


def _cyclobenzaprine_liver(
    hepatic: HepaticImpairment, er: bool, label: str, ceiling: float, cautions: list[Caution], t: JudgmentThresholds
) -> tuple[float, str | None, str]:
    """(ceiling, no-dose reason, what to consider) for cyclobenzaprine in hepatic impairment, adding the
    caution. Labels: Amrix not recommended in any impairment (about twice the exposure); immediate release
    not recommended in moderate or severe impairment, 5 mg titrated slowly, less often, in mild."""
    if er or hepatic.severity is HepaticSeverity.MODERATE_OR_SEVERE:
        what = "extended-release cyclobenzaprine" if er else "cyclobenzaprine"
        grade = "hepatic impairment" if er else "moderate or severe hepatic impairment"
        cautions.append(Caution(
            CautionKind.HEPATIC_NOT_RECOMMENDED, f"Cyclobenzaprine label: {what} is not recommended in {grade}.", label,
        ))  # fmt: skip
        mild = er and hepatic.severity is HepaticSeverity.MILD
        consider = (
            "Immediate-release cyclobenzaprine at 5 mg, less often, in mild impairment only."
            if mild
            else "Another option not cleared by the liver."
        )
        return ceiling, f"{what} is not recommended in {grade} (label)", consider
    cautions.append(Caution(
        CautionKind.HEPATIC,
        "Cyclobenzaprine label, mild hepatic impairment: 5 mg, titrated slowly, less often.", label,
    ))  # fmt: skip
    return min(ceiling, float(t.cyclobenzaprine_mild_hepatic_max_mg_per_day)), None, ""


def _pediatric_age(ingredient: str, er: bool) -> tuple[int, str]:
    key = f"{ingredient}-er" if er and f"{ingredient}-er" in PEDIATRIC_LABEL_AGES else ingredient
    return PEDIATRIC_LABEL_AGES.get(key, (0, ""))


def _baclofen_kidney(
    kidney: Kidney, older: bool, label: str, cautions: list[Caution], t: JudgmentThresholds
) -> tuple[bool, str | None, str]:
    """(renal-adjusted, no-dose reason, what to consider) for oral baclofen, adding the cautions."""
    if kidney.acute_injury:
        cautions.append(Caution(
            CautionKind.UNSTABLE_KIDNEY,
            "AKI: the eGFR is not at steady state and overstates the function.", label,
        ))  # fmt: skip
    if kidney.band is RenalBand.SEVERE:
        where = "on dialysis" if kidney.dialysis else f"at eGFR below {t.baclofen_critical_egfr:g}"
        cautions.append(Caution(
            CautionKind.RENAL_SEVERE,
            "Renally excreted, baclofen accumulates (encephalopathy needing hospital care reported).", label,
        ))  # fmt: skip
        reason = f"no labelled oral baclofen dose {where} (renally excreted; encephalopathy)"
        return True, reason, _SEVERE_KIDNEY_CONSIDER
    if kidney.band is RenalBand.REDUCED:
        if older:
            cautions.append(Caution(
                CautionKind.RENAL_BEERS,
                f"Beers 2023: avoid baclofen at eGFR below {t.beers_baclofen_min_egfr:g}; if it is needed, the "
                "lowest effective dose, watching for confusion and encephalopathy.", BEERS,
            ))  # fmt: skip
        else:
            cautions.append(Caution(
                CautionKind.RENAL_LABEL,
                "Baclofen label: renally excreted; use with caution, a reduced dosage may be needed: review "
                "the dose, do not stop it abruptly.", label,
            ))  # fmt: skip
        return True, None, ""
    return kidney.acute_injury, None, ""


def stop_reason_of(facts: PatientFacts, order: MedicationFact) -> StopReason | None:
    """Why a draft stops or cuts the drug, when the record says it is an adverse effect or toxicity:
    the order's reasonCode, its reasonReference (a Condition on record), else a current adverse-effect
    or encephalopathy entry on the problem list."""
    for system, code, display in order.reason_codings:
        categories = terminology.condition_categories(system, code)
        if categories & _TOXIC_CATEGORIES or _toxic_text(display) or _toxic_text(code):
            return StopReason(_kind(categories, display or code), display or code, "reasonCode")
    for reference in order.reason_references:
        for condition in facts.conditions:
            resource = condition.provenance.resource if condition.provenance else ""
            same = bool(resource) and (reference == resource or reference.endswith("/" + resource))
            if same and condition.categories & _TOXIC_CATEGORIES:
                return StopReason(_kind(condition.categories, condition.display), condition.display, "reasonReference")
    for condition in facts.conditions_in(*_TOXIC_CATEGORIES):
        return StopReason(_kind(condition.categories, condition.display), condition.display, "problem list")
    return None


def _kind(categories: frozenset[ConditionCategory], text: str) -> str:
    if ConditionCategory.ENCEPHALOPATHY in categories or "encephalopathy" in text.lower():
        return "encephalopathy"
    return "adverse-effect"


def _toxic_text(text: str | None) -> bool:
    lowered = (text or "").lower()
    return any(word in lowered for word in _TOXIC_WORDS)


def exposure_of(facts: PatientFacts, order: MedicationFact) -> Exposure | None:
    """The current course of the order's drug (same route family) before this draft: its start and dose."""
    ingredient = main_ingredient(order)
    if ingredient is None:
        return None
    continuation = facts.continuation_of(order)
    previous = [m for m in continuation.previous if m.has(ingredient) and m.is_oral == order.is_oral]
    if not previous:
        previous = [m for m in facts.active_medications() if m.has(ingredient) and m.is_oral == order.is_oral]
    if not previous and order.is_stop:
        previous = [order]
    if not previous:
        return None
    doses = [m.daily_dose.mg_per_day for m in previous if m is not order]
    total = None if not doses or any(d is None for d in doses) else sum(d or 0.0 for d in doses)
    if total is None and previous == [order]:
        total = order.daily_dose.mg_per_day
    starts = [m.start for m in previous if m.start is not None and m is not order]
    history = facts.dose_histories.get(ingredient)
    if history is not None and history.current_since is not None and history.steps:
        starts.append(min(step.at for step in history.steps))
    since = min(starts) if starts else None
    days = (facts.now - since).total_seconds() / 86400 if since is not None else None
    return Exposure(days=days, mg_per_day=total, since=since)
