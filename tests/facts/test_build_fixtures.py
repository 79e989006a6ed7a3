"""Exact facts for each fixture request shaped like a real client (fixtures/fhir/requests/)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from cds_service.facts.build import build_facts, read_drafts, unresolved_medication_references
from cds_service.facts.model import (
    ConditionCategory,
    DataGap,
    DrugClass,
    MatchMethod,
    PatientFacts,
    Provenance,
    Route,
    SkippedResource,
)

REQUESTS = Path(__file__).resolve().parents[2] / "fixtures" / "fhir" / "requests"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def load(name: str) -> dict[str, Any]:
    return json.loads((REQUESTS / f"{name}.json").read_text())


def facts_for(name: str, **kw: Any) -> PatientFacts:
    request = load(name)
    return build_facts(request["hook"], request["context"], request["prefetch"], NOW, **kw)


def test_epic_order_sign() -> None:
    request = load("epic-order-sign")
    # The Medication is a separate draftOrders entry (absolute URL): nothing to fetch.
    assert (
        unresolved_medication_references(request["prefetch"], read_drafts(request["hook"], request["context"], NOW))
        == []
    )
    facts = facts_for("epic-order-sign")
    assert (facts.age_years, facts.sex, facts.patient_id) == (68, "male", "pat-epic")
    (order,) = facts.drafts_in_scope
    assert facts.other_drafts == ()
    assert order.reference == "MedicationRequest/eRXcbz.9x2"
    assert order.ingredients == ("cyclobenzaprine",)
    assert order.match is MatchMethod.CODE and order.rxnorm_code == "828348"
    assert {DrugClass.ANTISPASMODIC_BEERS, DrugClass.SEROTONERGIC} <= order.classes
    assert order.route is Route.ORAL
    assert order.strength_mg == 10
    assert order.daily_dose.mg_per_day == 30  # doseQuantity at the Dosage root, 3/day PRN
    assert order.daily_dose.as_needed
    assert order.daily_dose.source == Provenance("MedicationRequest/eRXcbz.9x2", "dosageInstruction")
    assert (order.supply.days, order.supply.method) == (10, "quantity")  # 30 tablets ÷ 3 a day
    assert order.supply.source == Provenance("MedicationRequest/eRXcbz.9x2", "dispenseRequest.quantity")
    assert order.raw is not None and order.raw["extension"]["url"].endswith("ordering-mode")  # as sent

    (sertraline,) = facts.medications
    assert sertraline.ingredients == ("sertraline",) and sertraline.status == "active"
    assert sertraline.daily_dose.mg_per_day == 50
    assert sertraline.supply.days == 360  # 90 days × (1 + 3 refills)
    assert DrugClass.SSRI in sertraline.classes

    assert facts.potassium is not None
    assert (facts.potassium.value_mmol_l, facts.potassium.unit, facts.potassium.interpretation) == (3.4, "mEq/L", "L")
    assert facts.potassium.effective == datetime(2026, 11, 20, 8, 5, tzinfo=UTC)
    assert facts.potassium.provenance == Provenance("Observation/eOBSk1", "valueQuantity")
    assert facts.magnesium is not None and facts.magnesium.value_mmol_l == pytest.approx(0.6582)
    # resolved NSTEMI and refuted cirrhosis are not facts
    assert {c.code: c.categories for c in facts.conditions} == {
        "M62.830": {ConditionCategory.ACUTE_MUSCULOSKELETAL, ConditionCategory.MUSCLE_SPASM},
        "I48.0": {ConditionCategory.CARDIAC_ARRHYTHMIA},
    }
    assert facts.skipped == ()  # the OperationOutcome entries (search.mode=outcome) are not data


def test_cerner_order_select() -> None:
    facts = facts_for("cerner-order-select")
    assert (facts.age_years, facts.sex) == (79, "female")  # birthDate "1947-07"
    (tizanidine,) = facts.drafts_in_scope  # selected by absolute URL
    assert tizanidine.is_selected and tizanidine.rxnorm_code == "313413"
    assert tizanidine.ingredients == ("tizanidine",)
    assert tizanidine.daily_dose.mg_per_day == 12  # 1 tab × 4 mg × TID (timing.code)
    assert tizanidine.daily_dose.explanation == "1 tablet × 4 mg/tablet × TID = 12 mg/day"
    assert tizanidine.supply.days == 90  # 90 tablets × 3 fills ÷ 3 a day
    (cipro,) = facts.other_drafts
    assert not cipro.is_selected
    assert cipro.match is MatchMethod.NAME  # only a Cerner synonym code: recognized by the brand "Cipro"
    assert cipro.ingredients == ("ciprofloxacin",)
    assert DrugClass.STRONG_CYP1A2_INHIBITOR in cipro.classes
    assert cipro.daily_dose.mg_per_day == 1000
    assert cipro.supply.days == 7
    (fluvoxamine,) = facts.medications
    assert fluvoxamine.daily_dose.mg_per_day == 100 and fluvoxamine.daily_dose.from_range
    # Its validityPeriod (90 days) is when the prescription expires, not a course length.
    assert (fluvoxamine.supply.days, fluvoxamine.supply.method) == (None, "")
    assert fluvoxamine.validity_end is not None and fluvoxamine.ended_at == fluvoxamine.validity_end
    assert DrugClass.STRONG_CYP1A2_INHIBITOR in fluvoxamine.classes
    assert fluvoxamine in facts.active_medications()
    # the only potassium is preliminary: not used (neither readable nor unreadable)
    assert facts.potassium is None and facts.potassium_unreadable is None
    assert facts.magnesium is not None
    assert (facts.magnesium.value_mmol_l, facts.magnesium.comparator) == (0.7, "<")
    # MI 10 days ago is recent; MI in 2019 is not; entered-in-error heart failure is ignored
    assert sorted((c.provenance.resource, sorted(c.categories)) for c in facts.conditions) == [
        ("Condition/c-mi", [ConditionCategory.RECENT_MI]),
        ("Condition/c-ms", [ConditionCategory.CEREBRAL_SPASTICITY]),
    ]


def test_sandbox_order_select_with_baclofen_history() -> None:
    facts = facts_for("sandbox-order-select")
    assert facts.age_years == 76  # birthDate "1950": counted from 1 January
    (draft,) = facts.drafts_in_scope
    assert draft.daily_dose.mg_per_day == 60  # 2 {pill} × 10 mg × 3/day
    assert (draft.daily_dose.units_per_day, draft.daily_dose.unit) == (6, "tablet")
    assert draft.supply.days == 30
    history = facts.dose_histories["baclofen"]
    assert [s.mg_per_day for s in history.steps] == [15, 30, 45]
    assert history.current_mg_per_day == 45
    assert history.previous_mg_per_day == 30
    assert history.last_change_at == datetime(2026, 11, 1, tzinfo=UTC)
    assert history.steps[-1].source == Provenance("MedicationRequest/bac-3")
    assert facts.potassium is not None and facts.potassium.value_mmol_l == 4.1
    assert facts.potassium.age_days(NOW) == pytest.approx(24.083, abs=0.01)
    assert facts.magnesium is None  # prefetch magnesium: null = no data
    assert {c.code: c.categories for c in facts.conditions} == {
        # K74.60 unspecified cirrhosis: cirrhosis is its own category (and active liver disease)
        "K7460": {ConditionCategory.LIVER_DISEASE, ConditionCategory.CIRRHOSIS, ConditionCategory.ACTIVE_LIVER_DISEASE},
        # R25.2 cramp and spasm: cramps, no longer an acute musculoskeletal condition
        "R25.2": {ConditionCategory.MUSCLE_CRAMPS},
    }


def test_malformed_resources_are_skipped_and_the_rest_survive() -> None:
    facts = facts_for("malformed-patient-view", gaps=[DataGap("magnesium results", "timed out", "magnesium")])
    assert facts.drafts_in_scope == ()
    # A baclofen order whose dosageInstruction is not a list is listed, never skipped: the field is named.
    assert [m.reference for m in facts.medications] == [
        "MedicationRequest/bac-ok",
        "MedicationRequest/bac-bad",
        "MedicationRequest/tiz-ok",
    ]
    bad = facts.medications[1]
    assert bad.ingredients == ("baclofen",) and bad.problems == ("dosageInstruction",)
    assert bad.daily_dose.mg_per_day is None and bad.daily_dose.unknown_reason
    # the newest active baclofen order is the unreadable one: the current dose is unknown, not 40 mg
    history = facts.dose_histories["baclofen"]
    assert history.current_mg_per_day is None
    assert [s.mg_per_day for s in history.steps] == [40]
    # the newest K is non-numeric (unreadable, kept with its date) and the next is entered-in-error:
    # the valid older one is used and is "previous"
    assert facts.potassium is not None and facts.potassium.provenance == Provenance(
        "Observation/k-good", "valueQuantity"
    )
    assert facts.potassium_unreadable is not None
    assert facts.potassium_unreadable.problem == "value is text"
    assert facts.potassium_unreadable.provenance == Provenance("Observation/k-bad", "value[x]")
    assert set(facts.skipped) == {
        SkippedResource("prefetch.medications.entry[2]", None, "entry is not an object"),
    }
    for skipped in facts.skipped:
        assert "three times" not in skipped.reason and "abc" not in skipped.reason  # no patient data
    assert facts.gaps == (DataGap("magnesium results", "timed out", "magnesium"),)


def test_sandbox_first_order_select_has_no_medication() -> None:
    request = load("sandbox-order-select")
    draft = request["context"]["draftOrders"]["entry"][0]["resource"]
    for key in ("medicationCodeableConcept", "dosageInstruction", "dispenseRequest", "intent", "category"):
        draft.pop(key)
    facts = build_facts("order-select", request["context"], request["prefetch"], NOW)
    (order,) = facts.drafts_in_scope
    assert order.match is MatchMethod.NONE and order.ingredients == () and order.classes == frozenset()
    assert order.daily_dose.mg_per_day is None and order.daily_dose.unknown_reason == "no medication"
    assert facts.skipped == ()


def test_order_sign_and_patient_view_scopes() -> None:
    request = load("cerner-order-select")
    sign = build_facts("order-sign", request["context"], request["prefetch"], NOW)
    assert [m.resource_id for m in sign.drafts_in_scope] == ["313757847", "313757901"]
    assert sign.other_drafts == ()
    view = build_facts("patient-view", request["context"], request["prefetch"], NOW)
    assert view.drafts_in_scope == () and view.other_drafts == ()


def test_bare_id_selection_and_draft_replaces_existing_order() -> None:
    request = load("sandbox-order-select")
    request["context"]["selections"] = ["request-123"]
    existing = copy.deepcopy(request["context"]["draftOrders"]["entry"][0]["resource"])
    existing["status"] = "active"
    request["prefetch"]["medications"]["entry"].append({"resource": existing})
    facts = build_facts("order-select", request["context"], request["prefetch"], NOW)
    assert [m.resource_id for m in facts.drafts_in_scope] == ["request-123"]
    # The stored version the draft changes stays visible (rules need the step from it), but it is
    # replaced by the draft in what would be active once signed.
    stored = [m for m in facts.medications if m.resource_id == "request-123"]
    assert [m.status for m in stored] == ["active"]
    assert [m.is_draft for m in facts.would_be_active() if m.resource_id == "request-123"] == [True]


def test_medication_reference_to_prefetch_and_fetched_medication() -> None:
    request = load("epic-order-sign")
    entries = request["context"]["draftOrders"]["entry"]
    medication_entry = entries.pop(1)
    assert unresolved_medication_references(
        request["prefetch"], read_drafts(request["hook"], request["context"], NOW)
    ) == ["https://fhir.epic.example/interconnect-fhir-oauth/api/FHIR/R4/Medication/eMedCBZ10"]
    without = build_facts("order-sign", request["context"], request["prefetch"], NOW)
    assert without.drafts_in_scope[0].match is MatchMethod.NAME  # "cyclobenzaprine (FLEXERIL) 10 MG tablet"
    fetched = build_facts(
        "order-sign", request["context"], request["prefetch"], NOW, extra_resources=[medication_entry["resource"]]
    )
    assert fetched.drafts_in_scope[0].match is MatchMethod.CODE
    # a Medication in a prefetch Bundle (e.g. _include) resolves the relative form too
    request["prefetch"]["medications"]["entry"].append(
        {"resource": medication_entry["resource"], "search": {"mode": "include"}}
    )
    assert (
        unresolved_medication_references(request["prefetch"], read_drafts(request["hook"], request["context"], NOW))
        == []
    )


def test_missing_prefetch_keys_give_empty_facts_not_errors() -> None:
    request = load("epic-order-sign")
    facts = build_facts("order-sign", request["context"], {}, NOW)
    assert facts.age_years is None and facts.medications == () and facts.potassium is None
    assert facts.drafts_in_scope[0].daily_dose.mg_per_day == 30


def test_intrathecal_baclofen_is_not_oral_baclofen() -> None:
    request = load("sandbox-order-select")
    intrathecal = {
        "resourceType": "MedicationRequest",
        "id": "itb-1",
        "status": "active",
        "intent": "order",
        "subject": {"reference": "Patient/pat1"},
        "authoredOn": "2026-11-10",
        "medicationCodeableConcept": {
            "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "1666613"}],
            "text": "Gablofen 2 mg/mL intrathecal",
        },
        "dosageInstruction": [
            {
                "timing": {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}},
                "doseAndRate": [
                    {"doseQuantity": {"value": 300, "unit": "mcg", "system": "http://unitsofmeasure.org", "code": "ug"}}
                ],
            }
        ],
    }
    request["prefetch"]["medications"]["entry"].append({"resource": intrathecal})
    facts = build_facts("order-select", request["context"], request["prefetch"], NOW)
    itb = next(m for m in facts.medications if m.resource_id == "itb-1")
    assert itb.route is Route.INTRATHECAL and itb.daily_dose.mg_per_day == 0.3
    assert facts.dose_histories["baclofen"].current_mg_per_day == 45  # oral history unchanged


def test_kidney_function_from_an_egfr_result_or_computed_from_creatinine() -> None:
    epic = facts_for("epic-order-sign").renal
    assert epic is not None and epic.egfr == 72 and "98979-8" in epic.method
    cerner = facts_for("cerner-order-select").renal
    assert cerner is not None and cerner.egfr is not None and "CKD-EPI 2021" in cerner.method
    assert facts_for("sandbox-order-select").renal is None  # an empty renal search: nothing known
