"""The clinical ground truth of the alert-burden benchmark: which situations need a card.

`assess(scenario)` reads a patient's clinical state (the generator's own objects, never the FHIR the
service parses, never the service's code or tables) and returns

- the **needs**: `Need(topic, min_indicator, hook, why)` for each situation that needs a warning or a
  critical card, and where: `"order"` (order-select or order-sign) for what today's drafts start,
  change or stop; `"patient-view"` for what the record already holds when the chart opens;
- the **acceptable** topics: topic -> the highest indicator at which a card on it is useful rather
  than noise (an info on a potassium of 3.2, a warning for a child on baclofen...). Anything else is
  noise.

The stance (issue #12; FDA labels and AGS Beers 2023 as the floor; `clinical-facts.md` §2, §4, §6).
"Needs" are warning or critical; "acceptable" says up to which indicator a card is welcome.

- baclofen-titration. Needs (warning): a start above 30 mg/day for spasticity (label: 5 mg TID =
  15 mg/day, +15 mg/day every >= 3 days, up to 80), above 15 for cramps in cirrhosis (10 → 30 weekly);
  a step above 30 mg/day, or less than 3 days after the last change (cirrhosis: above 20, or a total
  above 40). Acceptable (warning): the gray band between (start 15-30, step 15-30; cirrhosis: start
  10-15, step 10-20 or under 7 days, total 30-40). A label-compliant start or step needs nothing.
- max-daily-dose (for baclofen also baclofen-titration). Needs: above the label maximum, baclofen
  80 mg/day (critical); cyclobenzaprine 30, tizanidine 36, carisoprodol 1400, metaxalone 3200,
  chlorzoxazone 3000, methocarbamol 8000, orphenadrine 200, dantrolene 400 (warning).
- baclofen-withdrawal. Needs (warning): a stop or cut of more than 15 mg/day at once; any intrathecal
  stop. Acceptable (warning): a cut of 10-15 mg/day.
- renal-dosing. Needs: oral baclofen at eGFR 30-59 (warning), below 30 or on dialysis (critical; there
  it also meets a titration or baclofen-maximum need: no labelled dose is left, issue 19);
  tizanidine at eGFR below 25 (warning). Acceptable (info): tizanidine at eGFR 25-40.
- pediatric-caution. Acceptable (warning): baclofen under 12, cyclobenzaprine under 15, the other
  antispasmodics under 16, tizanidine under 18.
- dantrolene-liver. Needs (critical): oral dantrolene with cirrhosis or active hepatitis. Acceptable
  (info): a dantrolene start; fatty liver.
- cyclobenzaprine-duration. Needs (warning): a course over 21 days (chart: running; order: the draft
  makes it so, a renewal included).
- cyclobenzaprine-cardiac. Needs (critical): with arrhythmia, heart block, conduction disorder, heart
  failure, MI within 28 days, hyperthyroidism. An old MI needs nothing.
- serotonergic-combination. Needs: cyclobenzaprine with an MAOI active or stopped within 14 days
  (critical); with an SSRI, SNRI, TCA or tramadol (warning). Acceptable: with bupropion, meperidine
  or verapamil (warning), with another serotonergic drug (info). Pairs without cyclobenzaprine:
  nothing.
- sedation-risk. Needs: starting a benzodiazepine or an opioid that makes benzodiazepine + opioid in a
  patient on a relaxant (critical); 65 or older with 3 or more CNS-active drugs incl. a relaxant
  (warning; chart, or order when a draft starts or raises one). Acceptable: benzodiazepine + opioid +
  relaxant already held (warning); a relaxant started on top of both (critical); two CNS depressants
  incl. a relaxant (info).
- tizanidine-interaction. Needs: with fluvoxamine or ciprofloxacin (critical); with another CYP1A2
  inhibitor (famotidine, cimetidine, amiodarone, mexiletine, verapamil, acyclovir, oral
  contraceptives) (warning).
- elderly-caution. Needs (warning): 65 or older starting (not renewing) one of the six Beers
  antispasmodics. Acceptable: a dose increase of those (warning); a benzodiazepine start (warning: the
  EHR's own Beers screening owns benzodiazepines not ordered for spasm, issue 11 scope); a baclofen or
  tizanidine start (info).
- electrolyte-potassium / electrolyte-magnesium, for a patient holding or being ordered a relaxant,
  or with cramps, on a result of the last 30 days. Needs: K below 2.5 mmol/L (critical), 2.5-2.99
  (warning); Mg below 0.50 mmol/L (critical), 0.50-0.59 (warning). Acceptable (info): K 3.0-3.49,
  Mg 0.60-0.69, an older low result.
- electrolyte-monitoring. Acceptable (info): no result in 30 days with a reason to expect a deficit
  (loop or thiazide diuretic for K and Mg, PPI for Mg, cirrhosis, alcohol use disorder, cramps).
- albumin-liver-cramps, treatment-escalation. Acceptable (info): cramps with cirrhosis; escalation
  only at the plan's 30 mg/day held for 14 days or more.
- order-unreadable, medication-code-mismatch. Acceptable (warning): a relaxant draft whose dose is
  free text; a code naming another drug than its text.
- spasm-treatment-summary, data-unavailable, check-failed: never needed nor acceptable (no data is
  missing in this benchmark; a chart opening for a stable patient needs nothing).

Hooks: a concern the record already holds belongs to patient-view; a concern a draft creates belongs
to the order hooks when the draft starts, restarts, raises, lowers or stops a drug involved in it (a
plain renewal changes nothing, so its concerns stay on patient-view, except a cyclobenzaprine renewal,
which lengthens the course). A patient with no relaxant (held, drafted or within 30 days) and no
cramps needs nothing from this service, whatever else is abnormal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from bench.burden_catalogue import (
    ACUTE_MI,
    ACUTE_MSK,
    ADVERSE_EFFECT,
    ALCOHOL_USE,
    ASCITES,
    BEERS_CNS_ACTIVE_CLASSES,
    BEERS_SMR,
    BENZODIAZEPINE,
    CARDIAC_CONTRA,
    CIRRHOSIS,
    CNS_DEPRESSANT_CLASSES,
    CONDITIONS,
    CRAMPS,
    CYP1A2_OTHER,
    CYP1A2_STRONG,
    DIALYSIS,
    FATTY_LIVER,
    HEPATIC_DECOMPENSATION,
    HEPATITIS,
    HYPERTHYROID,
    LABEL_MAX_MG_PER_DAY,
    LOOP,
    MAOI,
    MUSCLE_SPASM,
    OPIOID,
    PPI,
    RELAXANT,
    SEROTONERGIC_LABEL,
    SEROTONERGIC_OTHER,
    SNRI,
    SPASTICITY,
    SSRI,
    TCA,
    THIAZIDE,
)
from bench.burden_population import INDICATOR_RANK, Lab, Med, Need, Scenario, ckd_epi_2021

TOPICS = (
    "baclofen-titration",
    "baclofen-withdrawal",
    "renal-dosing",
    "pediatric-caution",
    "max-daily-dose",
    "dantrolene-liver",
    "cyclobenzaprine-duration",
    "cyclobenzaprine-cardiac",
    "cyclobenzaprine-hepatic",
    "electrolyte-correction",
    "serotonergic-combination",
    "sedation-risk",
    "tizanidine-interaction",
    "elderly-caution",
    "electrolyte-potassium",
    "electrolyte-magnesium",
    "electrolyte-monitoring",
    "albumin-liver-cramps",
    "treatment-escalation",
    "spasm-treatment-summary",
    "medication-code-mismatch",
    "order-unreadable",
    "data-unavailable",
    "check-failed",
)

RECENT_LAB_DAYS = 30  # a result older than this does not describe today's potassium or magnesium
MAOI_WASHOUT_DAYS = 14
CYCLOBENZAPRINE_MAX_COURSE_DAYS = 21
COURSE_GAP_DAYS = 7  # orders of the same drug less than this apart are one course
CHANGING = frozenset({"start", "restart", "increase", "decrease", "stop"})  # draft actions that change a regimen
PEDIATRIC_UNDER = {
    "baclofen": 12,
    "cyclobenzaprine": 15,
    "tizanidine": 18,
    "methocarbamol": 16,
    "carisoprodol": 16,
    "metaxalone": 16,
    "chlorzoxazone": 16,
    "orphenadrine": 16,
}
SEROTONERGIC_WARNING = frozenset({SSRI, SNRI, TCA})  # and tramadol
CYCLOBENZAPRINE_MILD_HEPATIC_MAX_MG_PER_DAY = 15  # IR label, mild hepatic impairment: 5 mg, less often
SPASM_REASONS = frozenset({ACUTE_MSK, SPASTICITY, CRAMPS, MUSCLE_SPASM})


def spasm_benzodiazepine(med: Med) -> bool:
    """A benzodiazepine ordered for spasm (its reasonCode): within the service's scope (issue 19, item 6)."""
    return (
        BENZODIAZEPINE in med.drug.classes
        and med.reason is not None
        and bool(CONDITIONS[med.reason].groups & SPASM_REASONS)
    )


@dataclass
class Concern:
    topic: str
    level: str  # critical | warning (a need) or critical-ok | warning-ok | info-ok (acceptable)
    why: str
    drugs: frozenset[str] = frozenset()  # ingredients involved (for the order-hook trigger)
    also: tuple[str, ...] = ()
    draft_only: bool = False  # a concern about the drafts themselves (titration, withdrawal, elderly start)


@dataclass
class State:
    """The medications a patient would take: now (chart) or once today's drafts are signed (order)."""

    meds: list[Med]
    mode: str  # chart | order
    changing: frozenset[str] = frozenset()  # ingredients today's drafts start, raise, lower or stop
    drafts: list[Med] = field(default_factory=list)

    @property
    def ingredients(self) -> set[str]:
        return {m.ingredient for m in self.meds}

    def with_class(self, drug_class: str) -> set[str]:
        return {m.ingredient for m in self.meds if drug_class in m.drug.classes}

    def with_any(self, classes: frozenset[str]) -> set[str]:
        return {m.ingredient for m in self.meds if m.drug.classes & classes}

    def oral(self, ingredient: str) -> list[Med]:
        return [m for m in self.meds if m.ingredient == ingredient and m.oral]

    def daily(self, ingredient: str) -> float:
        return sum(m.daily for m in self.oral(ingredient))


class Assessment:
    def __init__(self, s: Scenario) -> None:
        self.s = s
        self.today = s.today
        self.age = s.age
        active = [c for c in s.conditions if c.status == "active"]
        self.groups: set[str] = set().union(*(c.kind.groups for c in active)) if active else set()
        self.acute_mi = any(
            ACUTE_MI in c.kind.groups and (c.onset is None or (self.today - c.onset).days <= 28) for c in active
        )
        self.ckd_stage = max((c.kind.ckd_stage or 0 for c in active), default=0)
        self.dialysis = DIALYSIS in self.groups or self.ckd_stage == 5
        self.current = [m for m in s.meds if m.status in ("active", "on-hold") and m.end >= self.today]
        stops = {d.id for d in s.drafts if d.action == "stop"}
        replaced = {d.prior for d in s.drafts if d.prior} | stops
        new = [d for d in s.drafts if d.action != "stop"]
        self.after = [m for m in self.current if m.id not in replaced] + new
        self.changing = frozenset(d.ingredient for d in s.drafts if d.action in CHANGING)
        self.recently_ended = [
            m
            for m in s.meds
            if m.status in ("completed", "stopped", "active")
            and self.today - timedelta(days=MAOI_WASHOUT_DAYS) <= m.end
        ]
        self.cramps = CRAMPS in self.groups
        self.cirrhosis = CIRRHOSIS in self.groups
        self.egfr = self._egfr()

    # --- facts ------------------------------------------------------------------------------------
    def _latest(self, kind: str) -> Lab | None:
        labs = [lab for lab in self.s.labs if lab.kind == kind]
        return max(labs, key=lambda lab: lab.when) if labs else None

    @property
    def kidney_leaves_no_dose(self) -> bool:
        """Oral baclofen has no labelled dose: eGFR below 30 or dialysis (issue 19)."""
        return self.dialysis or (self.egfr is not None and self.egfr < 30)

    def _egfr(self) -> float | None:
        egfr, creatinine = self._latest("egfr"), self._latest("creatinine")
        if egfr is not None and (creatinine is None or egfr.when >= creatinine.when):
            return egfr.normalized
        if creatinine is not None:
            return ckd_epi_2021(creatinine.normalized, self.age, self.s.sex)
        return {3: 45.0, 4: 22.0, 5: 10.0}.get(self.ckd_stage)

    def lab_age(self, lab: Lab) -> int:
        return (self.today - lab.when.date()).days

    # --- concerns -----------------------------------------------------------------------------------
    def concerns(self, st: State) -> list[Concern]:
        out: list[Concern] = []
        relaxants = st.with_class(RELAXANT)
        out += self.electrolytes(st, relaxants)
        out += self.renal(st)
        out += self.pediatric(st)
        out += self.max_dose(st)
        out += self.dantrolene(st)
        out += self.cyclobenzaprine(st)
        out += self.cyclobenzaprine_hepatic(st)
        out += self.sedation(st, relaxants)
        out += self.tizanidine(st)
        if st.mode == "order":
            out += self.elderly(st)
            out += self.baclofen_changes(st)
            out += self.data_quality(st)
        if self.cramps and self.cirrhosis:
            out.append(Concern("albumin-liver-cramps", "info-ok", "cramps with cirrhosis (EASL: albumin)"))
            held = st.daily("baclofen")
            since = [m.start for m in st.oral("baclofen") if not m.is_draft]
            if held >= 30 and since and (self.today - max(since)).days >= 14:
                out.append(Concern("treatment-escalation", "info-ok", "cirrhosis cramps at the plan's ceiling"))
        return out

    def electrolytes(self, st: State, relaxants: set[str]) -> list[Concern]:
        if st.mode == "chart":
            relevant = bool(relaxants) or self.cramps
            out = self._electrolytes(st, relaxants) if relevant else []
            if relevant or MUSCLE_SPASM in self.groups:
                # the chart's one information card for low K and/or Mg (issue 19, item 10): welcome, not needed
                for kind, low in (("potassium", 3.5), ("magnesium", 0.7)):
                    lab = self._latest(kind)
                    if lab is not None and lab.normalized < low and self.lab_age(lab) <= RECENT_LAB_DAYS:
                        out.append(Concern("electrolyte-correction", "info-ok", f"low {kind} on the chart"))
            return out
        else:
            relevant = any(RELAXANT in d.drug.classes for d in st.drafts if d.action != "stop")
        if not relevant:
            return []
        return self._electrolytes(st, relaxants)

    def _electrolytes(self, st: State, relaxants: set[str]) -> list[Concern]:
        out: list[Concern] = []
        drugs = frozenset(relaxants)
        classes = set().union(*(m.drug.classes for m in st.meds)) if st.meds else set()
        risk = bool(classes & {LOOP, THIAZIDE}) or self.cirrhosis or ALCOHOL_USE in self.groups or self.cramps
        for kind, topic, bands, reason in (
            ("potassium", "electrolyte-potassium", (2.5, 3.0, 3.5), risk),
            ("magnesium", "electrolyte-magnesium", (0.5, 0.6, 0.7), risk or PPI in classes),
        ):
            lab = self._latest(kind)
            recent = lab is not None and self.lab_age(lab) <= RECENT_LAB_DAYS
            if lab is not None:
                value = lab.normalized
                what = f"{kind} {lab.value:g} {lab.unit} ({value:.2f} mmol/L), {self.lab_age(lab)} days ago"
                if value < bands[2]:
                    if not recent:
                        out.append(Concern(topic, "info-ok", f"older low {what}", drugs))
                        out.append(Concern("electrolyte-monitoring", "info-ok", f"older low {what}", drugs))
                    elif value < bands[0]:
                        out.append(Concern(topic, "critical", f"severe low {what}", drugs))
                    elif value < bands[1]:
                        out.append(Concern(topic, "warning", f"moderate low {what}", drugs))
                    else:
                        out.append(Concern(topic, "info-ok", f"mild low {what}", drugs))
            if not recent and reason:
                out.append(
                    Concern("electrolyte-monitoring", "info-ok", f"no {kind} in 30 days, deficit expected", drugs)
                )
        return out

    def renal(self, st: State) -> list[Concern]:
        out: list[Concern] = []
        egfr = self.egfr
        if st.oral("baclofen") and (self.dialysis or (egfr is not None and egfr < 60)):
            level = "critical" if self.dialysis or (egfr is not None and egfr < 30) else "warning"
            shown = "dialysis" if self.dialysis else f"eGFR {egfr:.0f}"
            out.append(Concern("renal-dosing", level, f"oral baclofen with {shown}", frozenset({"baclofen"})))
        if st.oral("tizanidine") and egfr is not None:
            if egfr < 25:
                out.append(
                    Concern("renal-dosing", "warning", f"tizanidine with eGFR {egfr:.0f}", frozenset({"tizanidine"}))
                )
            elif egfr <= 40:
                out.append(
                    Concern("renal-dosing", "info-ok", f"tizanidine with eGFR {egfr:.0f}", frozenset({"tizanidine"}))
                )
        return out

    def pediatric(self, st: State) -> list[Concern]:
        return [
            Concern("pediatric-caution", "warning-ok", f"{ingredient} at {self.age} years", frozenset({ingredient}))
            for ingredient in sorted(st.ingredients)
            if ingredient in PEDIATRIC_UNDER and self.age < PEDIATRIC_UNDER[ingredient]
        ]

    def max_dose(self, st: State) -> list[Concern]:
        out: list[Concern] = []
        for ingredient, limit in LABEL_MAX_MG_PER_DAY.items():
            total = st.daily(ingredient)
            if total > limit + 1e-6:
                level = "critical" if ingredient == "baclofen" else "warning"
                also = ("baclofen-titration",) if ingredient == "baclofen" else ()
                if ingredient == "baclofen" and self.kidney_leaves_no_dose:
                    also += ("renal-dosing",)  # issue 19: no titration card there, the renal card speaks
                out.append(
                    Concern(
                        "max-daily-dose",
                        level,
                        f"{ingredient} {total:g} mg/day > label {limit:g}",
                        frozenset({ingredient}),
                        also,
                    )
                )
        return out

    def dantrolene(self, st: State) -> list[Concern]:
        if not st.oral("dantrolene"):
            return []
        drugs = frozenset({"dantrolene"})
        if self.groups & {CIRRHOSIS, HEPATITIS}:
            return [Concern("dantrolene-liver", "critical", "oral dantrolene with active liver disease", drugs)]
        started = any(d.ingredient == "dantrolene" and d.action in ("start", "restart") for d in st.drafts)
        if FATTY_LIVER in self.groups or started:
            return [Concern("dantrolene-liver", "info-ok", "dantrolene start / fatty liver: LFT monitoring", drugs)]
        return []

    def course_start(self, meds: list[Med], ingredient: str) -> date | None:
        """Start of the running course of `ingredient`: orders chained with gaps under a week."""
        orders = sorted((m for m in meds if m.ingredient == ingredient), key=lambda m: m.start, reverse=True)
        if not orders:
            return None
        start = orders[0].start
        for older in orders[1:]:
            if older.end < start - timedelta(days=COURSE_GAP_DAYS):
                break
            start = min(start, older.start)
        return start

    def cyclobenzaprine(self, st: State) -> list[Concern]:
        held = [m for m in st.meds if m.ingredient == "cyclobenzaprine"]
        if not held:
            return []
        out: list[Concern] = []
        drugs = frozenset({"cyclobenzaprine"})
        # duration
        history = [m for m in self.s.meds if m.ingredient == "cyclobenzaprine" and m.status != "draft"]
        if st.mode == "chart":
            # the running course, from its first order to the end of the supply held now
            start = self.course_start(history, "cyclobenzaprine")
            planned_end = max(m.end for m in held)
            if start is not None and (planned_end - start).days > CYCLOBENZAPRINE_MAX_COURSE_DAYS:
                days = (planned_end - start).days
                why = f"cyclobenzaprine course of {days} days ({(self.today - start).days} so far)"
                out.append(Concern("cyclobenzaprine-duration", "warning", why, drugs))
        else:
            for draft in (d for d in st.drafts if d.ingredient == "cyclobenzaprine" and d.action != "stop"):
                current = [m for m in history if m.end >= self.today - timedelta(days=COURSE_GAP_DAYS)]
                start = self.course_start(current, "cyclobenzaprine") if current else None
                elapsed = (self.today - start).days if start else 0
                planned = draft.supply_days * (1 + draft.refills)
                if elapsed + planned > CYCLOBENZAPRINE_MAX_COURSE_DAYS:
                    out.append(
                        Concern(
                            "cyclobenzaprine-duration",
                            "warning",
                            f"course would reach {elapsed + planned} days",
                            drugs,
                            draft_only=True,
                        )
                    )
        # cardiac and thyroid contraindications
        if self.groups & {CARDIAC_CONTRA, HYPERTHYROID} or self.acute_mi:
            which = sorted(self.groups & {CARDIAC_CONTRA, HYPERTHYROID} | ({ACUTE_MI} if self.acute_mi else set()))
            out.append(
                Concern("cyclobenzaprine-cardiac", "critical", f"cyclobenzaprine with {', '.join(which)}", drugs)
            )
        # serotonergic partners
        maoi = st.with_class(MAOI) | {m.ingredient for m in self.recently_ended if MAOI in m.drug.classes}
        if maoi:
            out.append(
                Concern("serotonergic-combination", "critical", f"cyclobenzaprine + MAOI {sorted(maoi)}", drugs | maoi)
            )
        partners = st.with_any(SEROTONERGIC_WARNING) | ({"tramadol"} & st.ingredients)
        if partners:
            out.append(
                Concern(
                    "serotonergic-combination", "warning", f"cyclobenzaprine + {sorted(partners)}", drugs | partners
                )
            )
        label = st.with_class(SEROTONERGIC_LABEL) - partners
        if label:
            out.append(
                Concern("serotonergic-combination", "warning-ok", f"cyclobenzaprine + {sorted(label)}", drugs | label)
            )
        other = st.with_class(SEROTONERGIC_OTHER) | (st.with_class(OPIOID) - {"tramadol"})
        if other:
            out.append(
                Concern("serotonergic-combination", "info-ok", f"cyclobenzaprine + {sorted(other)}", drugs | other)
            )
        return out

    def cyclobenzaprine_hepatic(self, st: State) -> list[Concern]:
        """FDA labels: Amrix not recommended in any hepatic impairment; IR not in moderate to severe; IR in
        mild: 5 mg, less often. Mild: cirrhosis or hepatitis; moderate to severe: decompensation (ascites
        beside liver disease). Fatty liver alone is not hepatic impairment."""
        held = [m for m in st.meds if m.ingredient == "cyclobenzaprine"]
        liver = self.groups & {CIRRHOSIS, HEPATITIS, FATTY_LIVER, HEPATIC_DECOMPENSATION}
        severe = HEPATIC_DECOMPENSATION in self.groups or (ASCITES in self.groups and bool(liver))
        mild = bool(self.groups & {CIRRHOSIS, HEPATITIS})
        if not held or not (severe or mild):
            return []
        out: list[Concern] = []
        drugs = frozenset({"cyclobenzaprine"})
        for med in held:
            extended = "-er-" in med.drug.key
            grade = "moderate-severe" if severe else "mild"
            if extended or severe:
                why = f"{'Amrix' if extended else 'cyclobenzaprine IR'} with {grade} hepatic impairment"
                out.append(Concern("cyclobenzaprine-hepatic", "warning", why, drugs))
            elif med.free_text:
                out.append(Concern("cyclobenzaprine-hepatic", "info-ok", "mild hepatic impairment, dose unread"))
            elif med.daily > CYCLOBENZAPRINE_MILD_HEPATIC_MAX_MG_PER_DAY:
                why = f"cyclobenzaprine {med.daily:g} mg/day with mild hepatic impairment"
                out.append(Concern("cyclobenzaprine-hepatic", "warning", why, drugs))
        return out

    def sedation(self, st: State, relaxants: set[str]) -> list[Concern]:
        relaxants = relaxants | {m.ingredient for m in st.meds if spasm_benzodiazepine(m)}
        if not relaxants:
            return []
        out: list[Concern] = []
        benzos, opioids = st.with_class(BENZODIAZEPINE), st.with_class(OPIOID)
        depressants = st.with_any(CNS_DEPRESSANT_CLASSES)
        cns_active = st.with_any(BEERS_CNS_ACTIVE_CLASSES)
        started = {d.ingredient for d in st.drafts if d.action in ("start", "restart")}
        raised = started | {d.ingredient for d in st.drafts if d.action == "increase"}
        if benzos and opioids:
            new = started & (benzos | opioids)
            if st.mode == "order" and new:
                out.append(
                    Concern(
                        "sedation-risk",
                        "critical",
                        f"starting {sorted(new)}: benzodiazepine + opioid with {sorted(relaxants)}",
                        frozenset(new),
                    )
                )
            elif st.mode == "order" and started & relaxants:
                out.append(Concern("sedation-risk", "critical-ok", "relaxant started on benzodiazepine + opioid"))
            else:
                out.append(Concern("sedation-risk", "warning-ok", "benzodiazepine + opioid + relaxant held"))
        if self.age >= 65 and len(cns_active) >= 3:
            why = f">= 65 with {len(cns_active)} CNS-active drugs {sorted(cns_active)}"
            if st.mode == "chart" or raised & cns_active:
                out.append(
                    Concern(
                        "sedation-risk",
                        "warning",
                        why,
                        frozenset(raised & cns_active) or frozenset(cns_active),
                        draft_only=st.mode == "order",
                    )
                )
            else:
                out.append(Concern("sedation-risk", "warning-ok", why))
        if len(depressants) >= 2:
            out.append(Concern("sedation-risk", "info-ok", f"CNS depressants {sorted(depressants)}"))
        return out

    def tizanidine(self, st: State) -> list[Concern]:
        if "tizanidine" not in st.ingredients:
            return []
        out: list[Concern] = []
        strong, other = st.with_class(CYP1A2_STRONG), st.with_class(CYP1A2_OTHER)
        if strong:
            out.append(
                Concern(
                    "tizanidine-interaction",
                    "critical",
                    f"tizanidine + {sorted(strong)}",
                    frozenset({"tizanidine"} | strong),
                )
            )
        if other:
            out.append(
                Concern(
                    "tizanidine-interaction",
                    "warning",
                    f"tizanidine + {sorted(other)}",
                    frozenset({"tizanidine"} | other),
                )
            )
        return out

    def elderly(self, st: State) -> list[Concern]:
        if self.age < 65:
            return []
        out: list[Concern] = []
        for draft in st.drafts:
            beers = draft.drug.classes & {BEERS_SMR, BENZODIAZEPINE}
            if spasm_benzodiazepine(draft) and draft.action in ("start", "restart"):
                out.append(
                    Concern(
                        "elderly-caution",
                        "warning",
                        f"{self.age} y starting {draft.ingredient} for spasm (Beers)",
                        frozenset({draft.ingredient}),
                        draft_only=True,
                    )
                )
            elif BEERS_SMR not in beers and beers and draft.action in ("start", "restart"):
                out.append(Concern("elderly-caution", "warning-ok", f"{self.age} y starting {draft.ingredient}"))
            elif beers and draft.action in ("start", "restart"):
                out.append(
                    Concern(
                        "elderly-caution",
                        "warning",
                        f"{self.age} y starting {draft.ingredient} (Beers)",
                        frozenset({draft.ingredient}),
                        draft_only=True,
                    )
                )
            elif beers and draft.action == "increase":
                out.append(Concern("elderly-caution", "warning-ok", f"{self.age} y raising {draft.ingredient}"))
            elif draft.ingredient in ("baclofen", "tizanidine") and draft.action in ("start", "restart"):
                out.append(Concern("elderly-caution", "info-ok", f"{self.age} y starting {draft.ingredient}"))
        return out

    def baclofen_changes(self, st: State) -> list[Concern]:
        out: list[Concern] = []
        drugs = frozenset({"baclofen"})
        touched = [d for d in st.drafts if d.ingredient == "baclofen"]
        if not touched:
            return out
        for stop in (d for d in touched if d.action == "stop" and d.drug.route == "intrathecal"):
            out.append(
                Concern(
                    "baclofen-withdrawal",
                    "warning",
                    "intrathecal baclofen stopped (boxed warning)",
                    drugs,
                    draft_only=True,
                )
            )
            del stop
        if not any(d.oral for d in touched):
            return out
        before_orders = [m for m in self.current if m.ingredient == "baclofen" and m.oral]
        before = sum(m.daily for m in before_orders)
        after = st.daily("baclofen")
        cirrhosis_cramps = self.cramps and self.cirrhosis
        if after > before:
            if before == 0:
                ok, gray = (10, 15) if cirrhosis_cramps else (15, 30)
                level = None if after <= ok else "warning-ok" if after <= gray else "warning"
                why = f"baclofen start at {after:g} mg/day" + (" (cramps in cirrhosis)" if cirrhosis_cramps else "")
            else:
                step = after - before
                days = (self.today - max(m.start for m in before_orders)).days
                if cirrhosis_cramps:
                    need = step > 20 or days < 3 or after > 40
                    gray = step > 10 or days < 7 or after > 30
                else:
                    need = step > 30 or days < 3
                    gray = step > 15
                level = "warning" if need else "warning-ok" if gray else None
                why = f"baclofen {before:g} -> {after:g} mg/day, {days} days after the last change"
            if level:
                # issue 19: at eGFR < 30 or on dialysis no labelled oral dose is left; the renal card says so
                also = ("renal-dosing",) if self.kidney_leaves_no_dose else ()
                out.append(Concern("baclofen-titration", level, why, drugs, also, draft_only=True))
        elif after < before:
            cut = before - after
            level = "warning" if cut > 15 else "warning-ok" if cut > 10 else None
            toxic = any(
                d.action == "stop" and d.reason and ADVERSE_EFFECT in CONDITIONS[d.reason].groups for d in touched
            )
            if toxic and level:
                level = "warning-ok"  # the labels allow rapid withdrawal for serious adverse effects (issue 19)
            if level:
                out.append(
                    Concern(
                        "baclofen-withdrawal",
                        level,
                        f"baclofen {before:g} -> {after:g} mg/day at once",
                        drugs,
                        draft_only=True,
                    )
                )
        return out

    def data_quality(self, st: State) -> list[Concern]:
        out: list[Concern] = []
        for draft in st.drafts:
            if draft.free_text and RELAXANT in draft.drug.classes:
                out.append(Concern("order-unreadable", "warning-ok", "relaxant draft with a free-text dose"))
                # the dose card may say the dose could not be checked: acceptable, not noise
                out.append(Concern("baclofen-titration", "info-ok", "relaxant draft with a free-text dose"))
            if draft.text_override:
                out.append(Concern("medication-code-mismatch", "warning-ok", "code and text name different drugs"))
        return out


def _merge(needs: dict[tuple[str, str], Need], need: Need) -> None:
    key = (need.topic, need.hook)
    held = needs.get(key)
    if held is None or INDICATOR_RANK[need.min_indicator] > INDICATOR_RANK[held.min_indicator]:
        needs[key] = need


def assess(s: Scenario) -> tuple[list[Need], dict[str, str]]:
    """The needs and the acceptable topics of one scenario (see the module docstring)."""
    a = Assessment(s)
    needs: dict[tuple[str, str], Need] = {}
    acceptable: dict[str, str] = {}

    def accept(topic: str, level: str) -> None:
        if topic not in acceptable or INDICATOR_RANK[level] > INDICATOR_RANK[acceptable[topic]]:
            acceptable[topic] = level

    chart = State(a.current, "chart")
    for concern in a.concerns(chart):
        if concern.level in ("critical", "warning"):
            _merge(needs, Need(concern.topic, concern.level, "patient-view", concern.why, concern.also))
        else:
            accept(concern.topic, concern.level.removesuffix("-ok"))
    if s.drafts:
        order = State(a.after, "order", a.changing, list(s.drafts))
        for concern in a.concerns(order):
            triggered = concern.draft_only or bool(concern.drugs & a.changing)
            if concern.level in ("critical", "warning") and triggered:
                _merge(needs, Need(concern.topic, concern.level, "order", concern.why, concern.also))
            elif concern.level in ("critical", "warning"):
                accept(concern.topic, concern.level)  # held before today; the chart need covers it
            else:
                accept(concern.topic, concern.level.removesuffix("-ok"))
    return list(needs.values()), acceptable
