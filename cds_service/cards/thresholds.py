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
    # --- baclofen withdrawal (S20; oral label "reduce slowly"): a cut larger than this is abrupt
    baclofen_taper_step_max_mg_per_day: float = _field(
        10, unit="mg/day", source="S20 with S1's 10 mg/day step, in reverse", ge=5, le=30
    )
    # --- treatment escalation (S17 "if inadequate response after 2-3 weeks": the lower bound)
    escalation_min_days_at_ceiling: int = _field(14, unit="days", source="S17 (2-3 weeks)", ge=7, le=90)
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
    lab_recent_days: int = _field(
        30, unit="days", source="service convention: an older result counts as missing", ge=1, le=365
    )
    # --- cyclobenzaprine (S3; FDA label: "only for short periods (up to two or three weeks)")
    cyclobenzaprine_max_course_days: int = _field(
        21, unit="days", source="S3 and the label: the upper end, 3 weeks", ge=7, le=42
    )
    cyclobenzaprine_course_gap_days: int = _field(
        7, unit="days", source="service convention: orders less than this apart are one course", ge=1, le=30
    )
    # --- serotonergic combinations (S23; cyclobenzaprine label: MAOIs "or within 14 days")
    maoi_washout_days: int = _field(14, unit="days", source="cyclobenzaprine and SSRI/SNRI labels", ge=14, le=35)
    # --- age (S22; AGS Beers 2023 applies from 65)
    elderly_age_years: int = _field(65, unit="years", source="AGS Beers 2023", ge=60, le=80)
    beers_baclofen_min_egfr: float = _field(
        60, unit="mL/min/1.73 m²", source="AGS Beers 2023 Table 6: avoid baclofen at eGFR < 60", ge=30, le=90
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
