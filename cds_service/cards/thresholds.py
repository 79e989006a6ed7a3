"""Every clinical threshold, stated once, with the guideline statement or label it comes from.

Rules import their numbers from here; the scenario matrix and the guideline pages quote them.
Each constant's comment names its source (guideline statement id, FDA label, Beers 2023,
StatPearls).
"""

from __future__ import annotations

# Sections: each rule family keeps its numbers together under a `# --- <family>` header.
# Add a new family as a new section at the end of the file.

# --- baclofen (titration: guideline S1/A1, S19; ceiling: FDA label; withdrawal: S20) ----------------
# The source's plan (from muscle-cramp care in cirrhosis, clinical-facts §1.2 S1): start at 10 mg/day,
# raise by 10 mg/day each week, up to 30 mg/day.
BACLOFEN_START_MAX_MG_PER_DAY = 10.0  # S1/A1 "starting at 10 mg/day"
BACLOFEN_STEP_MAX_MG_PER_DAY = 10.0  # S1/A1 "weekly increases of 10 mg/day"
BACLOFEN_STEP_INTERVAL_DAYS = 7  # S1/A1 "weekly"
BACLOFEN_MIN_HOURS_BETWEEN_INCREASES = 72  # S19 "at least 72 hours"; label steps every 3 days
BACLOFEN_PLAN_CEILING_MG_PER_DAY = 30.0  # S1/A1 "up to 30 mg/day"
BACLOFEN_LABEL_MAX_MG_PER_DAY = 80.0  # FDA oral label: "total daily dose should not exceed 80 mg"
BACLOFEN_PLAN_STEPS_MG_PER_DAY = (10.0, 20.0, 30.0)
BACLOFEN_TABLET_MG = 5.0  # smallest tablet (5 mg, RxNorm 430902): suggested doses are multiples of it
# Withdrawal (S20): a cut larger than one titration step is "abrupt" (oral label: "reduce slowly").
BACLOFEN_MAX_CUT_MG_PER_DAY = BACLOFEN_STEP_MAX_MG_PER_DAY

# --- treatment escalation (guideline S17, A3, A4) --------------------------------------------------
# S17: "If inadequate response after 2-3 weeks" - the lower bound, 2 weeks at the plan's ceiling.
ESCALATION_MIN_DAYS_AT_CEILING = 14

# --- electrolytes (guideline S16, A5; StatPearls Hypokalemia NBK482465; clinical-facts §4) --------
POTASSIUM_LOW_MMOL_L = 3.5  # hypokalaemia: < 3.5 mmol/L (= mEq/L)
POTASSIUM_CRITICAL_MMOL_L = 2.5  # severe: < 2.5 mmol/L (many labs' critical value)
# Magnesium thresholds in each reported unit, so that 1.7 mg/dL is judged as the lab reported it
# (1.7 mg/dL x 0.4114 = 0.6994 mmol/L would otherwise fall below 0.70 by rounding alone).
MAGNESIUM_LOW = {"mmol/l": 0.70, "mg/dl": 1.7, "meq/l": 1.4}  # hypomagnesaemia
MAGNESIUM_CRITICAL = {"mmol/l": 0.5, "mg/dl": 1.2, "meq/l": 1.0}  # severe / symptomatic band
# A result older than this counts as missing (a service convention; no guideline sets it).
LAB_RECENT_DAYS = 30
POTASSIUM_LAB_LOINC = ("2823-3", "Potassium [Moles/volume] in Serum or Plasma")
MAGNESIUM_LAB_LOINC = ("19123-9", "Magnesium [Mass/volume] in Serum or Plasma")

# --- albumin for cramps in liver disease (guideline S9; EASL 2018) -----------------------------------
ALBUMIN_G_PER_WEEK = (20, 40)

# --- cyclobenzaprine (cyclobenzaprine-duration, cyclobenzaprine-cardiac)
# S3; FDA cyclobenzaprine label (Flexeril/Amrix), Indications: "should be used only for short
# periods (up to two or three weeks)". The upper end, 3 weeks, is the limit a card enforces.
CYCLOBENZAPRINE_MAX_COURSE_DAYS = 21
# Service convention (not from the source): orders with less than a week without supply between
# them are one course, so a chain of renewals is measured from its first order.
CYCLOBENZAPRINE_COURSE_GAP_DAYS = 7

# --- serotonergic (serotonergic-combination)
# FDA cyclobenzaprine label, Contraindications: MAOI use "or within 14 days after their
# discontinuation"; same 14-day washout in SSRI/SNRI labels. S23.
MAOI_WASHOUT_DAYS = 14

# --- elderly (elderly-caution)
# AGS Beers Criteria 2023 apply to adults 65 and older; S22.
ELDERLY_AGE_YEARS = 65
# AGS Beers 2023 Table 6: avoid baclofen at eGFR < 60 mL/min/1.73 m².
BEERS_BACLOFEN_MIN_EGFR = 60

# --- sedation (sedation-risk)
# Issue 4 table / S18: two or more CNS depressants active together.
SEDATION_MIN_CNS_DEPRESSANTS = 2
# AGS Beers 2023 drug-drug interactions: avoid a total of three or more CNS-active drugs.
BEERS_CNS_ACTIVE_AVOID_COUNT = 3
