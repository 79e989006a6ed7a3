"""The vocabulary of the facts: drug classes, routes, condition categories, indications, how a draft
relates to the orders before it, and the dose tolerance. Split from `model` (issue 19), which
re-exports every name: rules import them from `facts.model` as before.
"""

from __future__ import annotations

from enum import StrEnum


class DrugClass(StrEnum):
    """Classes a normalized ingredient may belong to (one ingredient, several classes)."""

    MUSCLE_RELAXANT = "muscle-relaxant"  # every skeletal muscle relaxant incl. antispasticity agents
    ANTISPASTICITY = "antispasticity"  # baclofen, tizanidine, dantrolene
    ANTISPASMODIC_BEERS = "antispasmodic-beers"  # the six Beers 2023 "avoid" SMRs
    BENZODIAZEPINE = "benzodiazepine"
    OPIOID = "opioid"
    GABAPENTINOID = "gabapentinoid"
    Z_DRUG = "z-drug"
    CNS_DEPRESSANT = "cns-depressant"
    SEROTONERGIC = "serotonergic"
    SSRI = "ssri"
    SNRI = "snri"
    TCA = "tca"
    TRIPTAN = "triptan"
    MAOI = "maoi"
    STRONG_CYP1A2_INHIBITOR = "strong-cyp1a2-inhibitor"  # fluvoxamine, ciprofloxacin (tizanidine: contraindicated)
    CYP1A2_INHIBITOR = "cyp1a2-inhibitor"  # the tizanidine label's other CYP1A2 inhibitors (avoid)
    # Beers 2023 CNS-active drugs (the "three or more" count) beside the classes above
    ANTIDEPRESSANT = "antidepressant"
    ANTIPSYCHOTIC = "antipsychotic"
    ANTIEPILEPTIC = "antiepileptic"
    # Reasons to expect low potassium or magnesium, and their treatment
    LOOP_DIURETIC = "loop-diuretic"
    THIAZIDE_DIURETIC = "thiazide-diuretic"
    PROTON_PUMP_INHIBITOR = "proton-pump-inhibitor"
    POTASSIUM_SUPPLEMENT = "potassium-supplement"
    MAGNESIUM_SUPPLEMENT = "magnesium-supplement"


class MatchMethod(StrEnum):
    """How a medication was recognized: by an RxNorm code in our tables, or only by its name."""

    CODE = "code"
    NAME = "name"
    NONE = "none"


class Route(StrEnum):
    ORAL = "oral"
    INTRATHECAL = "intrathecal"
    INJECTION = "injection"  # IV/IM/SC, not intrathecal
    TOPICAL = "topical"
    OTHER = "other"
    UNKNOWN = "unknown"


class ConditionCategory(StrEnum):
    CEREBRAL_SPASTICITY = "cerebral-spasticity"  # MS, stroke/hemiplegia, cerebral palsy, TBI
    SPINAL_SPASTICITY = "spinal-spasticity"  # spinal cord injury, para/quadriplegia
    ACUTE_MUSCULOSKELETAL = "acute-musculoskeletal"  # muscle spasm, low back pain
    CARDIAC_ARRHYTHMIA = "cardiac-arrhythmia"
    CARDIAC_CONDUCTION = "cardiac-conduction"  # heart block / conduction disturbance
    HEART_FAILURE = "heart-failure"
    RECENT_MI = "recent-mi"  # acute MI (ICD-10 I21/I22) or onset within 28 days
    HYPERTHYROIDISM = "hyperthyroidism"
    LIVER_DISEASE = "liver-disease"  # any liver code (fatty liver included): never enough for a liver rule alone
    CIRRHOSIS = "cirrhosis"  # the evidence base of the cramp plan and of albumin (EASL 2018)
    ACTIVE_LIVER_DISEASE = "active-liver-disease"  # cirrhosis, active hepatitis: dantrolene contraindication
    RENAL_IMPAIRMENT = "renal-impairment"  # any CKD code
    CKD_STAGE_3 = "ckd-stage-3"  # N18.3x
    CKD_STAGE_4 = "ckd-stage-4"  # N18.4
    CKD_STAGE_5 = "ckd-stage-5"  # N18.5, N18.6 (ESRD)
    DIALYSIS = "dialysis"  # Z99.2, Z49.x
    MUSCLE_CRAMPS = "muscle-cramps"  # R25.2 and cramp findings: their own category, not acute musculoskeletal
    ALCOHOL_USE_DISORDER = "alcohol-use-disorder"  # a reason to expect low magnesium
    ACUTE_KIDNEY_INJURY = "acute-kidney-injury"  # N17: kidney function falling, eGFR not at steady state
    RELAXANT_ADVERSE_EFFECT = "relaxant-adverse-effect"  # T42.8X1-5: adverse effect / poisoning (baclofen...)
    ENCEPHALOPATHY = "encephalopathy"  # G92, G93.4x


# Conditions this guideline is about: spasm, spasticity and cramps (scope of the electrolyte and
# summary checks on chart opening).
SPASM_CONDITIONS = frozenset(
    {
        ConditionCategory.CEREBRAL_SPASTICITY,
        ConditionCategory.SPINAL_SPASTICITY,
        ConditionCategory.ACUTE_MUSCULOSKELETAL,
        ConditionCategory.MUSCLE_CRAMPS,
    }
)

# Two daily doses closer than this are the same dose (doses are computed from tablets of 0.5 mg
# and up, so a hundredth of a milligram is rounding, never a dose change).
DOSE_TOLERANCE_MG = 0.001


def same_dose(a: float, b: float) -> bool:
    return abs(a - b) < DOSE_TOLERANCE_MG


def above(dose: float, limit: float) -> bool:
    """`dose` is more than `limit`, beyond rounding."""
    return dose > limit + DOSE_TOLERANCE_MG


# MedicationRequest statuses of an order the patient has now (CDS Hooks order hooks: drafts aside).
CURRENT_STATUSES = frozenset({"active", "on-hold"})
# A draft with one of these statuses ends the order it names (a discontinuation); it adds nothing.
STOPPING_STATUSES = frozenset({"stopped", "cancelled", "completed", "revoked", "entered-in-error"})
# Routes that put a drug into the body by mouth or tube (or an order that does not say: almost all do).
ORAL_ROUTES = frozenset({Route.ORAL, Route.UNKNOWN, Route.OTHER})


class LabKind(StrEnum):
    POTASSIUM = "potassium"
    MAGNESIUM = "magnesium"
    EGFR = "egfr"
    CREATININE = "creatinine"


class Indication(StrEnum):
    """What a muscle-relaxant order treats, as far as the record tells (the plans differ by indication)."""

    CRAMPS_WITH_LIVER_DISEASE = "cramps-with-liver-disease"  # the source's 10 → 30 mg/day baclofen plan
    CRAMPS = "cramps"  # cramps without liver disease
    SPASTICITY = "spasticity"  # MS, spinal cord, cerebral palsy, stroke sequelae, other upper-motor-neuron
    ACUTE_MUSCULOSKELETAL = "acute-musculoskeletal"  # back and neck pain, sprain and strain
    UNKNOWN = "unknown"


class OrderRelation(StrEnum):
    """What a draft is to the patient's current or recent orders of the same drug."""

    START = "start"  # no current order, none ended recently, none ever on record
    RESTART = "restart"  # a previous course ended longer ago than a late renewal allows
    RENEWAL = "renewal"  # same daily dose as the current (or just-ended) order; a form change included
    INCREASE = "increase"
    DECREASE = "decrease"
    UNKNOWN_DOSE = "unknown-dose"  # continues an order, but a daily dose on one side is unknown
