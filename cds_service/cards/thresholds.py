"""Every clinical threshold the rules read, stated once, with its unit and where it comes from.

`Thresholds` holds the values in force; `DEFAULT_THRESHOLDS` is what the sources say. Rules take the
`Thresholds` of the call and format their card text, descriptions and suggestions from it, so that
what a card says is what was checked. Each field's name carries its unit, and its bounds are the
plausible range a site may choose from (a value outside is refused at start).

Sources: the muscle-spasm treatment summary's statements (S#, A#: see `guideline.py`), FDA labels,
AGS Beers Criteria 2023, StatPearls; `shared/reference/clinical-facts.md` checks each.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cds_service.facts.judgment.labels import PEDIATRIC_LABEL_AGES as _PEDIATRIC_LABEL_AGES


def _field(default: float, *, unit: str, source: str, ge: float, le: float) -> Any:
    return Field(default, ge=ge, le=le, description=source, json_schema_extra={"unit": unit})


class Thresholds(BaseModel):
    """The numbers the rules compare patient facts with (one instance per call)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # --- baclofen titration (S1/A1 plan from muscle-cramp care in cirrhosis; S19; FDA oral label)
    baclofen_start_max_mg_per_day: float = _field(
        10, unit="mg/day", source='S1/A1 "starting at 10 mg/day"', ge=5, le=30
    )
    baclofen_step_max_mg_per_day: float = _field(
        10, unit="mg/day", source='S1/A1 "weekly increases of 10 mg/day"', ge=5, le=30
    )
    baclofen_step_interval_days: int = _field(7, unit="days", source='S1/A1 "weekly"', ge=3, le=28)
    baclofen_min_hours_between_increases: float = _field(
        72, unit="hours", source='S19 "at least 72 hours"; the label steps every 3 days', ge=24, le=168
    )
    baclofen_plan_ceiling_mg_per_day: float = _field(30, unit="mg/day", source='S1/A1 "up to 30 mg/day"', ge=10, le=80)
    baclofen_label_max_mg_per_day: float = _field(
        80, unit="mg/day", source='FDA oral baclofen label: "total daily dose should not exceed 80 mg"', ge=30, le=120
    )
    # --- baclofen by the label (spasticity, and any indication the record does not tell): 5 mg TID,
    # raised by 5 mg per dose (15 mg/day) every 3 days (FDA oral baclofen tablet label, Dosage).
    baclofen_label_start_max_mg_per_day: float = _field(
        15, unit="mg/day", source="FDA oral baclofen label: 5 mg three times a day to start", ge=5, le=30
    )
    baclofen_label_step_max_mg_per_day: float = _field(
        15, unit="mg/day", source="FDA oral baclofen label: increase by 5 mg per dose (TID) every 3 days", ge=5, le=30
    )
    baclofen_label_step_interval_days: int = _field(
        3, unit="days", source="FDA oral baclofen label: each step for 3 days; S19 (72 h)", ge=1, le=14
    )
    # --- baclofen withdrawal (S20; oral label "reduce slowly"): a cut larger than this is abrupt
    baclofen_taper_step_max_mg_per_day: float = _field(
        10, unit="mg/day", source="S20 with S1's 10 mg/day step, in reverse", ge=5, le=30
    )
    baclofen_withdrawal_short_exposure_days: int = _field(
        7,
        unit="days",
        source="service convention (issue 19): a few days' exposure carries little withdrawal risk; the label's "
        "withdrawal reactions follow abrupt stops of established therapy",
        ge=1,
        le=30,
    )
    # --- treatment escalation (S17 "if inadequate response after 2-3 weeks": the lower bound)
    escalation_min_days_at_ceiling: int = _field(14, unit="days", source="S17 (2-3 weeks)", ge=7, le=90)
    escalation_max_days_at_ceiling: int = _field(
        42,
        unit="days",
        source="service convention: S17's reassessment moment is after 2-3 weeks; an established regimen "
        "renewed months later is not that moment (one or two monthly renewals fall in the window)",
        ge=21,
        le=365,
    )
    # --- electrolytes (S16, A5; StatPearls Hypokalemia NBK482465, Hypomagnesemia NBK500003)
    potassium_low_mmol_per_l: float = _field(3.5, unit="mmol/L", source="hypokalaemia: < 3.5 mmol/L", ge=3.0, le=4.0)
    potassium_critical_mmol_per_l: float = _field(
        2.5, unit="mmol/L", source="severe hypokalaemia, many labs' critical value", ge=2.0, le=3.0
    )
    magnesium_low_mmol_per_l: float = _field(
        0.70, unit="mmol/L", source="hypomagnesaemia: < 0.70 mmol/L (1.7 mg/dL)", ge=0.5, le=0.85
    )
    magnesium_critical_mmol_per_l: float = _field(
        0.5, unit="mmol/L", source="severe, often symptomatic: < 0.5 mmol/L (1.2 mg/dL)", ge=0.3, le=0.7
    )
    potassium_warning_mmol_per_l: float = _field(
        3.0, unit="mmol/L", source="StatPearls NBK482465: moderate hypokalaemia 2.5-3.0", ge=2.5, le=3.5
    )
    magnesium_warning_mmol_per_l: float = _field(
        0.60, unit="mmol/L", source="service convention between mild (< 0.70) and severe (< 0.5)", ge=0.5, le=0.7
    )
    lab_recent_days: int = _field(
        30, unit="days", source="service convention: an older result counts as missing", ge=1, le=365
    )
    ppi_long_term_days: int = _field(
        90,
        unit="days",
        source="FDA PPI labels / 2011 safety communication: hypomagnesaemia after 3 months or more, most after a year",
        ge=30,
        le=730,
    )
    # --- cyclobenzaprine (S3; FDA label: "only for short periods (up to two or three weeks)")
    cyclobenzaprine_max_course_days: int = _field(
        21, unit="days", source="S3 and the label: the upper end, 3 weeks", ge=7, le=42
    )
    cyclobenzaprine_course_gap_days: int = _field(
        7, unit="days", source="service convention: orders less than this apart are one course", ge=1, le=30
    )
    # --- label maximum daily doses (FDA labels; Texas Vendor Drug Program DUR maxima, clinical-facts §2.7)
    cyclobenzaprine_max_mg_per_day: float = _field(
        30, unit="mg/day", source="FDA cyclobenzaprine IR label: up to 10 mg three times a day", ge=15, le=60
    )
    cyclobenzaprine_er_max_mg_per_day: float = _field(
        30, unit="mg/day", source="FDA Amrix (ER) label: 15-30 mg once daily", ge=15, le=60
    )
    tizanidine_max_mg_per_day: float = _field(
        36, unit="mg/day", source="FDA tizanidine label: total daily dose should not exceed 36 mg", ge=12, le=48
    )
    methocarbamol_max_mg_per_day: float = _field(
        8000,
        unit="mg/day",
        source="FDA methocarbamol label: 6 g/day, 8 g/day in severe conditions (48-72 h)",
        ge=4000,
        le=8000,
    )
    carisoprodol_max_mg_per_day: float = _field(
        1400, unit="mg/day", source="FDA carisoprodol label: 350 mg three times a day and at bedtime", ge=1000, le=1400
    )
    metaxalone_max_mg_per_day: float = _field(
        3200, unit="mg/day", source="FDA metaxalone label: 800 mg three to four times a day", ge=2400, le=3200
    )
    orphenadrine_max_mg_per_day: float = _field(
        200, unit="mg/day", source="FDA orphenadrine ER label: one 100 mg tablet morning and evening", ge=100, le=400
    )
    chlorzoxazone_max_mg_per_day: float = _field(
        3000, unit="mg/day", source="FDA chlorzoxazone label: 750 mg three or four times daily", ge=1500, le=3000
    )
    dantrolene_max_mg_per_day: float = _field(
        400,
        unit="mg/day",
        source="FDA dantrolene label: rarely should doses higher than 400 mg/day be used",
        ge=200,
        le=400,
    )
    # --- serotonergic combinations (S23; cyclobenzaprine label: MAOIs "or within 14 days")
    maoi_washout_days: int = _field(14, unit="days", source="cyclobenzaprine and SSRI/SNRI labels", ge=14, le=35)
    # --- age (S22; AGS Beers 2023 applies from 65)
    elderly_age_years: int = _field(65, unit="years", source="AGS Beers 2023", ge=60, le=80)
    beers_baclofen_min_egfr: float = _field(
        60, unit="mL/min/1.73 m²", source="AGS Beers 2023 Table 6: avoid baclofen at eGFR < 60", ge=30, le=90
    )
    # --- renal dosing (AGS Beers 2023 Table 6 for baclofen; FDA tizanidine label 8.6/12.3)
    baclofen_critical_egfr: float = _field(
        30,
        unit="mL/min/1.73 m²",
        source="AGS Beers 2023 Table 6 and clinical-facts §6: severe renal impairment, encephalopathy risk",
        ge=15,
        le=45,
    )
    tizanidine_reduce_below_crcl: float = _field(
        25, unit="mL/min", source="FDA tizanidine label: clearance reduced > 50% at CrCl < 25 mL/min", ge=15, le=40
    )
    # --- sedation (S18; AGS Beers 2023 drug-drug interactions)
    sedation_min_cns_depressants: int = _field(
        2, unit="drugs", source="S18: two or more CNS depressants together", ge=2, le=4
    )
    beers_cns_active_avoid_count: int = _field(
        3, unit="drugs", source="AGS Beers 2023: avoid three or more CNS-active drugs", ge=2, le=5
    )

    def baclofen_plan_steps(self) -> tuple[float, ...]:
        """The plan's daily doses from the start to the ceiling (10 → 20 → 30 mg/day by default)."""
        steps = [self.baclofen_start_max_mg_per_day]
        while steps[-1] + self.baclofen_step_max_mg_per_day <= self.baclofen_plan_ceiling_mg_per_day + 1e-9:
            steps.append(steps[-1] + self.baclofen_step_max_mg_per_day)
        return tuple(steps)


DEFAULT_THRESHOLDS = Thresholds()
THRESHOLD_NAMES: frozenset[str] = frozenset(Thresholds.model_fields)

# --- facts of products and dosing advice (quoted, not compared with anything; not configurable)
BACLOFEN_TABLET_MG = 5.0  # smallest oral tablet (5 mg, RxNorm 430902): suggested doses are multiples of it
ALBUMIN_G_PER_WEEK = (20, 40)  # S9; EASL 2018 cirrhosis guideline, albumin for muscle cramps


# --- pediatric ages (label facts, not configurable): the facts layer's dose judgment applies them;
# kept importable from here for the rules that name them.
PEDIATRIC_LABEL_AGES = _PEDIATRIC_LABEL_AGES
