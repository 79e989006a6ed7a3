"""The dose judgment of one order: which label applies, the dose envelope it allows, and why.

Every rule that speaks of an order's dose reads this one record (issue 19: rules had decided without
what another rule knew: an oral maximum applied to an IV antidote, a one-click start dose beside a
"severe kidney impairment" card). It is plain data: computed in `judgment.compute`, read by rules,
by the engine's suggestion guard, by the whole-unit suggestions and by the SMART app.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from cds_service.facts.model import DOSE_TOLERANCE_MG, Indication, OrderRelation, Route


class LabelScope(StrEnum):
    """Whose dosing governs this order."""

    ORAL = "oral"  # an oral label this service checks (start, step, maximum)
    OWN_LABEL = "own-label"  # another label governs (IV dantrolene for malignant hyperthermia, intrathecal baclofen)
    NONE = "none"  # not a drug whose dose this service judges


class RenalBand(StrEnum):
    NORMAL = "normal"  # eGFR at or above the reduced-function threshold
    REDUCED = "reduced"  # below `beers_baclofen_min_egfr` (60)
    SEVERE = "severe"  # below `baclofen_critical_egfr` (30), or on dialysis
    UNKNOWN = "unknown"  # no eGFR, creatinine, CKD stage or dialysis on record


class CautionKind(StrEnum):
    BEERS_AVOID = "beers-avoid"  # AGS Beers 2023 "avoid", said only at `elderly_age_years` or older
    RENAL_BEERS = "renal-beers"  # baclofen at eGFR < 60 at 65+: Beers "avoid; if used, lowest dose"
    RENAL_LABEL = "renal-label"  # the label's renal wording (reduced dosage, caution): a dose review
    RENAL_SEVERE = "renal-severe"  # no labelled oral dose at this kidney function
    UNSTABLE_KIDNEY = "unstable-kidney"  # acute kidney injury: the eGFR overstates the function
    HEPATIC = "hepatic"  # a label's hepatic wording
    PEDIATRIC = "pediatric"  # below the label age, or weight-based pediatric dosing
    ELDERLY_START_LOW = "elderly-start-low"  # label: start low and titrate slowly in older adults
    NOT_INDICATED = "not-indicated"  # the label says not indicated for what the order treats


@dataclass(frozen=True, slots=True)
class Caution:
    kind: CautionKind
    text: str  # one sentence a card may quote as it is (no patient text in it)
    source: str  # "FDA oral baclofen label", "AGS Beers 2023"


@dataclass(frozen=True, slots=True)
class Kidney:
    """The kidney function the judgment used, and how it is known (a card quotes `how`)."""

    egfr: float | None  # mL/min/1.73 m², or None (a CKD stage or dialysis only)
    upper: float | None  # the highest eGFR the record allows (a stage's top); = egfr for a result
    how: str  # "eGFR result (LOINC 98979-8)", "CKD stage 4 on the problem list (eGFR 15-29)"
    measured_at: datetime | None  # when the eGFR (or creatinine) was measured; None for a condition
    dialysis: bool
    acute_injury: bool  # acute kidney injury on the problem list
    band: RenalBand


@dataclass(frozen=True, slots=True)
class StopReason:
    """Why an order is stopped or cut, when the record says so (issue 19, item 5)."""

    kind: str  # "adverse-effect" (T42.8X5, "toxicity" in the reason), "encephalopathy"
    display: str  # as the EHR names it (escape before showing)
    source: str  # "reasonCode", "reasonReference", "problem list"


@dataclass(frozen=True, slots=True)
class Exposure:
    """How long and how much of the drug the patient has taken in the current course."""

    days: float | None  # since the course started; None when no start is on record
    mg_per_day: float | None  # the current daily dose; None when unknown
    since: datetime | None


@dataclass(frozen=True, slots=True)
class DoseJudgment:
    """What the labels allow for one order of one product for this patient, decided once.

    `ceiling_mg_per_day` is the highest daily dose allowed here (the label maximum after renal,
    hepatic, age and pediatric adjustments); `plan_ceiling_mg_per_day` the indication's plan ceiling
    (the cramp plan's 30 mg/day), at or below it. `no_dose_reason` set means there is no labelled
    dose here: no card may suggest a dose of this order (the reason and `consider` say why and what
    instead). `label_max_mg_per_day` is the oral label's maximum, None for a product the oral label
    does not cover (IV dantrolene: no oral maximum applies to the antidote).
    """

    order: str  # "MedicationRequest/abc"
    ingredient: str | None
    route: Route
    form: str  # "tablet", "capsule", "oral liquid", "granules", "injection", "intrathecal", "unknown"
    extended_release: bool
    scope: LabelScope
    label: str | None  # "FDA oral baclofen label", "FDA dantrolene IV label (malignant hyperthermia)"
    indication: Indication
    relation: OrderRelation | None  # a draft's continuation; None for an existing order
    plan: str | None = None  # "the cramp plan" (EASL 2018) or "the label"
    start_mg_per_day: float | None = None
    step_mg_per_day: float | None = None
    interval_days: int | None = None
    plan_ceiling_mg_per_day: float | None = None
    ceiling_mg_per_day: float | None = None
    label_max_mg_per_day: float | None = None
    renal_adjusted: bool = False
    hepatic_adjusted: bool = False
    age_adjusted: bool = False
    pediatric: bool = False
    no_dose_reason: str | None = None
    consider: str = ""  # what to consider when there is no labelled dose
    kidney: Kidney | None = None
    cautions: tuple[Caution, ...] = ()
    stop_reason: StopReason | None = None
    exposure: Exposure | None = None
    sources: tuple[str, ...] = ()

    @property
    def has_labelled_dose(self) -> bool:
        """A dose can be suggested: an oral label applies and nothing known rules its dosing out."""
        return self.scope is LabelScope.ORAL and self.no_dose_reason is None and self.ceiling_mg_per_day is not None

    def caution(self, kind: CautionKind) -> Caution | None:
        return next((c for c in self.cautions if c.kind is kind), None)

    def max_suggestable(self, previous_mg_per_day: float | None = None) -> float | None:
        """The highest daily dose a card may suggest for this order, or None when none may be suggested.

        A start (or restart) may be suggested up to the start dose; any other change up to the ceiling.
        `previous_mg_per_day` is accepted for an increase: one step above it at most.
        """
        if not self.has_labelled_dose or self.ceiling_mg_per_day is None:
            return None
        limit = self.ceiling_mg_per_day
        if self.relation in (OrderRelation.START, OrderRelation.RESTART) and self.start_mg_per_day is not None:
            limit = min(limit, self.start_mg_per_day)
        elif (
            self.relation is OrderRelation.INCREASE
            and previous_mg_per_day is not None
            and self.step_mg_per_day is not None
        ):
            limit = min(limit, max(previous_mg_per_day + self.step_mg_per_day, previous_mg_per_day))
        return limit

    def allows(self, mg_per_day: float, previous_mg_per_day: float | None = None) -> bool:
        """`mg_per_day` of this order is inside the judgment (what the suggestion guard asks)."""
        limit = self.max_suggestable(previous_mg_per_day)
        return limit is not None and 0 < mg_per_day <= limit + DOSE_TOLERANCE_MG


class JudgmentThresholds(Protocol):
    """The `Thresholds` fields the judgment reads (cards.thresholds.Thresholds satisfies it)."""

    baclofen_start_max_mg_per_day: float
    baclofen_step_max_mg_per_day: float
    baclofen_step_interval_days: int
    baclofen_plan_ceiling_mg_per_day: float
    baclofen_label_max_mg_per_day: float
    baclofen_label_start_max_mg_per_day: float
    baclofen_label_step_max_mg_per_day: float
    baclofen_label_step_interval_days: int
    cyclobenzaprine_max_mg_per_day: float
    cyclobenzaprine_er_max_mg_per_day: float
    tizanidine_max_mg_per_day: float
    methocarbamol_max_mg_per_day: float
    carisoprodol_max_mg_per_day: float
    metaxalone_max_mg_per_day: float
    orphenadrine_max_mg_per_day: float
    chlorzoxazone_max_mg_per_day: float
    dantrolene_max_mg_per_day: float
    elderly_age_years: int
    beers_baclofen_min_egfr: float
    baclofen_critical_egfr: float
    tizanidine_reduce_below_crcl: float
