"""A synthetic clinic/hospital day for the alert-burden benchmark: patients as clinical scenarios.

Each patient is drawn in two layers. A *situation* (sampled with the weights of `SITUATIONS`, per 1,000
patients) sets what the day is about for this patient: nothing muscle-relaxant related for about 70 %,
a stable regimen, a start, a renewal, a dose change or stop, an interacting drug, a contraindication, a
child, kidney disease or a low potassium/magnesium for the rest. A *background* then adds what such a
patient usually also has at that age (hypertension, diabetes, statins, SSRIs, opioids, PPIs,
diuretics, anticoagulants, CKD in ~10 % of patients 65 and over, cirrhosis, thyroid disease, labs old
and recent, normal and abnormal). The background never adds a muscle relaxant, a spasm or cramp
condition; it may add drugs and conditions that interact with the situation's relaxant, exactly as a
real record would, and the expected needs follow from the whole record (`burden_truth.assess`), not
from the situation label.

The mix, per 1,000 patients (`SITUATIONS`; the background then adds what the age brings):

- 700 on no muscle relaxant: 500 routine (their conditions and drugs, 30 % with an ordinary order
  today), 80 low potassium or magnesium on a diuretic or a PPI, 40 an opioid with a benzodiazepine,
  gabapentinoid or Z-drug, 25 serotonergic pairs (sertraline + ondansetron, sertraline + verapamil,
  duloxetine + tramadol...), 20 a CYP1A2 inhibitor ordered (ciprofloxacin, fluvoxamine, famotidine,
  acyclovir), 15 back pain or spasm treated without a relaxant, 10 muscle cramps, 10 older adults
  starting a benzodiazepine. All of them except cramps and the benzodiazepine starts need nothing.
- 138 stable: baclofen 40 (+22 renewing today), tizanidine 27 (+13 renewing), a short cyclobenzaprine
  course 12 or another antispasmodic 8, intrathecal baclofen 4, dantrolene 3, baclofen for cramps in
  cirrhosis 4, older adults renewing an antispasmodic 5.
- 57 starts: baclofen by the label 10, too high 3, by the cirrhosis-cramp plan 3; tizanidine 7;
  cyclobenzaprine 13, for more than 21 days 4; another antispasmodic 6; older adults starting an
  antispasmodic 7; dantrolene 2, with liver disease 2.
- 29 changes: baclofen up by the label 5, too fast 2, above 80 mg/day 2; a taper step 3, an abrupt cut
  3, a stop 3, a stop at the end of a taper 2; intrathecal baclofen stopped 2; tizanidine up 3; above
  another label maximum 4.
- 49 interactions: tizanidine with ciprofloxacin or fluvoxamine ordered 3 (already in the chart 1),
  with another CYP1A2 inhibitor 4, started on one 2; cyclobenzaprine with an SSRI/SNRI/TCA/tramadol 7,
  an MAOI (active or stopped <= 14 days) 2, an MAOI stopped long ago 1, a cardiac or thyroid
  contraindication 4, an old MI 2, used for months 6; a benzodiazepine or opioid started on a relaxant
  with the other 3; two CNS depressants 10; 65 and over with three CNS-active drugs 4.
- 24 kidney, children, electrolytes: baclofen with CKD 5, tizanidine with CKD 2, children on a
  relaxant 5, low potassium 4 or magnesium 3 on a relaxant, no recent result with a diuretic or PPI 3,
  cramps in cirrhosis 2.
- 3 data quality: a relaxant draft with a free-text dose 2, a code naming another drug than its text 1.

Ages come out about 6 % children, 31 % 18-44, 32 % 45-64, 31 % 65 and over (the routine patients are
drawn 12 % 0-17, 26 % 18-44, 30 % 45-64, 22 % 65-79, 10 % 80-95; relaxant users are adults mostly).

Everything is relative to `today` (the service evaluates at the real clock) and drawn from
`random.Random(f"alert-burden:{seed}:{index}")`, so patient *i* is the same whatever the population
size, and a seed gives the same population on every run of the same day.

FHIR shapes: each patient's record comes from one EHR flavour — the CDS Hooks sandbox (codeable
concept, doses in mg or `{tbl}`), Oracle Health/Cerner (SCD coding + text, `timing.code`), or Epic
(60 % of orders as `medicationReference` to a contained Medication or to a Medication bundled in the
search result, `doseQuantity` at the Dosage root half the time). Potassium in mmol/L or mEq/L (LOINC
2823-3, 6298-4, 77142-8); magnesium in mg/dL (19123-9) or mmol/L / mEq/L (2601-3); eGFR (98979-8) and
creatinine (2160-0, mg/dL; the CKD-EPI 2021 equation links the two). Conditions ICD-10-CM, SNOMED CT
or both. Drafts: a start is a new draft; a renewal or dose change a new draft naming the order it
replaces in `priorPrescription`; a stop is the existing order with status `stopped` (same id).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.burden_catalogue import CONDITIONS, DRUGS, RELAXANT, ConditionKind, Drug
from tests.support.fhir import (
    ICD10,
    SNOMED,
    condition,
    medication,
    medication_request,
    observation,
    patient,
)

# --- the clinical state of one patient ----------------------------------------------------------

DRAFT_ACTIONS = ("start", "restart", "renewal", "increase", "decrease", "stop", "same-dose-change")


@dataclass
class Med:
    """One MedicationRequest: an existing order, or (with `action`) one of today's drafts."""

    id: str
    drug: Drug
    dose: float  # per administration, in drug.strength_unit (mg; mcg for intrathecal baclofen; mEq)
    per_day: float  # administrations per day (the maximum for PRN orders)
    start: date
    supply_days: int  # per fill
    refills: int = 0
    status: str = "active"  # active | on-hold | completed | stopped | draft
    prn: bool = False
    action: str | None = None  # drafts only: one of DRAFT_ACTIONS
    prior: str | None = None  # the order a renewal or dose change replaces
    free_text: bool = False  # dosage only as free text (the service cannot read the dose)
    text_override: str | None = None  # a display naming another drug than the code (data quality)
    style: str = "sandbox"  # sandbox | cerner | epic-coded | epic-contained | epic-bundled
    dose_in_units: bool = False  # dose written as tablets/capsules instead of mg
    supply_as_quantity: bool = False  # dispenseRequest.quantity instead of expectedSupplyDuration
    reason: str | None = None  # a condition key sent as reasonCode (an order's indication, a stop's reason)

    @property
    def ingredient(self) -> str:
        return self.drug.ingredient

    @property
    def daily(self) -> float:
        return self.dose * self.per_day

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.supply_days * (1 + self.refills))

    @property
    def is_draft(self) -> bool:
        return self.action is not None

    @property
    def oral(self) -> bool:
        return self.drug.route == "oral"

    def describe(self) -> str:
        unit = self.drug.strength_unit
        what = f"{self.drug.name}: {self.dose:g} {unit} × {self.per_day:g}/day = {self.daily:g} {unit}/day"
        return what + (" PRN" if self.prn else "")


@dataclass
class Lab:
    id: str
    kind: str  # potassium | magnesium | egfr | creatinine
    value: float  # as reported
    unit: str  # as reported
    ucum: str
    loinc: str
    when: datetime
    normalized: float  # K and Mg in mmol/L, eGFR in mL/min/1.73 m², creatinine in mg/dL


@dataclass
class Cond:
    id: str
    kind: ConditionKind
    coding: str = "icd"  # icd | icd+snomed | snomed
    status: str = "active"
    onset: date | None = None


INDICATORS = ("info", "warning", "critical")
INDICATOR_RANK = {name: rank for rank, name in enumerate(INDICATORS)}
NEED_HOOKS = ("order", "patient-view")  # "order": order-select or order-sign


@dataclass(frozen=True, slots=True)
class Need:
    """A situation that needs a card: its concern (topic), the least indicator that serves, and the
    hook where it belongs ("order" for what today's drafts do, "patient-view" for what the record
    already holds). `also` lists other topics whose card serves the same concern equally."""

    topic: str
    min_indicator: str  # warning | critical
    hook: str  # order | patient-view
    why: str
    also: tuple[str, ...] = ()

    @property
    def topics(self) -> tuple[str, ...]:
        return (self.topic, *self.also)


@dataclass
class Scenario:
    pid: str
    situation: str
    group: str
    age: int
    sex: str
    birth_date: date
    today: date
    flavour: str  # sandbox | cerner | epic
    meds: list[Med] = field(default_factory=list)
    conditions: list[Cond] = field(default_factory=list)
    labs: list[Lab] = field(default_factory=list)
    drafts: list[Med] = field(default_factory=list)
    selected: list[str] = field(default_factory=list)  # draft ids the order-select call selects
    needs: list[Need] = field(default_factory=list)
    # topic -> the highest indicator at which a card on it is useful, not noise
    acceptable: dict[str, str] = field(default_factory=dict)
    # Expectations beyond needs (issue 19): topics no card may carry, and "no card suggests a dose"
    # (an antidote, a dose the judgment forbids, a drug stopped for toxicity).
    forbidden_topics: frozenset[str] = frozenset()
    no_dose_suggestion: bool = False
    forbidden_phrases: frozenset[str] = frozenset()  # words no card summary may say ("Taper" a toxic drug)

    @property
    def on_relaxant(self) -> bool:
        """A muscle relaxant in the record (current or ended within 30 days) or in today's drafts."""
        recent = self.today - timedelta(days=30)
        return any(
            RELAXANT in m.drug.classes and (m.is_draft or m.status in ("active", "on-hold") or m.end >= recent)
            for m in self.meds + self.drafts
        )

    def summary(self) -> str:
        """One line a developer can read: age, sex, drugs, drafts, key conditions."""
        current = [m.describe() for m in self.meds if m.status in ("active", "on-hold")]
        drafts = [f"{m.action} {m.describe()}" for m in self.drafts]
        conds = [c.kind.key for c in self.conditions if c.status == "active"]
        return f"{self.age}{self.sex[0]} | on: {'; '.join(current) or '-'} | drafts: {'; '.join(drafts) or '-'} | " + (
            f"conditions: {', '.join(conds) or '-'}"
        )

    # --- FHIR -------------------------------------------------------------------------------------
    def fhir(self) -> dict[str, Any]:
        """The record as FHIR R4 JSON: what a FHIR server holds, and the draftOrders of the day."""
        return render(self)


# --- building one patient --------------------------------------------------------------------------


class PatientBuilder:
    """Mutable helpers the situations and the background use to assemble a Scenario."""

    def __init__(self, rng: random.Random, pid: str, today: date, situation: str, group: str) -> None:
        self.rng = rng
        self.pid = pid
        self.today = today
        self.situation = situation
        self.group = group
        self.age = 40
        self.sex = "female"
        self.flavour = rng.choices(["sandbox", "cerner", "epic"], weights=[20, 35, 45])[0]
        self.meds: list[Med] = []
        self.conds: list[Cond] = []
        self.labs: list[Lab] = []
        self.drafts: list[Med] = []
        self.selected: list[str] = []
        self.locked: set[str] = set()  # background must not touch: "potassium", "magnesium", "renal", classes
        self.forbidden_topics: set[str] = set()
        self.no_dose_suggestion = False
        self.forbidden_phrases: set[str] = set()
        self._n = 0

    # identity ---------------------------------------------------------------------------------------
    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{self.pid}-{prefix}{self._n}"

    def set_age(self, low: int, high: int) -> None:
        self.age = self.rng.randint(low, high)

    def days_ago(self, days: int) -> date:
        return self.today - timedelta(days=days)

    # medications -------------------------------------------------------------------------------------
    def _style(self) -> str:
        if self.flavour == "epic":
            return self.rng.choices(["epic-coded", "epic-contained", "epic-bundled"], weights=[40, 24, 36])[0]
        return self.flavour

    def _med(self, key: str, dose: float | None, per_day: float, start: date, supply: int, **kw: Any) -> Med:
        drug = DRUGS[key]
        med = Med(
            id=kw.pop("id", None) or self._id("mr"),
            drug=drug,
            dose=drug.strength if dose is None else dose,
            per_day=per_day,
            start=start,
            supply_days=supply,
            style=kw.pop("style", None) or self._style(),
            dose_in_units=kw.pop("dose_in_units", None),
            supply_as_quantity=kw.pop("supply_as_quantity", None),
            **kw,
        )
        if med.dose_in_units is None:
            med.dose_in_units = drug.form != "pump" and _whole_units(med) and self.rng.random() < 0.3
        if med.supply_as_quantity is None:
            med.supply_as_quantity = drug.form != "pump" and not med.prn and self.rng.random() < 0.4
        return med

    def has(self, ingredient: str) -> bool:
        return any(m.ingredient == ingredient for m in self.meds + self.drafts)

    def has_class(self, drug_class: str) -> bool:
        return any(drug_class in m.drug.classes for m in self.meds + self.drafts if m.status in ("active", "draft"))

    def chronic(
        self,
        key: str,
        dose: float | None = None,
        per_day: float = 1,
        *,
        since: int | None = None,
        current_start: int | None = None,
        prn: bool = False,
    ) -> Med:
        """An active long-term order (dose unchanged `since` days; the current order started
        `current_start` days ago and still has supply), with an older completed order of the same dose."""
        since = since if since is not None else self.rng.randint(120, 2000)
        current_start = current_start if current_start is not None else self.rng.randint(3, min(80, since))
        supply, refills = (30, 2) if self.rng.random() < 0.6 else (90, 1)
        while current_start >= supply * (1 + refills):  # keep it current
            refills += 1
        med = self._med(key, dose, per_day, self.days_ago(current_start), supply, refills=refills, prn=prn)
        if since > current_start + 30:
            older = self._med(
                key, dose, per_day, self.days_ago(current_start + 90), 30, refills=2, status="completed", prn=prn
            )
            self.meds.append(older)
        self.meds.append(med)
        return med

    def course(
        self,
        key: str,
        dose: float | None,
        per_day: float,
        *,
        started: int,
        supply: int,
        status: str = "active",
        prn: bool = False,
    ) -> Med:
        """A short course: started `started` days ago for `supply` days."""
        med = self._med(key, dose, per_day, self.days_ago(started), supply, status=status, prn=prn)
        self.meds.append(med)
        return med

    def past(
        self, key: str, dose: float | None, per_day: float, *, ended: int, supply: int = 30, status: str = "completed"
    ) -> Med:
        """A finished order whose supply ended `ended` days ago."""
        return self.course(key, dose, per_day, started=ended + supply, supply=supply, status=status)

    def draft(
        self,
        key: str,
        dose: float | None = None,
        per_day: float = 1,
        *,
        supply: int = 30,
        refills: int = 0,
        action: str = "start",
        prior: Med | None = None,
        prn: bool = False,
        select: bool = True,
        **kw: Any,
    ) -> Med:
        med = self._med(
            key,
            dose,
            per_day,
            self.today,
            supply,
            refills=refills,
            status="draft",
            action=action,
            prior=prior.id if prior else None,
            prn=prn,
            id=self._id("draft"),
            **kw,
        )
        self.drafts.append(med)
        if select:
            self.selected.append(med.id)
        return med

    def renew(self, med: Med, *, select: bool = True, supply: int = 30, refills: int = 2) -> Med:
        return self.draft(
            med.drug.key,
            med.dose,
            med.per_day,
            supply=supply,
            refills=refills,
            action="renewal",
            prior=med,
            prn=med.prn,
            select=select,
        )

    def change(self, med: Med, key: str, dose: float, per_day: float, *, supply: int = 30, refills: int = 1) -> Med:
        if math.isclose(dose * per_day, med.daily):
            action = "same-dose-change"
        else:
            action = "increase" if dose * per_day > med.daily else "decrease"
        return self.draft(key, dose, per_day, supply=supply, refills=refills, action=action, prior=med)

    def stop(self, med: Med, *, reason: str | None = None) -> Med:
        stop = Med(
            id=med.id,
            drug=med.drug,
            dose=med.dose,
            per_day=med.per_day,
            start=med.start,
            supply_days=med.supply_days,
            refills=med.refills,
            status="stopped",
            prn=med.prn,
            action="stop",
            style=med.style,
            dose_in_units=med.dose_in_units,
            supply_as_quantity=med.supply_as_quantity,
            reason=reason,
        )
        self.drafts.append(stop)
        self.selected.append(stop.id)
        return stop

    # conditions -------------------------------------------------------------------------------------
    def cond(self, key: str, *, onset: int | None = None, status: str = "active") -> Cond:
        kind = CONDITIONS[key]
        if kind.icd_needed or kind.snomed is None:
            coding = self.rng.choices(["icd", "icd+snomed"], weights=[60, 40])[0] if kind.snomed else "icd"
        else:
            coding = self.rng.choices(["icd", "icd+snomed", "snomed"], weights=[50, 35, 15])[0]
        found = Cond(self._id("cond"), kind, coding, status, self.days_ago(onset) if onset is not None else None)
        self.conds.append(found)
        return found

    def has_cond(self, *groups_or_keys: str) -> bool:
        return any(
            c.status == "active" and (c.kind.key in groups_or_keys or c.kind.groups & set(groups_or_keys))
            for c in self.conds
        )

    # labs ----------------------------------------------------------------------------------------------
    def _when(self, days: float) -> datetime:
        at = datetime.combine(self.today, datetime.min.time(), tzinfo=UTC) - timedelta(days=days)
        return at + timedelta(hours=self.rng.randint(6, 17), minutes=self.rng.choice([0, 12, 25, 41, 53]))

    def potassium(self, mmol: float, days: float) -> Lab:
        loinc = self.rng.choices(["2823-3", "6298-4", "77142-8"], weights=[85, 10, 5])[0]
        unit, ucum = ("mmol/L", "mmol/L") if self.rng.random() < 0.6 else ("mEq/L", "meq/L")
        lab = Lab(self._id("obs"), "potassium", round(mmol, 1), unit, ucum, loinc, self._when(days), round(mmol, 1))
        self.labs.append(lab)
        return lab

    def magnesium(self, mmol: float, days: float) -> Lab:
        """`mmol` is the value in mmol/L; the lab reports it in mg/dL, mmol/L or mEq/L, rounded as labs do."""
        style = self.rng.choices(["mg/dL", "mmol/L", "mEq/L"], weights=[60, 28, 12])[0]
        if style == "mg/dL":
            value = round(mmol / MG_MMOL_PER_MG_DL, 1)
            # 1.2 and 1.7 mg/dL sit on the 0.5 and 0.7 mmol/L edges: keep the band the value was drawn in
            while _mg_band(value * MG_MMOL_PER_MG_DL) != _mg_band(mmol):
                value = round(value + (0.1 if _mg_band(value * MG_MMOL_PER_MG_DL) < _mg_band(mmol) else -0.1), 1)
            lab = Lab(
                self._id("obs"),
                "magnesium",
                value,
                "mg/dL",
                "mg/dL",
                "19123-9",
                self._when(days),
                value * MG_MMOL_PER_MG_DL,
            )
        elif style == "mmol/L":
            value = round(mmol, 2)
            lab = Lab(self._id("obs"), "magnesium", value, "mmol/L", "mmol/L", "2601-3", self._when(days), value)
        else:
            value = round(mmol * 2, 1)
            lab = Lab(self._id("obs"), "magnesium", value, "mEq/L", "meq/L", "2601-3", self._when(days), value / 2)
        self.labs.append(lab)
        return lab

    def renal(self, egfr: float, days: float) -> None:
        """A renal panel: eGFR and creatinine (60 %), eGFR alone (25 %) or creatinine alone (15 %)."""
        if self.age < 18:
            return
        kind = self.rng.choices(["both", "egfr", "creatinine"], weights=[60, 25, 15])[0]
        when = self._when(days)
        creatinine = round(creatinine_for_egfr(egfr, self.age, self.sex), 2)
        if kind in ("both", "creatinine"):
            self.labs.append(
                Lab(self._id("obs"), "creatinine", creatinine, "mg/dL", "mg/dL", "2160-0", when, creatinine)
            )
        if kind == "creatinine":
            egfr = ckd_epi_2021(creatinine, self.age, self.sex)
        if kind in ("both", "egfr"):
            value = round(egfr) if egfr < 90 else 90.0  # labs report "> 90" as 90 or more; keep it numeric
            self.labs.append(
                Lab(self._id("obs"), "egfr", value, "mL/min/{1.73_m2}", "mL/min/{1.73_m2}", "98979-8", when, value)
            )

    def build(self) -> Scenario:
        anniversary = date(self.today.year - self.age, self.today.month, min(self.today.day, 28))
        birth = anniversary - timedelta(days=self.rng.randint(4, 360))
        return Scenario(
            pid=self.pid,
            situation=self.situation,
            group=self.group,
            age=self.age,
            sex=self.sex,
            birth_date=birth,
            today=self.today,
            flavour=self.flavour,
            meds=self.meds,
            conditions=self.conds,
            labs=self.labs,
            drafts=self.drafts,
            selected=self.selected[:1] if self.selected else [d.id for d in self.drafts[:1]],
            forbidden_topics=frozenset(self.forbidden_topics),
            no_dose_suggestion=self.no_dose_suggestion,
            forbidden_phrases=frozenset(self.forbidden_phrases),
        )


def _mg_band(mmol: float) -> int:
    """0 below 0.5 mmol/L, 1 below 0.6, 2 below 0.7, 3 otherwise (magnesium)."""
    return sum(mmol >= edge for edge in (0.5, 0.6, 0.7))


def _whole_units(med: Med) -> bool:
    units = med.dose / med.drug.strength if med.drug.strength else 0
    return units > 0 and abs(units - round(units)) < 1e-9 and round(units) <= 3


# --- kidney function: CKD-EPI 2021 (race-free) -------------------------------------------------------

MG_MMOL_PER_MG_DL = 0.4114  # magnesium: mg/dL × 0.4114 = mmol/L


def ckd_epi_2021(creatinine_mg_dl: float, age: int, sex: str) -> float:
    female = sex == "female"
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    ratio = creatinine_mg_dl / kappa
    egfr = 142 * min(ratio, 1) ** alpha * max(ratio, 1) ** -1.200 * 0.9938**age
    return egfr * (1.012 if female else 1.0)


def creatinine_for_egfr(egfr: float, age: int, sex: str) -> float:
    female = sex == "female"
    kappa, alpha = (0.7, -0.241) if female else (0.9, -0.302)
    base = 142 * 0.9938**age * (1.012 if female else 1.0)
    ratio = (egfr / base) ** (1 / -1.200)  # the branch above kappa
    if ratio < 1:
        ratio = (egfr / base) ** (1 / alpha)
    return ratio * kappa


# --- the background: what a patient of this age usually also has -------------------------------------

# (condition or None, drug choices, probability by age band: child <18, 18-44, 45-64, 65-79, 80+)
_BANDS = (18, 45, 65, 80)


def _band(age: int) -> int:
    return sum(age >= edge for edge in _BANDS)


_BACKGROUND: tuple[tuple[str | None, tuple[str, ...], tuple[float, float, float, float, float]], ...] = (
    ("hypertension", ("amlodipine-5", "lisinopril-10", "losartan-50", "metoprolol-er-50"), (0, 0.08, 0.35, 0.6, 0.7)),
    ("hyperlipidemia", ("atorvastatin-20", "atorvastatin-40", "rosuvastatin-10"), (0, 0.05, 0.35, 0.55, 0.5)),
    ("t2dm", ("metformin-500",), (0.005, 0.04, 0.15, 0.22, 0.2)),
    ("hypothyroidism", ("levothyroxine-50",), (0.005, 0.04, 0.08, 0.12, 0.14)),
    ("gerd", ("omeprazole-20", "pantoprazole-40", "esomeprazole-40", "famotidine-20"), (0.01, 0.06, 0.14, 0.2, 0.22)),
    (
        "depression",
        (
            "sertraline-50",
            "escitalopram-10",
            "fluoxetine-20",
            "citalopram-20",
            "paroxetine-20",
            "duloxetine-60",
            "venlafaxine-er-75",
            "bupropion-xl-150",
        ),
        (0.02, 0.12, 0.12, 0.1, 0.08),
    ),
    ("anxiety", ("alprazolam-0.5", "lorazepam-0.5", "clonazepam-0.5", "sertraline-50"), (0, 0.05, 0.05, 0.04, 0.03)),
    ("insomnia", ("zolpidem-10", "zolpidem-5", "trazodone-50"), (0, 0.03, 0.05, 0.06, 0.06)),
    (
        "chronic-pain",
        ("hydrocodone-apap", "oxycodone-apap", "tramadol-50", "gabapentin-300", "morphine-er-15"),
        (0, 0.03, 0.07, 0.08, 0.07),
    ),
    ("atrial-fibrillation", ("apixaban-5", "warfarin-5"), (0, 0.002, 0.02, 0.08, 0.12)),
    ("heart-failure", ("furosemide-20", "furosemide-40", "torsemide-20"), (0, 0.001, 0.015, 0.05, 0.09)),
    ("old-mi", ("aspirin-81", "clopidogrel-75"), (0, 0.001, 0.02, 0.05, 0.06)),
    ("asthma", ("montelukast-10",), (0.07, 0.05, 0.04, 0.03, 0.02)),
    ("copd", (), (0, 0, 0.03, 0.07, 0.08)),
    ("epilepsy", ("levetiracetam-500", "lamotrigine-100"), (0.008, 0.008, 0.008, 0.008, 0.008)),
    ("migraine", ("sumatriptan-50",), (0.01, 0.05, 0.04, 0.01, 0)),
    ("osteoarthritis-knee", ("acetaminophen-500", "naproxen-500", "ibuprofen-600"), (0, 0.01, 0.08, 0.15, 0.15)),
    ("alcohol-use-disorder", (), (0, 0.02, 0.03, 0.02, 0.01)),
    ("fatty-liver", (), (0, 0.02, 0.04, 0.03, 0.02)),
    ("hepatitis-c", (), (0, 0.004, 0.008, 0.005, 0.003)),
    ("hyperthyroidism", ("methimazole-10",), (0, 0.004, 0.005, 0.005, 0.004)),
    ("dementia", ("donepezil-10",), (0, 0, 0, 0.04, 0.15)),
    ("parkinsons", ("rasagiline-1", "selegiline-5"), (0, 0, 0.003, 0.01, 0.015)),
    (None, ("aspirin-81",), (0, 0.01, 0.1, 0.2, 0.2)),
    (None, ("hctz-25", "chlorthalidone-25"), (0, 0.03, 0.1, 0.14, 0.12)),
    (None, ("cetirizine-10",), (0.08, 0.05, 0.03, 0.02, 0.02)),
    (None, ("ferrous-sulfate-325",), (0.01, 0.03, 0.03, 0.04, 0.05)),
)

# Daily regimen (dose per administration or None for one unit, administrations per day) per drug.
_REGIMEN: dict[str, tuple[float | None, float]] = {
    "metformin-500": (1000, 2),
    "lisinopril-10": (None, 1),
    "gabapentin-300": (300, 3),
    "hydrocodone-apap": (5, 3),
    "oxycodone-apap": (5, 3),
    "oxycodone-5": (5, 3),
    "tramadol-50": (50, 3),
    "morphine-er-15": (15, 2),
    "furosemide-20": (20, 1),
    "furosemide-40": (40, 1),
    "apixaban-5": (5, 2),
    "levetiracetam-500": (500, 2),
    "lamotrigine-100": (100, 2),
    "acetaminophen-500": (1000, 3),
    "naproxen-500": (500, 2),
    "ibuprofen-600": (600, 3),
    "famotidine-20": (20, 2),
    "alprazolam-0.5": (0.5, 2),
    "lorazepam-0.5": (0.5, 2),
    "clonazepam-0.5": (0.5, 2),
    "quetiapine-25": (25, 1),
    "methimazole-10": (10, 1),
    "verapamil-80": (80, 3),
    "amiodarone-200": (200, 1),
    "ciprofloxacin-500": (500, 2),
    "acyclovir-400": (400, 3),
    "cimetidine-400": (400, 2),
    "mexiletine-150": (150, 3),
    "amoxicillin-500": (500, 3),
    "cephalexin-500": (500, 4),
    "nitrofurantoin-100": (100, 2),
    "azithromycin-250": (250, 1),
    "prednisone-20": (40, 1),
    "ondansetron-4": (4, 3),
    "kcl-20": (20, 2),
    "mg-oxide-400": (400, 1),
    "propranolol-20": (20, 2),
    "rifaximin-550": (550, 2),
    "spironolactone-25": (50, 1),
}


def regimen(key: str) -> tuple[float | None, float]:
    return _REGIMEN.get(key, (None, 1))


def background(b: PatientBuilder) -> None:
    """Comorbidities, their drugs and labs, by age and sex; CKD in ~10 % of patients 65 and over."""
    rng, band = b.rng, _band(b.age)
    for cond, drugs, probs in _BACKGROUND:
        p = probs[band]
        if cond in ("hypothyroidism", "migraine") and b.sex == "female":
            p *= 1.6
        if cond == "depression" and b.age < 12:
            p = 0
        if rng.random() >= p:
            continue
        if cond is not None and not b.has_cond(cond):
            b.cond(cond, onset=rng.randint(200, 4000))
        if drugs:
            key = rng.choice(drugs)
            if DRUGS[key].classes & b.locked or b.has(DRUGS[key].ingredient):
                continue
            dose, per_day = regimen(key)
            b.chronic(key, dose, per_day)
    # women of child-bearing age: oral contraceptives
    if b.sex == "female" and 16 <= b.age <= 45 and rng.random() < 0.15 and "cyp1a2-other" not in b.locked:
        b.chronic("oral-contraceptive")
    if b.sex == "male" and b.age >= 55 and rng.random() < 0.15 + 0.1 * (b.age >= 70):
        b.cond("bph", onset=rng.randint(300, 3000))
        b.chronic("tamsulosin-0.4")
    if b.age < 12 and rng.random() < 0.06:
        b.cond("otitis-media", onset=rng.randint(2, 10))
        b.course("amoxicillin-500", 500, 2, started=rng.randint(1, 5), supply=10)
    if 6 <= b.age < 18 and rng.random() < 0.06:
        b.cond("adhd", onset=rng.randint(300, 2000))
        b.chronic("methylphenidate-10", 10, 2)
    # heart failure: carvedilol and spironolactone beside the loop diuretic
    if b.has_cond("heart-failure") and rng.random() < 0.6 and not b.has("carvedilol"):
        b.chronic("carvedilol-12.5", 12.5, 2)
    # CKD: ~10 % of patients 65 and over, ~3 % at 45-64
    if "renal" not in b.locked and rng.random() < (0.10 if b.age >= 65 else 0.03 if b.age >= 45 else 0):
        add_ckd(b, rng.choices(["3a", "3b", "4", "5"], weights=[55, 25, 13, 7])[0])
    # cirrhosis (rare): the usual drugs
    if "cirrhosis" not in b.locked and b.age >= 30 and rng.random() < (0.004 if b.age < 45 else 0.011):
        add_cirrhosis(b)
    background_labs(b)


def add_ckd(b: PatientBuilder, stage: str, *, egfr: float | None = None, coded: bool = True) -> float:
    """A CKD stage with a matching eGFR (away from the band edges), coded 80 % of the time."""
    rng = b.rng
    ranges = {"3a": (46, 57), "3b": (32, 43), "4": (16, 28), "5": (6, 13)}
    value = egfr if egfr is not None else float(rng.randint(*ranges[stage]))
    if coded or stage == "5":
        key = {"3a": "ckd-3a", "3b": "ckd-3b", "4": "ckd-4", "5": "esrd"}[stage]
        if not b.has_cond(key):
            b.cond(key, onset=rng.randint(200, 3000))
        if stage == "5" and not b.has_cond("dialysis"):
            b.cond("dialysis", onset=rng.randint(60, 1500))
    b.locked.add("renal")
    b.renal(value, rng.choice([rng.randint(3, 25), rng.randint(40, 400)]))
    return value


def add_cirrhosis(b: PatientBuilder, *, drugs: bool = True) -> None:
    rng = b.rng
    if not b.has_cond("cirrhosis"):
        b.cond(rng.choice(["cirrhosis", "cirrhosis-alcoholic"]), onset=rng.randint(200, 3000))
    b.locked.add("cirrhosis")
    if drugs:
        if not b.has("spironolactone"):
            b.chronic("spironolactone-25", 50, 1)
        if rng.random() < 0.6 and not b.has_class("loop-diuretic"):
            b.chronic("furosemide-20", 20, 1)
        if rng.random() < 0.5:
            b.chronic("propranolol-20", 20, 2)
        if rng.random() < 0.3:
            b.chronic("rifaximin-550", 550, 2)


def _lab_age(rng: random.Random, recent_share: float) -> int:
    return rng.randint(0, 25) if rng.random() < recent_share else rng.randint(60, 700)


def background_labs(b: PatientBuilder) -> None:
    """K, Mg and renal results as a clinic has them: many old, some recent, mostly normal."""
    rng = b.rng
    diuretic = b.has_class("loop-diuretic") or b.has_class("thiazide-diuretic")
    ppi = b.has_class("ppi")
    liver_or_alcohol = b.has_cond("cirrhosis", "alcohol-use-disorder")
    recent_share = 0.45 if b.age >= 65 else 0.35
    if "potassium" not in b.locked and rng.random() < (0.15 if b.age < 18 else 0.8 if b.age >= 65 else 0.6):
        low_p = 0.15 if diuretic else 0.05
        roll = rng.random()
        if roll < low_p:
            mmol = rng.choices(
                [rng.uniform(3.0, 3.4), rng.uniform(2.5, 2.9), rng.uniform(1.9, 2.4)], weights=[70, 25, 5]
            )[0]
        elif roll < low_p + (0.08 if b.has_cond("ckd", "dialysis") else 0.02):
            mmol = rng.uniform(5.1, 5.9)
        else:
            mmol = rng.uniform(3.5, 5.0)
        latest = _lab_age(rng, recent_share)
        for extra in range(rng.randint(0, 2)):
            b.potassium(rng.uniform(3.6, 4.8), latest + 90 * (extra + 1) + rng.randint(0, 60))
        b.potassium(mmol, latest)
    if (
        "magnesium" not in b.locked
        and b.age >= 12
        and rng.random() < (0.5 if (ppi or diuretic or liver_or_alcohol) else 0.2)
    ):
        roll = rng.random()
        low_p = 0.2 if (ppi or liver_or_alcohol) else 0.08
        if roll < low_p:
            mmol = rng.choices(
                [rng.uniform(0.61, 0.68), rng.uniform(0.51, 0.58), rng.uniform(0.36, 0.47)], weights=[60, 30, 10]
            )[0]
        else:
            mmol = rng.uniform(0.74, 1.0)
        b.magnesium(mmol, _lab_age(rng, recent_share))
    if "renal" not in b.locked and b.age >= 18 and rng.random() < (0.8 if b.age >= 65 else 0.55):
        typical = 105 - 0.6 * max(0, b.age - 30)
        b.renal(max(62.0, min(120.0, rng.gauss(typical, 10))), _lab_age(rng, recent_share))


_ACUTE_DRAFTS: tuple[tuple[str, float, float, int, tuple[int, int]], ...] = (
    # drug, dose, per day, supply days, age range
    ("amoxicillin-500", 500, 3, 10, (1, 90)),
    ("cephalexin-500", 500, 4, 7, (1, 90)),
    ("nitrofurantoin-100", 100, 2, 5, (16, 90)),
    ("azithromycin-250", 250, 1, 5, (5, 90)),
    ("prednisone-20", 40, 1, 5, (5, 90)),
    ("ibuprofen-600", 600, 3, 10, (12, 75)),
    ("naproxen-500", 500, 2, 10, (16, 75)),
    ("ondansetron-4", 4, 3, 5, (4, 90)),
    ("ciprofloxacin-500", 500, 2, 7, (18, 90)),
    ("levofloxacin-500", 500, 1, 7, (18, 90)),
    ("cetirizine-10", 10, 1, 30, (2, 90)),
    ("hydroxyzine-25", 25, 3, 10, (18, 64)),
)


def unrelated_draft(b: PatientBuilder, *, select: bool = True) -> Med | None:
    """Today's ordinary order: a renewal of a long-term drug, or a short acute course."""
    rng = b.rng
    chronic = [m for m in b.meds if m.status == "active" and RELAXANT not in m.drug.classes and m.supply_days >= 30]
    if chronic and rng.random() < 0.55:
        return b.renew(rng.choice(chronic), select=select)
    options = [d for d in _ACUTE_DRAFTS if d[4][0] <= b.age <= d[4][1] and not b.has(DRUGS[d[0]].ingredient)]
    if not options:
        return None
    key, dose, per_day, supply, _ = rng.choice(options)
    return b.draft(key, dose, per_day, supply=supply, select=select)


# --- situations -------------------------------------------------------------------------------------

Situation = Callable[[PatientBuilder], None]


def sample_age(rng: random.Random) -> int:
    """A day's patients: 12 % children, 26 % 18-44, 30 % 45-64, 22 % 65-79, 10 % 80-95."""
    low, high = rng.choices([(0, 17), (18, 44), (45, 64), (65, 79), (80, 95)], weights=[12, 26, 30, 22, 10])[0]
    return rng.randint(low, high)


def _age(b: PatientBuilder, low: int, high: int, *, elderly_share: float | None = None) -> None:
    if elderly_share is not None and high >= 65 > low:
        b.age = b.rng.randint(65, high) if b.rng.random() < elderly_share else b.rng.randint(low, 64)
    else:
        b.set_age(low, high)


SPASTICITY_ADULT = ("ms", "ms", "stroke-hemiplegia", "stroke-hemiplegia", "paraplegia", "sci-cervical", "tbi", "cp")
MSK = ("low-back-pain", "low-back-pain", "back-spasm", "lumbar-strain", "neck-strain", "cervicalgia")
BACLOFEN_DAILY = {  # daily mg -> (tablet key, mg per dose, doses per day)
    10: ("baclofen-5", 5, 2),
    15: ("baclofen-5", 5, 3),
    20: ("baclofen-10", 10, 2),
    30: ("baclofen-10", 10, 3),
    40: ("baclofen-10", 10, 4),
    45: ("baclofen-5", 15, 3),
    50: ("baclofen-10", 25, 2),
    60: ("baclofen-20", 20, 3),
    75: ("baclofen-5", 25, 3),
    80: ("baclofen-20", 20, 4),
    90: ("baclofen-10", 30, 3),
    100: ("baclofen-20", 25, 4),
}


def spasticity(b: PatientBuilder, *, child: bool = False) -> None:
    key = b.rng.choice(("cp", "cp-spastic-quad")) if child else b.rng.choice(SPASTICITY_ADULT)
    if key == "cp" and not child and b.age > 60:
        key = "ms"
    b.cond(key, onset=b.rng.randint(400, 9000) if not child else b.rng.randint(200, 365 * max(1, b.age)))


def msk(b: PatientBuilder, onset: int | None = None) -> None:
    b.cond(b.rng.choice(MSK), onset=onset if onset is not None else b.rng.randint(1, 12))


def baclofen(b: PatientBuilder, daily: int, **kw: Any) -> Med:
    key, dose, per_day = BACLOFEN_DAILY[daily]
    return b.chronic(key, dose, per_day, **kw)


def baclofen_draft(b: PatientBuilder, daily: int, **kw: Any) -> Med:
    key, dose, per_day = BACLOFEN_DAILY[daily]
    return b.draft(key, dose, per_day, **kw)


def tizanidine(b: PatientBuilder, daily: int | None = None, **kw: Any) -> Med:
    choices = {
        6: ("tizanidine-2", 2, 3),
        12: ("tizanidine-4", 4, 3),
        8: ("tizanidine-4", 4, 2),
        18: ("tizanidine-6c", 6, 3),
        24: ("tizanidine-4", 8, 3),
        4: ("tizanidine-4", 4, 1),
    }
    daily = daily or b.rng.choice([4, 6, 8, 12, 12, 18, 24])
    key, dose, per_day = choices[daily]
    return b.chronic(key, dose, per_day, **kw)


def cyclo_course(b: PatientBuilder, *, draft: bool, supply: int | None = None, refills: int = 0) -> Med:
    key, dose, per_day = b.rng.choice(
        [
            ("cyclobenzaprine-5", 5, 3),
            ("cyclobenzaprine-10", 10, 3),
            ("cyclobenzaprine-10", 10, 1),
            ("cyclobenzaprine-7.5", 7.5, 3),
        ]
    )
    prn = b.rng.random() < 0.3
    supply = supply or b.rng.choice([7, 10, 10, 14])
    if draft:
        return b.draft(key, dose, per_day, supply=supply, refills=refills, prn=prn)
    started = b.rng.randint(1, min(12, supply - 1))
    return b.course(key, dose, per_day, started=started, supply=supply, prn=prn)


SMR_REGIMENS = (  # key, mg per dose, doses per day, supply days (label: short courses)
    ("methocarbamol-750", 750, 4, 10),
    ("methocarbamol-500", 1000, 3, 10),
    ("metaxalone-800", 800, 3, 10),
    ("carisoprodol-350", 350, 3, 7),
    ("chlorzoxazone-500", 500, 3, 10),
    ("orphenadrine-er-100", 100, 2, 14),
)


def smr_course(b: PatientBuilder, *, draft: bool) -> Med:
    key, dose, per_day, supply = b.rng.choice(SMR_REGIMENS)
    if draft:
        return b.draft(key, dose, per_day, supply=supply)
    return b.course(key, dose, per_day, started=b.rng.randint(1, supply - 2), supply=supply)


# -- no muscle relaxant ---------------------------------------------------------------------------


def none_routine(b: PatientBuilder) -> None:
    b.age = sample_age(b.rng)
    background(b)
    if b.rng.random() < 0.3:
        unrelated_draft(b)


def none_abnormal_labs(b: PatientBuilder) -> None:
    rng = b.rng
    b.set_age(30, 92)
    b.locked |= {"potassium", "magnesium"}
    background(b)
    if not (b.has_class("loop-diuretic") or b.has_class("thiazide-diuretic") or b.has_class("ppi")):
        b.chronic(rng.choice(["furosemide-20", "hctz-25", "omeprazole-20"]))
    band = rng.choice([(1.9, 2.4), (2.5, 2.9), (3.0, 3.4)])
    days = rng.randint(0, 20) if rng.random() < 0.7 else rng.randint(60, 500)
    if rng.random() < 0.6:
        b.potassium(rng.uniform(*band), days)
        if rng.random() < 0.3:
            b.cond("hypokalemia", onset=days)
    else:
        b.magnesium(rng.choice([rng.uniform(0.36, 0.47), rng.uniform(0.51, 0.58), rng.uniform(0.61, 0.68)]), days)
        if rng.random() < 0.3:
            b.cond("hypomagnesemia", onset=days)
    if rng.random() < 0.4:
        key = rng.choice(["kcl-20", "mg-oxide-400"])
        dose, per_day = regimen(key)
        b.draft(key, dose, per_day, supply=30)


def none_serotonergic_pair(b: PatientBuilder) -> None:
    rng = b.rng
    b.set_age(20, 85)
    b.locked.add("maoi")
    pairs = [
        ("sertraline-100", "ondansetron-4"),
        ("sertraline-50", "verapamil-80"),
        ("duloxetine-60", "tramadol-50"),
        ("escitalopram-10", "sumatriptan-50"),
        ("fluoxetine-20", "trazodone-50"),
    ]
    current, added = rng.choice(pairs)
    b.cond("depression", onset=rng.randint(200, 3000))
    b.chronic(current)
    dose, per_day = regimen(added)
    if rng.random() < 0.7:
        b.draft(added, dose, per_day, supply=rng.choice([5, 10, 30]))
    else:
        b.chronic(added, dose, per_day)
    background(b)


def none_sedatives(b: PatientBuilder) -> None:
    rng = b.rng
    b.age = sample_age(rng) if rng.random() < 0.5 else rng.randint(25, 85)
    b.age = max(b.age, 20)
    b.cond("chronic-pain", onset=rng.randint(200, 3000))
    opioid = b.chronic(rng.choice(["hydrocodone-apap", "oxycodone-apap", "tramadol-50"]), 5, 3)
    if opioid.ingredient == "tramadol":
        opioid.dose = 50
    other = rng.choice(["alprazolam-0.5", "clonazepam-0.5", "gabapentin-300", "zolpidem-10"])
    dose, per_day = regimen(other)
    if b.age < 65 and rng.random() < 0.4:
        b.draft(other, dose, per_day, supply=30)  # a new start, under 65: nothing for this service
    else:
        held = b.chronic(other, dose, per_day)
        if rng.random() < 0.4:
            b.renew(held)
    background(b)


def none_cyp1a2(b: PatientBuilder) -> None:
    rng = b.rng
    b.set_age(18, 85)
    background(b)
    key = rng.choice(["ciprofloxacin-500", "ciprofloxacin-500", "fluvoxamine-50", "famotidine-20", "acyclovir-400"])
    dose, per_day = regimen(key)
    if key == "fluvoxamine-50":
        dose, per_day = 50, 1
    b.draft(key, dose, per_day, supply=7 if key in ("ciprofloxacin-500", "acyclovir-400") else 30)


def none_cramps(b: PatientBuilder) -> None:
    rng = b.rng
    b.set_age(45, 92)
    b.cond("cramps", onset=rng.randint(10, 800))
    b.locked |= {"potassium", "magnesium"}
    background(b)
    roll = rng.random()
    if roll < 0.4:
        b.potassium(rng.uniform(3.6, 4.8), rng.randint(0, 20))
        b.magnesium(rng.uniform(0.75, 0.95), rng.randint(0, 20))
    elif roll < 0.7:
        if rng.random() < 0.6:
            b.potassium(
                rng.choice([rng.uniform(2.0, 2.4), rng.uniform(2.5, 2.9), rng.uniform(3.0, 3.4)]), rng.randint(0, 20)
            )
        else:
            b.magnesium(
                rng.choice([rng.uniform(0.38, 0.47), rng.uniform(0.51, 0.58), rng.uniform(0.61, 0.68)]),
                rng.randint(0, 20),
            )
    elif rng.random() < 0.5 and not b.has_class("loop-diuretic"):
        b.chronic("furosemide-20", 20, 1)


def none_elderly_benzo_start(b: PatientBuilder) -> None:
    rng = b.rng
    b.set_age(65, 93)
    b.locked.add("benzodiazepine")
    background(b)
    b.cond(rng.choice(["anxiety", "insomnia"]), onset=rng.randint(5, 400))
    key = rng.choice(["lorazepam-0.5", "alprazolam-0.5", "diazepam-5", "clonazepam-0.5"])
    b.draft(key, None, rng.choice([1, 2]), supply=rng.choice([14, 30]))


def none_spasm_without_relaxant(b: PatientBuilder) -> None:
    rng = b.rng
    b.set_age(18, 75)
    msk(b)
    background(b)
    key = rng.choice(["naproxen-500", "ibuprofen-600", "acetaminophen-500"])
    dose, per_day = regimen(key)
    if rng.random() < 0.5 and not b.has(DRUGS[key].ingredient):
        b.draft(key, dose, per_day, supply=10)


# -- stable regimens --------------------------------------------------------------------------------


def baclofen_stable(b: PatientBuilder, *, renew: bool = False) -> None:
    rng = b.rng
    _age(b, 20, 88, elderly_share=0.3)
    spasticity(b)
    daily = rng.choice([15, 30, 30, 40, 45, 60, 60, 75, 80])
    med = baclofen(b, daily, current_start=rng.randint(80, 88) if renew else None)
    background(b)
    if renew:
        b.renew(med)


def tizanidine_stable(b: PatientBuilder, *, renew: bool = False) -> None:
    rng = b.rng
    _age(b, 20, 85, elderly_share=0.25)
    spasticity(b)
    med = tizanidine(b, current_start=rng.randint(80, 88) if renew else None)
    background(b)
    if renew:
        b.renew(med)


def cyclobenzaprine_current_short(b: PatientBuilder) -> None:
    _age(b, 18, 64)
    msk(b, onset=b.rng.randint(3, 14))
    cyclo_course(b, draft=False)
    background(b)


def smr_current_short(b: PatientBuilder) -> None:
    _age(b, 18, 64)
    msk(b, onset=b.rng.randint(3, 14))
    smr_course(b, draft=False)
    background(b)


def itb_stable(b: PatientBuilder, *, stop: bool = False) -> None:
    rng = b.rng
    _age(b, 15, 75)
    spasticity(b)
    pump = b.chronic("baclofen-itb", float(rng.choice([100, 150, 200, 300, 450, 600])), 1)
    pump.supply_days, pump.refills = 90, 3
    if rng.random() < 0.3:
        baclofen(b, rng.choice([15, 30]))
    background(b)
    if stop:
        b.stop(pump)


def dantrolene_stable(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 18, 75)
    spasticity(b)
    key, dose, per_day = rng.choice([("dantrolene-25", 25, 3), ("dantrolene-50", 50, 3), ("dantrolene-100", 100, 3)])
    b.chronic(key, dose, per_day)
    background(b)


def baclofen_cirrhosis_cramps_stable(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 40, 78)
    b.cond("cramps", onset=rng.randint(60, 800))
    add_cirrhosis(b)
    baclofen(b, rng.choice([10, 20, 30]))
    background(b)


def elderly_smr_renewal(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 65, 90)
    b.cond(rng.choice(["low-back-pain", "osteoarthritis-knee"]), onset=rng.randint(400, 3000))
    key, dose, per_day = rng.choice(
        [("methocarbamol-500", 500, 3), ("methocarbamol-750", 750, 3), ("metaxalone-800", 800, 2)]
    )
    med = b.chronic(key, dose, per_day, since=rng.randint(365, 1500), current_start=rng.randint(80, 88))
    background(b)
    b.renew(med)


# -- starts -----------------------------------------------------------------------------------------


def baclofen_start(b: PatientBuilder, *, daily: int = 15) -> None:
    _age(b, 18, 82, elderly_share=0.25)
    spasticity(b)
    background(b)
    baclofen_draft(b, daily, supply=30)


def baclofen_start_cirrhosis_cramps(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 40, 78)
    b.cond("cramps", onset=rng.randint(14, 400))
    add_cirrhosis(b)
    background(b)
    baclofen_draft(b, 10, supply=30)


def tizanidine_start(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 18, 80, elderly_share=0.2)
    spasticity(b)
    background(b)
    dose, per_day = rng.choice([(2, 3), (2, 1), (2, 2)])
    b.draft("tizanidine-2", dose, per_day, supply=30)


def cyclobenzaprine_start(b: PatientBuilder, *, long: bool = False) -> None:
    rng = b.rng
    _age(b, 18, 64)
    msk(b)
    background(b)
    if long:
        supply, refills = rng.choice([(30, 0), (30, 1), (30, 2), (28, 0)])
        cyclo_course(b, draft=True, supply=supply, refills=refills)
    else:
        cyclo_course(b, draft=True)


def smr_start(b: PatientBuilder) -> None:
    _age(b, 18, 64)
    msk(b)
    background(b)
    smr_course(b, draft=True)


def elderly_smr_start(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 65, 92)
    msk(b)
    background(b)
    if rng.random() < 0.4:
        b.draft("cyclobenzaprine-5", 5, rng.choice([1, 2, 3]), supply=rng.choice([7, 10]))
    else:
        smr_course(b, draft=True)


def dantrolene_start(b: PatientBuilder, *, liver: bool = False) -> None:
    rng = b.rng
    _age(b, 18, 75)
    spasticity(b)
    if liver:
        choice = rng.choice(["cirrhosis", "alcoholic-hepatitis", "hepatitis-c"])
        if choice == "cirrhosis":
            add_cirrhosis(b, drugs=rng.random() < 0.5)
        else:
            b.cond(choice, onset=rng.randint(30, 2000))
    else:
        b.locked.add("cirrhosis")
    background(b)
    if liver and rng.random() < 0.4:
        b.chronic("dantrolene-25", 25, 3)
    else:
        b.draft("dantrolene-25", 25, 1, supply=30)


# -- dose changes and stops -----------------------------------------------------------------------------


def baclofen_change(b: PatientBuilder, kind: str) -> None:
    rng = b.rng
    _age(b, 20, 85, elderly_share=0.25)
    spasticity(b)
    if kind == "increase-label":
        before = rng.choice([15, 30, 45, 60])
        after = before + 15
        current = baclofen(b, before, current_start=rng.randint(4, 30))
    elif kind == "increase-fast":
        before, after, started = rng.choice([(15, 30, 1), (30, 45, 2), (20, 60, 20), (30, 75, 10)])
        current = baclofen(b, before, current_start=started, since=started)  # the dose changed `started` days ago
    elif kind == "over-max":
        before = rng.choice([60, 75, 80])
        after = rng.choice([90, 100])
        current = baclofen(b, before, current_start=rng.randint(10, 60))
    elif kind == "taper-step":
        before, after = rng.choice([(40, 30), (30, 20), (20, 10), (60, 50)])
        current = baclofen(b, before, current_start=rng.randint(10, 60))
    elif kind == "abrupt-cut":
        before, after = rng.choice([(60, 30), (80, 40), (60, 20), (75, 30), (80, 30)])
        current = baclofen(b, before, current_start=rng.randint(10, 90))
    else:
        raise ValueError(kind)
    background(b)
    key, dose, per_day = BACLOFEN_DAILY[after]
    b.change(current, key, dose, per_day)


def baclofen_stop(b: PatientBuilder, *, end_of_taper: bool = False) -> None:
    rng = b.rng
    _age(b, 20, 85, elderly_share=0.25)
    spasticity(b)
    daily = rng.choice([10]) if end_of_taper else rng.choice([30, 40, 60, 80])
    current = baclofen(b, daily, current_start=rng.randint(7, 60))
    background(b)
    b.stop(current)


def tizanidine_increase(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 20, 80, elderly_share=0.2)
    spasticity(b)
    before, after = rng.choice([(6, 12), (12, 18), (18, 24), (8, 12)])
    current = tizanidine(b, before, current_start=rng.randint(4, 30))
    background(b)
    choices = {12: ("tizanidine-4", 4, 3), 18: ("tizanidine-6c", 6, 3), 24: ("tizanidine-4", 8, 3)}
    key, dose, per_day = choices[after]
    b.change(current, key, dose, per_day)


def over_max_other(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 20, 64)
    choice = rng.choice(
        ["cyclobenzaprine", "cyclobenzaprine", "tizanidine", "carisoprodol", "metaxalone", "chlorzoxazone"]
    )
    if choice == "tizanidine":
        spasticity(b)
        current = tizanidine(b, 24, current_start=rng.randint(5, 30))
        background(b)
        b.change(current, "tizanidine-4", 16, 3)  # 48 mg/day
        return
    msk(b)
    background(b)
    if choice == "cyclobenzaprine":
        b.draft("cyclobenzaprine-10", 10, 4, supply=10)  # 40 mg/day
    elif choice == "carisoprodol":
        b.draft("carisoprodol-350", 350, 5, supply=7)  # 1750 mg/day
    elif choice == "metaxalone":
        b.draft("metaxalone-800", 800, 5, supply=7)  # 4000 mg/day
    else:
        b.draft("chlorzoxazone-750", 750, 5, supply=7)  # 3750 mg/day


# -- interactions and contraindications ----------------------------------------------------------------


def tizanidine_interaction(b: PatientBuilder, kind: str) -> None:
    rng = b.rng
    _age(b, 20, 80, elderly_share=0.2)
    spasticity(b)
    b.locked |= {"cyp1a2-other", "cyp1a2-strong"}
    if kind == "start-on-inhibitor":
        key = rng.choice(["famotidine-20", "verapamil-80", "fluvoxamine-50", "amiodarone-200"])
        if b.sex == "female" and b.age <= 45 and rng.random() < 0.5:
            key = "oral-contraceptive"
        dose, per_day = regimen(key)
        if key == "fluvoxamine-50":
            dose, per_day = 100, 1
        b.chronic(key, dose, per_day)
        background(b)
        b.draft("tizanidine-2", 2, rng.choice([1, 3]), supply=30)
        return
    current = tizanidine(b)
    if kind == "chart":
        b.course("ciprofloxacin-500", 500, 2, started=rng.randint(1, 4), supply=7)
        background(b)
        return
    background(b)
    if kind == "strong":
        key = "ciprofloxacin-500" if rng.random() < 0.8 else "fluvoxamine-50"
        if key == "ciprofloxacin-500":
            b.cond("uti", onset=rng.randint(0, 3))
            b.draft(key, 500, 2, supply=7)
        else:
            b.cond("depression", onset=rng.randint(30, 400))
            b.draft(key, 50, 1, supply=30)
    else:
        key = rng.choice(
            ["famotidine-20", "amiodarone-200", "verapamil-80", "acyclovir-400", "cimetidine-400", "mexiletine-150"]
        )
        if b.sex == "female" and b.age <= 45 and rng.random() < 0.4:
            key = "oral-contraceptive"
        if key == "acyclovir-400":
            b.cond("herpes-zoster", onset=rng.randint(0, 3))
        dose, per_day = regimen(key)
        b.draft(key, dose, per_day, supply=7 if key == "acyclovir-400" else 30)
    del current


def cyclobenzaprine_with(b: PatientBuilder, kind: str) -> None:
    rng = b.rng
    if kind == "cardiac":
        _age(b, 35, 80, elderly_share=0.35)
    else:
        _age(b, 25, 64)
    msk(b)
    if kind == "serotonergic":
        b.locked.add("maoi")
        key = rng.choice(
            [
                "sertraline-50",
                "escitalopram-10",
                "fluoxetine-20",
                "duloxetine-60",
                "venlafaxine-er-75",
                "amitriptyline-25",
                "nortriptyline-25",
                "tramadol-50",
                "paroxetine-20",
            ]
        )
        dose, per_day = regimen(key)
        b.chronic(key, dose, per_day)
    elif kind == "maoi":
        b.locked |= {"ssri", "snri", "tca", "antidepressant", "serotonergic-other", "serotonergic-label"}
        choice = rng.choice(["phenelzine", "selegiline", "rasagiline", "linezolid-recent"])
        if choice == "phenelzine":
            b.cond("depression", onset=rng.randint(200, 3000))
            b.chronic("phenelzine-15", 15, 3)
        elif choice in ("selegiline", "rasagiline"):
            b.cond("parkinsons", onset=rng.randint(200, 3000))
            b.chronic("selegiline-5" if choice == "selegiline" else "rasagiline-1", None, 1 + (choice == "selegiline"))
        else:
            b.past("linezolid-600", 600, 2, ended=rng.randint(2, 12), supply=10, status="completed")
    elif kind == "maoi-washed-out":
        b.past("linezolid-600", 600, 2, ended=rng.randint(30, 120), supply=10, status="completed")
    elif kind == "cardiac":
        key = rng.choice(
            ["atrial-fibrillation", "av-block-2", "lbbb", "heart-failure", "chf", "nstemi", "hyperthyroidism"]
        )
        b.cond(key, onset=rng.randint(5, 25) if key == "nstemi" else rng.randint(100, 3000))
        if key == "atrial-fibrillation":
            b.chronic("apixaban-5", 5, 2)
        if key in ("heart-failure", "chf"):
            b.chronic("furosemide-40", 40, 1)
        if key == "hyperthyroidism":
            b.chronic("methimazole-10", 10, 1)
    elif kind == "old-mi":
        _age(b, 45, 64)
        b.cond("old-mi", onset=rng.randint(400, 3000))
        b.chronic("aspirin-81")
        b.chronic("atorvastatin-40")
    background(b)
    cyclo_course(b, draft=True)


def cyclobenzaprine_chronic(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 25, 70)
    b.cond(rng.choice(["low-back-pain", "chronic-pain", "cervicalgia"]), onset=rng.randint(200, 2000))
    since = rng.randint(60, 400)
    started = rng.randint(3, 28)
    key, dose, per_day = rng.choice(
        [("cyclobenzaprine-10", 10, 3), ("cyclobenzaprine-10", 10, 1), ("cyclobenzaprine-5", 5, 3)]
    )
    # the chain of monthly orders since about `since` days ago, each starting when the previous ran out
    months = 1
    while started + 30 * months <= since:
        b.course(key, dose, per_day, started=started + 30 * months, supply=30, status="completed")
        months += 1
    current = b.course(key, dose, per_day, started=started, supply=30)
    background(b)
    if rng.random() < 0.5:
        current.start = b.days_ago(rng.randint(26, 29))
        b.renew(current, refills=0)


def relaxant_benzo_opioid_start(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 25, 64)
    relaxant = rng.choice(["tizanidine", "baclofen", "cyclobenzaprine"])
    if relaxant == "tizanidine":
        spasticity(b)
        tizanidine(b)
    elif relaxant == "baclofen":
        spasticity(b)
        baclofen(b, rng.choice([30, 40, 60]))
    else:
        msk(b)
        cyclo_course(b, draft=False)
    b.locked |= {"benzodiazepine", "opioid"}
    if rng.random() < 0.5:
        b.cond("chronic-pain", onset=rng.randint(200, 2000))
        b.chronic(rng.choice(["oxycodone-apap", "hydrocodone-apap"]), 5, 3)
        background(b)
        b.draft(rng.choice(["lorazepam-1", "alprazolam-0.5", "diazepam-5"]), None, 2, supply=30)
    else:
        b.cond("anxiety", onset=rng.randint(200, 2000))
        b.chronic(rng.choice(["alprazolam-0.5", "clonazepam-0.5"]), None, 2)
        background(b)
        b.draft(rng.choice(["oxycodone-5", "hydrocodone-apap", "oxycodone-apap"]), 5, 4, supply=5)


def relaxant_two_depressants(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 20, 64)
    relaxant = rng.choice(["baclofen", "tizanidine", "cyclobenzaprine", "methocarbamol"])
    if relaxant in ("baclofen", "tizanidine"):
        spasticity(b)
        med = baclofen(b, rng.choice([30, 40, 60])) if relaxant == "baclofen" else tizanidine(b)
    else:
        msk(b)
        med = cyclo_course(b, draft=False) if relaxant == "cyclobenzaprine" else smr_course(b, draft=False)
    other = rng.choice(
        ["gabapentin-300", "hydrocodone-apap", "zolpidem-10", "trazodone-50", "pregabalin-75", "tramadol-50"]
    )
    dose, per_day = regimen(other)
    b.locked |= {"benzodiazepine", "opioid"}
    b.chronic(other, dose, per_day)
    background(b)
    if relaxant in ("baclofen", "tizanidine") and rng.random() < 0.3:
        med.start = b.days_ago(rng.randint(80, 88))
        b.renew(med)


def elderly_cns_three(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 65, 90)
    relaxant = rng.choice(["baclofen", "tizanidine", "methocarbamol"])
    if relaxant == "methocarbamol":
        b.cond("low-back-pain", onset=rng.randint(300, 2000))
        b.chronic("methocarbamol-500", 500, 3, since=rng.randint(200, 1500))
    else:
        spasticity(b)
        if relaxant == "baclofen":
            baclofen(b, rng.choice([15, 30]))
        else:
            tizanidine(b, rng.choice([4, 6, 8]))
    others = rng.sample(
        [
            "sertraline-50",
            "gabapentin-300",
            "zolpidem-5",
            "tramadol-50",
            "quetiapine-25",
            "lorazepam-0.5",
            "escitalopram-10",
        ],
        2,
    )
    b.locked |= {
        "benzodiazepine",
        "opioid",
        "antidepressant",
        "ssri",
        "snri",
        "tca",
        "gabapentinoid",
        "z-drug",
        "antipsychotic",
        "antiepileptic",
    }
    dose, per_day = regimen(others[0])
    b.chronic(others[0], dose, per_day)
    dose, per_day = regimen(others[1])
    if rng.random() < 0.4:
        b.draft(others[1], dose, per_day, supply=30)
    else:
        b.chronic(others[1], dose, per_day)
    background(b)


# -- kidney, age, electrolytes ---------------------------------------------------------------------------


def baclofen_ckd(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 50, 90)
    spasticity(b)
    stage = rng.choices(["3a", "3b", "4", "5"], weights=[35, 25, 25, 15])[0]
    add_ckd(b, stage, coded=rng.random() < 0.8)
    background(b)
    if rng.random() < 0.6:
        baclofen(b, rng.choice([15, 20, 30, 40]))
    else:
        baclofen_draft(b, 15, supply=30)


def tizanidine_ckd(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 50, 88)
    spasticity(b)
    if rng.random() < 0.6:
        add_ckd(b, "4", egfr=float(rng.randint(15, 23)))
    else:
        add_ckd(b, rng.choice(["3a", "3b"]))
    background(b)
    if rng.random() < 0.6:
        tizanidine(b, rng.choice([4, 6, 8]))
    else:
        b.draft("tizanidine-2", 2, rng.choice([1, 3]), supply=30)


def pediatric_relaxant(b: PatientBuilder) -> None:
    rng = b.rng
    kind = rng.choice(
        [
            "baclofen-cp",
            "baclofen-cp",
            "cyclobenzaprine-teen",
            "tizanidine-child",
            "cyclobenzaprine-15",
            "methocarbamol-teen",
        ]
    )
    if kind == "baclofen-cp":
        _age(b, 2, 11)
        spasticity(b, child=True)
        med = baclofen(b, rng.choice([10, 15, 20, 30]))
        background(b)
        if rng.random() < 0.3:
            med.start = b.days_ago(rng.randint(80, 88))
            b.renew(med)
    elif kind == "tizanidine-child":
        _age(b, 5, 17)
        spasticity(b, child=True)
        background(b)
        if rng.random() < 0.5:
            tizanidine(b, rng.choice([4, 6]))
        else:
            b.draft("tizanidine-2", 2, 2, supply=30)
    else:
        _age(b, 12, 14) if kind != "cyclobenzaprine-15" else _age(b, 15, 17)
        b.cond(rng.choice(["neck-strain", "lumbar-strain", "back-spasm"]), onset=rng.randint(1, 5))
        background(b)
        if kind == "methocarbamol-teen":
            b.draft("methocarbamol-500", 500, 3, supply=7)
        else:
            b.draft("cyclobenzaprine-5", 5, 3, supply=7)


def relaxant_for_labs(b: PatientBuilder) -> Med:
    rng = b.rng
    relaxant = rng.choice(["baclofen", "tizanidine", "cyclobenzaprine", "methocarbamol"])
    if relaxant in ("baclofen", "tizanidine"):
        spasticity(b)
        return baclofen(b, rng.choice([30, 40, 60])) if relaxant == "baclofen" else tizanidine(b)
    msk(b)
    return cyclo_course(b, draft=False) if relaxant == "cyclobenzaprine" else smr_course(b, draft=False)


def relaxant_low_electrolyte(b: PatientBuilder, which: str) -> None:
    rng = b.rng
    _age(b, 25, 88, elderly_share=0.35)
    relaxant_for_labs(b)
    b.locked.add(which)
    if which == "potassium":
        if not b.has_class("loop-diuretic"):
            b.chronic(rng.choice(["furosemide-20", "hctz-25"]), None, 1)
        value = rng.choices(
            [rng.uniform(1.9, 2.4), rng.uniform(2.5, 2.9), rng.uniform(3.0, 3.4)], weights=[20, 40, 40]
        )[0]
        b.potassium(rng.uniform(3.7, 4.6), rng.randint(100, 300))
        b.potassium(value, rng.randint(0, 20))
    else:
        if not b.has_class("ppi"):
            b.chronic(rng.choice(["omeprazole-20", "pantoprazole-40"]), None, 1)
        value = rng.choices(
            [rng.uniform(0.36, 0.47), rng.uniform(0.51, 0.58), rng.uniform(0.61, 0.68)], weights=[20, 40, 40]
        )[0]
        b.magnesium(value, rng.randint(0, 20))
    background(b)
    if rng.random() < 0.25:
        unrelated_draft(b)


def relaxant_no_labs_risk(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 30, 88, elderly_share=0.4)
    relaxant_for_labs(b)
    b.chronic(rng.choice(["furosemide-20", "hctz-25", "omeprazole-20", "pantoprazole-40"]), None, 1)
    b.locked |= {"potassium", "magnesium"}
    if rng.random() < 0.5:
        b.potassium(rng.uniform(3.6, 4.6), rng.randint(90, 600))
    background(b)


def cramps_cirrhosis_labs(b: PatientBuilder) -> None:
    rng = b.rng
    _age(b, 40, 78)
    b.cond("cramps", onset=rng.randint(14, 500))
    add_cirrhosis(b)
    b.locked |= {"potassium", "magnesium"}
    if rng.random() < 0.5:
        baclofen(b, rng.choice([10, 20, 30]))
    if rng.random() < 0.6:
        b.potassium(
            rng.choice([rng.uniform(2.2, 2.4), rng.uniform(2.6, 2.9), rng.uniform(3.1, 3.4), rng.uniform(3.6, 4.5)]),
            rng.randint(0, 20),
        )
    if rng.random() < 0.6:
        b.magnesium(
            rng.choice(
                [rng.uniform(0.4, 0.47), rng.uniform(0.52, 0.58), rng.uniform(0.62, 0.68), rng.uniform(0.75, 0.9)]
            ),
            rng.randint(0, 20),
        )
    background(b)


# -- data quality ------------------------------------------------------------------------------------------


def relaxant_free_text_draft(b: PatientBuilder) -> None:
    rng = b.rng
    if rng.random() < 0.5:
        _age(b, 20, 64)
        spasticity(b)
        background(b)
        baclofen_draft(b, 15, supply=30, free_text=True)
    else:
        _age(b, 20, 64)
        msk(b)
        background(b)
        b.draft("cyclobenzaprine-5", 5, 3, supply=7, free_text=True)


def relaxant_code_mismatch(b: PatientBuilder) -> None:
    _age(b, 20, 64)
    spasticity(b)
    background(b)
    baclofen_draft(b, 15, supply=30, text_override="tizanidine 4 MG Oral Tablet")


# (name, group, weight per 1,000 patients, builder)
SITUATIONS: tuple[tuple[str, str, float, Situation], ...] = (
    # ~70 %: no muscle relaxant
    ("none-routine", "no-relaxant", 500, none_routine),
    ("none-abnormal-labs", "no-relaxant", 80, none_abnormal_labs),
    ("none-serotonergic-pair", "no-relaxant", 25, none_serotonergic_pair),
    ("none-sedatives", "no-relaxant", 40, none_sedatives),
    ("none-cyp1a2-inhibitor", "no-relaxant", 20, none_cyp1a2),
    ("none-cramps", "no-relaxant", 10, none_cramps),
    ("none-elderly-benzodiazepine-start", "no-relaxant", 10, none_elderly_benzo_start),
    ("none-spasm-without-relaxant", "no-relaxant", 15, none_spasm_without_relaxant),
    # stable regimens (chart opening only, or a renewal)
    ("baclofen-stable", "stable", 40, baclofen_stable),
    ("baclofen-renewal", "stable", 22, lambda b: baclofen_stable(b, renew=True)),
    ("tizanidine-stable", "stable", 27, tizanidine_stable),
    ("tizanidine-renewal", "stable", 13, lambda b: tizanidine_stable(b, renew=True)),
    ("cyclobenzaprine-current-short", "stable", 12, cyclobenzaprine_current_short),
    ("antispasmodic-current-short", "stable", 8, smr_current_short),
    ("intrathecal-baclofen-stable", "stable", 4, itb_stable),
    ("dantrolene-stable", "stable", 3, dantrolene_stable),
    ("baclofen-cirrhosis-cramps-stable", "stable", 4, baclofen_cirrhosis_cramps_stable),
    ("elderly-antispasmodic-renewal", "stable", 5, elderly_smr_renewal),
    # new starts
    ("baclofen-start-label", "start", 10, baclofen_start),
    ("baclofen-start-high", "start", 3, lambda b: baclofen_start(b, daily=60)),
    ("baclofen-start-cirrhosis-cramps", "start", 3, baclofen_start_cirrhosis_cramps),
    ("tizanidine-start", "start", 7, tizanidine_start),
    ("cyclobenzaprine-start", "start", 13, cyclobenzaprine_start),
    ("cyclobenzaprine-start-long-course", "start", 4, lambda b: cyclobenzaprine_start(b, long=True)),
    ("antispasmodic-start", "start", 6, smr_start),
    ("elderly-antispasmodic-start", "start", 7, elderly_smr_start),
    ("dantrolene-start", "start", 2, dantrolene_start),
    ("dantrolene-liver-disease", "start", 2, lambda b: dantrolene_start(b, liver=True)),
    # dose changes and stops
    ("baclofen-increase-label", "change", 5, lambda b: baclofen_change(b, "increase-label")),
    ("baclofen-increase-too-fast", "change", 2, lambda b: baclofen_change(b, "increase-fast")),
    ("baclofen-above-80", "change", 2, lambda b: baclofen_change(b, "over-max")),
    ("baclofen-taper-step", "change", 3, lambda b: baclofen_change(b, "taper-step")),
    ("baclofen-abrupt-cut", "change", 3, lambda b: baclofen_change(b, "abrupt-cut")),
    ("baclofen-stop", "change", 3, baclofen_stop),
    ("baclofen-stop-end-of-taper", "change", 2, lambda b: baclofen_stop(b, end_of_taper=True)),
    ("intrathecal-baclofen-stop", "change", 2, lambda b: itb_stable(b, stop=True)),
    ("tizanidine-increase", "change", 3, tizanidine_increase),
    ("above-label-maximum-other", "change", 4, over_max_other),
    # interactions and contraindications
    ("tizanidine-cipro-fluvoxamine", "interaction", 3, lambda b: tizanidine_interaction(b, "strong")),
    ("tizanidine-other-cyp1a2", "interaction", 4, lambda b: tizanidine_interaction(b, "other")),
    ("tizanidine-cipro-in-chart", "interaction", 1, lambda b: tizanidine_interaction(b, "chart")),
    ("tizanidine-start-on-inhibitor", "interaction", 2, lambda b: tizanidine_interaction(b, "start-on-inhibitor")),
    ("cyclobenzaprine-serotonergic", "interaction", 7, lambda b: cyclobenzaprine_with(b, "serotonergic")),
    ("cyclobenzaprine-maoi", "interaction", 2, lambda b: cyclobenzaprine_with(b, "maoi")),
    ("cyclobenzaprine-maoi-washed-out", "interaction", 1, lambda b: cyclobenzaprine_with(b, "maoi-washed-out")),
    ("cyclobenzaprine-cardiac", "interaction", 4, lambda b: cyclobenzaprine_with(b, "cardiac")),
    ("cyclobenzaprine-old-mi", "interaction", 2, lambda b: cyclobenzaprine_with(b, "old-mi")),
    ("cyclobenzaprine-chronic", "interaction", 6, cyclobenzaprine_chronic),
    ("relaxant-benzodiazepine-opioid-start", "interaction", 3, relaxant_benzo_opioid_start),
    ("relaxant-two-cns-depressants", "interaction", 10, relaxant_two_depressants),
    ("elderly-three-cns-active", "interaction", 4, elderly_cns_three),
    # kidney, children, electrolytes
    ("baclofen-ckd", "kidney-age-labs", 5, baclofen_ckd),
    ("tizanidine-ckd", "kidney-age-labs", 2, tizanidine_ckd),
    ("pediatric-relaxant", "kidney-age-labs", 5, pediatric_relaxant),
    ("relaxant-low-potassium", "kidney-age-labs", 4, lambda b: relaxant_low_electrolyte(b, "potassium")),
    ("relaxant-low-magnesium", "kidney-age-labs", 3, lambda b: relaxant_low_electrolyte(b, "magnesium")),
    ("relaxant-no-recent-labs", "kidney-age-labs", 3, relaxant_no_labs_risk),
    ("cramps-cirrhosis-labs", "kidney-age-labs", 2, cramps_cirrhosis_labs),
    # data quality
    ("relaxant-draft-free-text-dose", "data-quality", 2, relaxant_free_text_draft),
    ("relaxant-draft-code-text-mismatch", "data-quality", 1, relaxant_code_mismatch),
)
from bench.burden_issue19 import ISSUE19_SITUATIONS  # noqa: E402  (its builders use the helpers above)

SITUATIONS = (*SITUATIONS, *ISSUE19_SITUATIONS)
SITUATION_NAMES = tuple(s[0] for s in SITUATIONS)
SITUATION_GROUPS = {s[0]: s[1] for s in SITUATIONS}
SITUATION_WEIGHTS = {s[0]: s[2] for s in SITUATIONS}


def generate_one(seed: int, index: int, today: date) -> Scenario:
    rng = random.Random(f"alert-burden:{seed}:{index}")
    name, group, _, build = rng.choices(SITUATIONS, weights=[s[2] for s in SITUATIONS])[0]
    b = PatientBuilder(rng, f"p{index:05d}", today, name, group)
    b.sex = rng.choice(["female", "male"])
    build(b)
    # a second, unrelated order signed together with the situation's draft (a fifth of the time)
    if b.drafts and group != "no-relaxant" and rng.random() < 0.2:
        unrelated_draft(b, select=False)
    return b.build()


def generate(patients: int, seed: int, today: date | None = None) -> list[Scenario]:
    """The population, with each scenario's expected needs filled in by the clinical ground truth."""
    from bench.burden_truth import assess

    today = today or datetime.now(UTC).date()
    scenarios = [generate_one(seed, i, today) for i in range(patients)]
    for scenario in scenarios:
        scenario.needs, scenario.acceptable = assess(scenario)
    return scenarios


# --- FHIR rendering ----------------------------------------------------------------------------------

_TIMING = {1: "QD", 2: "BID", 3: "TID", 4: "QID"}


def _dose_args(med: Med) -> dict[str, Any]:
    if med.drug.strength_unit == "mcg":
        return {"dose": med.dose, "dose_unit": "mcg", "dose_code": "ug"}
    if med.drug.strength_unit == "meq":
        return {"dose": med.dose, "dose_unit": "mEq", "dose_code": "meq"}
    if med.dose_in_units:
        units = round(med.dose / med.drug.strength)
        word = "capsule" if med.drug.form == "capsule" else "tablet"
        return {"dose": units, "dose_unit": word, "dose_code": "{" + word + "}"}
    return {"dose": med.dose, "dose_unit": "mg", "dose_code": "mg"}


def render_med(med: Med, pid: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A MedicationRequest, and the Medication resource it references when it is bundled (Epic)."""
    display = med.text_override or med.drug.name
    kw: dict[str, Any] = {
        "rid": med.id,
        "status": med.status,
        "authored_on": med.start.isoformat(),
        "pid": pid,
        "as_needed": True if med.prn else None,
    }
    bundled: dict[str, Any] | None = None
    rxcui: str | None = med.drug.rxcui
    if med.style == "epic-contained":
        kw["medication_reference"] = "#med"
        kw["contained"] = [medication("med", med.drug.rxcui, med.drug.name)]
        rxcui = None
    elif med.style == "epic-bundled":
        mid = f"{med.id}-med"
        kw["medication_reference"] = f"Medication/{mid}"
        bundled = medication(mid, med.drug.rxcui, med.drug.name)
        rxcui = None
    if not med.free_text:
        kw.update(_dose_args(med))
        per_day = med.per_day
        if med.style == "cerner" and per_day in _TIMING:
            kw["timing_code"] = _TIMING[int(per_day)]
        else:
            kw["frequency"], kw["period"], kw["period_unit"] = (int(per_day), 1, "d")
            if med.style.startswith("epic") and per_day in _TIMING:
                kw["timing_code"] = _TIMING[int(per_day)]
        kw["dose_at_root"] = med.style.startswith("epic") and med.id.endswith(("1", "3", "5", "7", "9"))
    if med.drug.route in ("intrathecal", "intravenous"):
        kw["route"] = med.drug.route
    elif med.style in ("epic-coded", "epic-contained", "epic-bundled", "cerner"):
        kw["route"] = "oral"
    units_per_day = (med.dose / med.drug.strength) * med.per_day if med.drug.strength else None
    if med.supply_as_quantity and units_per_day and not med.free_text:
        kw["quantity"] = round(units_per_day * med.supply_days)
        kw["refills"] = med.refills
    else:
        kw["supply_days"] = med.supply_days
        kw["refills"] = med.refills
    if med.reason is not None:
        kind = CONDITIONS[med.reason]
        kw["reason_codes"] = [(ICD10, kind.icd10, kind.display)]
        if kind.snomed and med.style == "cerner":
            kw["reason_codes"].append((SNOMED, kind.snomed, kind.snomed_display or kind.display))
    resource = medication_request(rxcui, display, **kw)
    if med.free_text:
        resource["dosageInstruction"] = [{"text": _free_text(med)}]
    if med.prior:
        resource["priorPrescription"] = {"reference": f"MedicationRequest/{med.prior}"}
    if med.style == "cerner" and rxcui:
        resource["medicationCodeableConcept"]["text"] = display
    return resource, bundled


def _free_text(med: Med) -> str:
    units = med.dose / med.drug.strength if med.drug.strength else 1
    count = {0.5: "one half", 1: "one", 1.5: "one and a half", 2: "two", 3: "three"}.get(units, f"{units:g}")
    often = {1: "once daily", 2: "twice daily", 3: "three times daily", 4: "four times daily"}.get(
        int(med.per_day), f"{med.per_day:g} times daily"
    )
    return f"Take {count} {med.drug.form} by mouth {often}" + (" as needed for spasm" if med.prn else "")


def render_condition(cond: Cond, pid: str) -> dict[str, Any]:
    kind = cond.kind
    system, code, display = (
        (SNOMED, kind.snomed, kind.snomed_display) if cond.coding == "snomed" else (ICD10, kind.icd10, kind.display)
    )
    resource = condition(
        code or "",
        display or kind.display,
        system=system,
        clinical_status=cond.status,
        onset=cond.onset.isoformat() if cond.onset else None,
        cid=cond.id,
        pid=pid,
    )
    if cond.coding == "icd+snomed" and kind.snomed:
        resource["code"]["coding"].append({"system": SNOMED, "code": kind.snomed, "display": kind.snomed_display})
    return resource


def render_lab(lab: Lab, pid: str) -> dict[str, Any]:
    return observation(
        lab.loinc, lab.value, lab.unit, lab.when.isoformat().replace("+00:00", "Z"), ucum=lab.ucum, oid=lab.id, pid=pid
    )


def render(s: Scenario) -> dict[str, Any]:
    """FHIR R4 JSON of a scenario: `resources` (what the FHIR server holds, Medications included),
    `drafts` (draft MedicationRequests) and `draft_medications` (Medications sent beside them)."""
    resources: list[dict[str, Any]] = [patient(s.birth_date.isoformat(), s.sex, pid=s.pid)]
    for med in s.meds:
        request, bundled = render_med(med, s.pid)
        resources.append(request)
        if bundled:
            resources.append(bundled)
    resources += [render_condition(c, s.pid) for c in s.conditions]
    resources += [render_lab(lab, s.pid) for lab in s.labs]
    drafts: list[dict[str, Any]] = []
    draft_medications: list[dict[str, Any]] = []
    for med in s.drafts:
        request, bundled = render_med(med, s.pid)
        drafts.append(request)
        if bundled:
            draft_medications.append(bundled)
    return {"resources": resources, "drafts": drafts, "draft_medications": draft_medications}
