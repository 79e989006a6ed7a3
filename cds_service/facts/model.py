"""Plain, typed patient facts: the only thing the rules ever read.

The facts layer turns FHIR R4 (as Epic, Oracle Health and the sandbox send it) into these frozen
dataclasses. Every fact that a card may quote carries a `Provenance` so a reviewer can see which
resource and which field it came from. Unknown stays unknown: a dose that cannot be computed is
`DailyDose(mg_per_day=None, unknown_reason=...)`, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from cds_service.facts.kinds import (
    CURRENT_STATUSES,
    DOSE_TOLERANCE_MG,
    ORAL_ROUTES,
    SPASM_CONDITIONS,
    STOPPING_STATUSES,
    ConditionCategory,
    DrugClass,
    Indication,
    LabKind,
    MatchMethod,
    OrderRelation,
    Route,
    above,
    same_dose,
)


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a fact came from: `MedicationRequest/abc` and a FHIRPath-like field path."""

    resource: str
    field: str = ""

    def __str__(self) -> str:
        return f"{self.resource}.{self.field}" if self.field else self.resource


@dataclass(frozen=True, slots=True)
class DailyDose:
    """Total daily dose of the medication's main ingredient, in mg.

    `mg_per_day` is None when it cannot be computed; `unknown_reason` then says why.
    For ranges and PRN orders this is the *maximum* daily amount (safety checks use the high end).
    `explanation` is human text for card details, e.g. "10 mg × 3 per day (TID)".

    `usual_mg_per_day` / `usual_units_per_day` are the usual daily use, which sets how long a supply
    lasts: for a scheduled order the ordered dose × `timing.repeat.frequency` (not `frequencyMax`),
    capped by `maxDosePerPeriod`; for an as-needed order the dose × the timing's frequency when the
    timing gives one, otherwise unknown (None): "up to 3 a day as needed" says nothing of actual use.
    A dose range counts at its high end in both.
    """

    mg_per_day: float | None
    explanation: str = ""
    unknown_reason: str | None = None
    as_needed: bool = False
    from_range: bool = False
    units_per_day: float | None = None  # tablets/capsules/mL per day, when dosed in units
    unit: str | None = None  # the dose unit as ordered ("mg", "tablet", "mL")
    source: Provenance | None = None
    usual_mg_per_day: float | None = None
    usual_units_per_day: float | None = None


@dataclass(frozen=True, slots=True)
class SupplyDuration:
    """How many days the order covers, and how that was worked out."""

    days: float | None
    # "expectedSupplyDuration", "quantity", "boundsDuration", "boundsPeriod"; never "validityPeriod":
    # a validity period is when the prescription expires (Epic sends one year), not the course length.
    method: str = ""
    explanation: str = ""
    source: Provenance | None = None


@dataclass(frozen=True, slots=True)
class MedicationFact:
    """One MedicationRequest (a draft order or one of the patient's existing orders)."""

    reference: str  # "MedicationRequest/abc" (relative; stable key across the response)
    resource_id: str | None
    ingredients: tuple[str, ...]  # normalized ingredient names, lower case, e.g. ("baclofen",)
    classes: frozenset[DrugClass]
    match: MatchMethod
    display: str  # what the clinician sees, e.g. "baclofen 10 MG Oral Tablet"
    rxnorm_code: str | None = None
    strength_mg: float | None = None  # per tablet/capsule, or per mL for liquids (main ingredient)
    strength_per_ml: bool = False
    route: Route = Route.UNKNOWN
    status: str | None = None  # draft, active, on-hold, completed, stopped, cancelled, ...
    intent: str | None = None
    authored_on: datetime | None = None
    validity_start: datetime | None = None
    validity_end: datetime | None = None
    daily_dose: DailyDose = field(default_factory=lambda: DailyDose(None, unknown_reason="no dosage"))
    supply: SupplyDuration = field(default_factory=lambda: SupplyDuration(None))
    is_draft: bool = False  # came from context.draftOrders
    is_selected: bool = False  # order-select: listed in context.selections
    provenance: Provenance | None = None
    # Ingredients the order's name/display names when its RxNorm code says something else: the code
    # decided the facts above; a rule reports the disagreement.
    name_conflict: tuple[str, ...] = ()
    extended_release: bool = False  # an extended-release product (Amrix): its own maximum and cautions
    # Why the order was written: reasonCode codings (system, code, display) and reasonReference targets.
    reason_codings: tuple[tuple[str | None, str, str], ...] = ()
    reason_references: tuple[str, ...] = ()
    # Fields of an order for a drug the rules read that could not be read (a date without a timezone,
    # a dose "NaN", frequency 0...): the order is still listed, and a card names what was not checked.
    problems: tuple[str, ...] = ()
    # The original resource, for building update/delete suggestions only (see facts.orders).
    # Rules never read it.
    raw: dict[str, Any] | None = field(default=None, repr=False, compare=False, hash=False)

    def has(self, ingredient: str) -> bool:
        return ingredient in self.ingredients

    def in_class(self, drug_class: DrugClass) -> bool:
        return drug_class in self.classes

    @property
    def start(self) -> datetime | None:
        return self.validity_start or self.authored_on

    @property
    def is_current(self) -> bool:
        """An existing order the patient has now: its status says so, whatever its supply arithmetic."""
        return not self.is_draft and (self.status or "").lower() in CURRENT_STATUSES

    @property
    def supply_end(self) -> datetime | None:
        """When the supply runs out at the usual daily use (start + course days), or None when unknown.

        `validityPeriod.end` is when the prescription expires, not when the course ends, and is not
        used here. For a current order this only adds "supply may have run out on ..." to a card.
        """
        if self.start is not None and self.supply.days is not None:
            try:
                return self.start + timedelta(days=self.supply.days)
            except OverflowError:
                return None
        return None

    @property
    def ended_at(self) -> datetime | None:
        """When a course ended or ends: the earlier of `supply_end` and `validity_end` (either alone when
        only one is known), else None (open).

        For a finished order (stopped, completed) this is when the patient last had the drug: a 7-day
        course with a one-year validity ended on day 7; an order stopped before its supply ran out may
        carry only its validity. It says nothing about whether an order is current: status does.
        """
        ends = [e for e in (self.supply_end, self.validity_end) if e is not None]
        return min(ends) if ends else None

    @property
    def end(self) -> datetime | None:
        """The same as `ended_at` (kept for the rules that read `end`)."""
        return self.ended_at

    @property
    def is_stop(self) -> bool:
        """A draft that discontinues an order rather than adding one."""
        return self.is_draft and (self.status or "").lower() in STOPPING_STATUSES

    @property
    def is_oral(self) -> bool:
        """Taken by mouth or tube: not intrathecal, not injected, not applied to the skin."""
        return self.route in ORAL_ROUTES


@dataclass(frozen=True, slots=True)
class LabResult:
    kind: LabKind
    value_mmol_l: float  # normalized
    value: float  # as reported
    unit: str  # as reported ("mg/dL", "mEq/L", "mmol/L")
    effective: datetime | None
    loinc: str | None
    status: str | None  # final, amended, corrected (preliminary results are not used)
    comparator: str | None = None  # "<", ">", "<=", ">=" as reported
    preliminary: bool = False  # always False now: preliminary results are neither readable nor unreadable
    interpretation: str | None = None  # e.g. "L", "LL" from Observation.interpretation
    provenance: Provenance | None = None

    def age_days(self, now: datetime) -> float | None:
        if self.effective is None:
            return None
        return (now - self.effective).total_seconds() / 86400


@dataclass(frozen=True, slots=True)
class ConditionFact:
    categories: frozenset[ConditionCategory]
    code: str | None
    system: str | None
    display: str
    clinical_status: str | None
    verification_status: str | None
    onset: datetime | None = None
    recorded: date | datetime | None = None
    provenance: Provenance | None = None


@dataclass(frozen=True, slots=True)
class DoseChange:
    """One step in a drug's dose history."""

    mg_per_day: float
    at: datetime
    source: Provenance | None = None


@dataclass(frozen=True, slots=True)
class DoseHistory:
    """A drug's daily dose over time from the patient's MedicationRequests (drafts excluded).

    `current` is the dose of the latest active order; `previous` the dose before the last
    change; `last_change_at` when the current dose started.
    """

    ingredient: str
    current_mg_per_day: float | None
    current_since: datetime | None
    previous_mg_per_day: float | None
    last_change_at: datetime | None
    steps: tuple[DoseChange, ...] = ()


@dataclass(frozen=True, slots=True)
class UnreadableLab:
    """The newest result of a lab that could not be read (unit clash, text value, implausible value).

    It is kept so that a card can say so with its date and raw value, and so that an older readable
    result is called "previous", never "latest". A lab flag (LL, L, H, HH) is kept: it is honoured
    when the value itself cannot be read.
    """

    kind: LabKind
    effective: datetime | None
    raw_value: str  # as sent, for the card (escaped there)
    raw_unit: str
    problem: str  # why it could not be read ("unit mg/dL on a mmol/L code", "value is text")
    interpretation: str | None = None  # "LL", "L", "H", "HH" as flagged by the lab
    provenance: Provenance | None = None


@dataclass(frozen=True, slots=True)
class RenalFunction:
    """The patient's kidney function as far as the record tells, newest first.

    `egfr` in mL/min/1.73 m² from an eGFR result, or computed from serum creatinine with the
    race-free CKD-EPI 2021 equation (age and sex needed; `method` says so), or None when only a
    condition is known. `on_dialysis` and `ckd_stage` come from results or conditions (Z99.2, N18.x).
    """

    egfr: float | None
    method: str  # "eGFR result (LOINC 98979-8)", "CKD-EPI 2021 from creatinine 1.4 mg/dL, age 70, female", ...
    measured_at: datetime | None = None
    ckd_stage: int | None = None  # 3, 4 or 5 from a condition code
    on_dialysis: bool = False
    provenance: Provenance | None = None
    # The newest eGFR or creatinine result when it is newer than the one used and could not be read.
    unreadable: UnreadableLab | None = None


@dataclass(frozen=True, slots=True)
class IndicationFact:
    """What an order treats: from its reasonCode, then reasonReference, then the problem list."""

    indication: Indication
    source: str = "none"  # "reasonCode", "reasonReference", "problem list", "none"
    display: str = ""  # the reason or condition as the EHR names it (escape before showing)
    provenance: Provenance | None = None


@dataclass(frozen=True, slots=True)
class Continuation:
    """A draft measured against the patient's current or recent orders of the same drug.

    A draft for the same ingredient as a current order, or as one whose supply or validity ended
    within the late-renewal window, continues it (renewal, dose change, form change) and is judged
    against the previous daily dose, never as a start. After a longer gap it is a restart: judged
    as a start, and the card names the previous dose and when it ended.
    """

    relation: OrderRelation
    previous: tuple[MedicationFact, ...] = ()  # the orders it continues (or, for a restart, the last course)
    previous_mg_per_day: float | None = None  # their total daily dose
    previous_ended: datetime | None = None  # restart or late renewal: when the previous supply or validity ended
    form_changed: bool = False  # same drug, another form or strength (tablet → solution)


@dataclass(frozen=True, slots=True)
class SkippedResource:
    """A resource the facts layer could not use; reported in the response, never fatal."""

    where: str  # e.g. "prefetch.medications.entry[3]"
    resource: str | None  # "MedicationRequest/x" when an id was readable
    reason: str  # what was wrong (no patient data in here)


@dataclass(frozen=True, slots=True)
class DataGap:
    """Data the rules need that could not be obtained (FHIR server down, OperationOutcome...)."""

    what: str  # "potassium results", "the patient's active medications"
    reason: str  # "FHIR server answered 500", "timed out after 2.0 s", "OperationOutcome: ..."
    prefetch_key: str | None = None


@dataclass(frozen=True, slots=True)
class PatientFacts:
    hook: str  # "order-select" | "order-sign" | "patient-view"
    now: datetime  # the evaluation instant (aware, UTC)
    patient_id: str | None
    age_years: int | None = None
    sex: str | None = None
    # Orders the hook speaks about: the selected drafts (order-select), all drafts (order-sign),
    # nothing for patient-view.
    drafts_in_scope: tuple[MedicationFact, ...] = ()
    # Drafts that are not the subject of this call (order-select: not selected). They still count
    # as "would be active" for combination checks.
    other_drafts: tuple[MedicationFact, ...] = ()
    # The patient's existing MedicationRequests (all statuses fetched; see active_medications()).
    medications: tuple[MedicationFact, ...] = ()
    potassium: LabResult | None = None  # the newest readable result
    magnesium: LabResult | None = None  # the newest readable result
    # The newest result when it is newer than the readable one above and could not be read.
    potassium_unreadable: UnreadableLab | None = None
    magnesium_unreadable: UnreadableLab | None = None
    renal: RenalFunction | None = None
    # Per order reference: what each muscle-relaxant order treats, and what each draft continues.
    indications: dict[str, IndicationFact] = field(default_factory=dict)
    continuations: dict[str, Continuation] = field(default_factory=dict)
    conditions: tuple[ConditionFact, ...] = ()  # current ones only (facts.conditions decides)
    dose_histories: dict[str, DoseHistory] = field(default_factory=dict)
    skipped: tuple[SkippedResource, ...] = ()
    gaps: tuple[DataGap, ...] = ()
    # Derived facts worked out once per call on first use (the dose judgment of each order, see
    # `facts.judgment.judgment_of`); never part of what the facts are.
    memo: dict[Any, Any] = field(default_factory=dict, init=False, compare=False, repr=False, hash=False)

    # --- convenience views used by many rules -------------------------------------------------
    def active_medications(self) -> tuple[MedicationFact, ...]:
        """Existing orders the patient has now: status active or on-hold, whatever their supply arithmetic
        (`supply_end` in the past only lets a card add "supply may have run out on ...")."""
        return tuple(m for m in self.medications if m.is_current)

    def would_be_active(self) -> tuple[MedicationFact, ...]:
        """Drafts plus active existing orders, minus existing orders a draft replaces."""
        replaced = {m.reference for m in self.drafts_in_scope + self.other_drafts}
        current = tuple(m for m in self.active_medications() if m.reference not in replaced)
        return self.drafts_in_scope + self.other_drafts + current

    def indication_of(self, order: MedicationFact) -> IndicationFact:
        return self.indications.get(order.reference, IndicationFact(Indication.UNKNOWN))

    def continuation_of(self, draft: MedicationFact) -> Continuation:
        return self.continuations.get(draft.reference, Continuation(OrderRelation.START))

    def conditions_in(self, *categories: ConditionCategory) -> tuple[ConditionFact, ...]:
        return tuple(c for c in self.conditions if c.categories.intersection(categories))


# The vocabulary re-exported from `facts.kinds` (the classes above are this module's own).
__all__ = [
    "CURRENT_STATUSES",
    "DOSE_TOLERANCE_MG",
    "ORAL_ROUTES",
    "SPASM_CONDITIONS",
    "STOPPING_STATUSES",
    "ConditionCategory",
    "DrugClass",
    "Indication",
    "LabKind",
    "MatchMethod",
    "OrderRelation",
    "Route",
    "above",
    "same_dose",
]
