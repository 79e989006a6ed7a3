"""The dose scenarios of the scenario matrix (issue 19): every product form and route this service
judges, by what the order is (start, raise, renewal, cut, stop) and the kidney, at 40 and at 70.

Typed facts, built the way the facts layer builds them (`continuations`, `dose_history`), so the
rules run as in a call. `scripts/scenario_matrix.py` tabulates the cards; `tests/test_suggested_doses.py`
runs every rule on every scenario and fails on a suggested dose outside its order's judgment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cds_service.facts import terminology
from cds_service.facts.continuations import continuations
from cds_service.facts.history import dose_history
from cds_service.facts.model import (
    ConditionCategory,
    ConditionFact,
    DailyDose,
    Indication,
    IndicationFact,
    MatchMethod,
    MedicationFact,
    PatientFacts,
    Provenance,
    RenalFunction,
    Route,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
AGES = (40, 70)


@dataclass(frozen=True)
class Product:
    name: str  # as the matrix names it
    ingredient: str
    display: str
    route: Route
    strength_mg: float
    per_ml: bool = False
    extended_release: bool = False
    # daily doses: a start, the dose before a change, a raise, a cut
    start: float = 30
    before: float = 30
    raised: float = 60
    cut: float = 10
    indication: Indication = Indication.SPASTICITY


PRODUCTS = (
    Product("baclofen tablet", "baclofen", "baclofen 10 MG Oral Tablet", Route.ORAL, 10),
    Product("baclofen oral liquid", "baclofen", "baclofen 5 MG/ML Oral Suspension", Route.ORAL, 5, per_ml=True),
    Product("baclofen granules (Lyvispah)", "baclofen", "Lyvispah 10 MG Oral Granules", Route.ORAL, 10),
    Product(
        "baclofen tablet, cramps in cirrhosis", "baclofen", "baclofen 10 MG Oral Tablet", Route.ORAL, 10,
        start=20, before=20, raised=40, cut=5, indication=Indication.CRAMPS_WITH_LIVER_DISEASE,
    ),
    Product("baclofen intrathecal", "baclofen", "baclofen 2 MG/ML Intrathecal Injection", Route.INTRATHECAL, 2,
            per_ml=True, start=0.3, before=0.3, raised=0.5, cut=0.2),
    Product("dantrolene capsule", "dantrolene", "dantrolene sodium 100 MG Oral Capsule", Route.ORAL, 100,
            start=100, before=200, raised=500, cut=100),
    Product("dantrolene IV (malignant hyperthermia)", "dantrolene", "dantrolene sodium 20 MG Injection",
            Route.INJECTION, 20, start=700, before=175, raised=700, cut=100),
    Product("cyclobenzaprine tablet", "cyclobenzaprine", "cyclobenzaprine HCl 10 MG Oral Tablet", Route.ORAL, 10,
            start=30, before=15, raised=45, cut=5, indication=Indication.ACUTE_MUSCULOSKELETAL),
    Product("cyclobenzaprine ER capsule (Amrix)", "cyclobenzaprine", "Amrix 15 MG 24HR Extended Release Capsule",
            Route.ORAL, 15, extended_release=True, start=15, before=15, raised=45, cut=15,
            indication=Indication.ACUTE_MUSCULOSKELETAL),
    Product("tizanidine tablet", "tizanidine", "tizanidine 4 MG Oral Tablet", Route.ORAL, 4,
            start=12, before=24, raised=40, cut=8),
)  # fmt: skip

ORDERS = ("start", "raise", "renewal", "cut", "stop")
KIDNEYS = ("eGFR 90", "eGFR 45", "eGFR 22", "dialysis", "AKI, eGFR 22", "unknown")


def _renal(kidney: str) -> tuple[RenalFunction | None, tuple[ConditionFact, ...]]:
    method = "eGFR result (LOINC 98979-8)"
    at = NOW - timedelta(days=3)
    if kidney == "unknown":
        return None, ()
    if kidney == "dialysis":
        dialysis = ConditionFact(frozenset({ConditionCategory.DIALYSIS}), "Z99.2", None, "Dependence on renal dialysis",
                                 "active", "confirmed", provenance=Provenance("Condition/dialysis"))  # fmt: skip
        return RenalFunction(None, "no readable eGFR; on dialysis", None, on_dialysis=True), (dialysis,)
    value = float(kidney.split()[-1])
    conditions: tuple[ConditionFact, ...] = ()
    if kidney.startswith("AKI"):
        conditions = (
            ConditionFact(frozenset({ConditionCategory.ACUTE_KIDNEY_INJURY}), "N17.9", None, "Acute kidney injury",
                          "active", "confirmed", provenance=Provenance("Condition/aki")),
        )  # fmt: skip
    return RenalFunction(value, method, at), conditions


def _order(product: Product, mg: float, *, draft: bool, ref: str, status: str, start: datetime) -> MedicationFact:
    per_dose = mg / 3
    return MedicationFact(
        reference=f"MedicationRequest/{ref}",
        resource_id=ref,
        ingredients=(product.ingredient,),
        classes=terminology.classes_for((product.ingredient,)),
        match=MatchMethod.CODE,
        display=product.display,
        strength_mg=product.strength_mg,
        strength_per_ml=product.per_ml,
        route=product.route,
        status=status,
        intent="order",
        authored_on=start,
        daily_dose=DailyDose(mg, explanation=f"{per_dose:g} mg × 3 per day", unit="mg"),
        is_draft=draft,
        is_selected=draft,
        extended_release=product.extended_release,
        raw={
            "resourceType": "MedicationRequest",
            "id": ref,
            "status": status,
            "intent": "order",
            "medicationCodeableConcept": {"text": product.display},
            "dosageInstruction": [
                {
                    "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
                    "doseAndRate": [{"doseQuantity": {"value": per_dose, "unit": "mg"}}],
                }
            ],
        },
    )


@dataclass(frozen=True)
class DoseScenario:
    product: Product
    order: str
    kidney: str
    age: int
    facts: PatientFacts

    @property
    def draft(self) -> MedicationFact:
        return self.facts.drafts_in_scope[0]


def scenario(product: Product, order: str, kidney: str, age: int) -> DoseScenario:
    previous = {"start": None, "raise": product.before, "renewal": product.before, "cut": product.before,
                "stop": product.before}[order]  # fmt: skip
    new = {"start": product.start, "raise": product.raised, "renewal": product.before, "cut": product.cut,
           "stop": product.before}[order]  # fmt: skip
    meds: tuple[MedicationFact, ...] = ()
    if previous is not None:
        meds = (_order(product, previous, draft=False, ref="current", status="active", start=NOW - timedelta(days=20)),)
    if order == "stop":
        draft = _order(product, new, draft=True, ref="current", status="stopped", start=NOW)
    else:
        draft = _order(product, new, draft=True, ref="draft", status="draft", start=NOW)
    renal, conditions = _renal(kidney)
    if product.indication is Indication.CRAMPS_WITH_LIVER_DISEASE:
        conditions += (
            ConditionFact(frozenset({ConditionCategory.CIRRHOSIS, ConditionCategory.LIVER_DISEASE}), "K74.60", None,
                          "Cirrhosis of liver", "active", "confirmed", provenance=Provenance("Condition/cirrhosis")),
        )  # fmt: skip
    indications = {m.reference: IndicationFact(product.indication, "reasonCode") for m in (draft, *meds)}
    facts = PatientFacts(
        hook="order-sign",
        now=NOW,
        patient_id="matrix",
        age_years=age,
        sex="female",
        drafts_in_scope=(draft,),
        medications=meds,
        renal=renal,
        conditions=conditions,
        indications=indications,
        continuations=continuations((draft,), meds, NOW),
        dose_histories={product.ingredient: dose_history(product.ingredient, meds)},
    )
    return DoseScenario(product, order, kidney, age, facts)


def all_scenarios() -> Iterator[DoseScenario]:
    for product in PRODUCTS:
        for order in ORDERS:
            for kidney in KIDNEYS:
                for age in AGES:
                    yield scenario(product, order, kidney, age)
