"""Indication per order and continuation per draft, on FHIR JSON shaped like the EHRs send it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cds_service.facts.build import build_facts
from cds_service.facts.continuations import LATE_RENEWAL_DAYS
from cds_service.facts.model import Indication, OrderRelation, PatientFacts
from tests.support import fhir as fb

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BAC10 = ("197391", "Baclofen 10 MG Oral Tablet")
BAC20 = ("197392", "Baclofen 20 MG Oral Tablet")
CYCLO = ("828348", "Cyclobenzaprine hydrochloride 10 MG Oral Tablet")
CRAMP = (fb.ICD10, "R25.2", "Cramp and spasm")
CIRRHOSIS = (fb.ICD10, "K74.60", "Unspecified cirrhosis of liver")
MS = (fb.ICD10, "G35", "Multiple sclerosis")
LBP = (fb.ICD10, "M54.50", "Low back pain, unspecified")


def _day(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).date().isoformat()


def _sign(drafts: list[dict[str, Any]], **kw: Any) -> PatientFacts:
    request = fb.hook_request("order-sign", drafts=drafts, **kw)
    return build_facts("order-sign", request["context"], request["prefetch"], NOW)


def _indication(draft: dict[str, Any], **kw: Any) -> Any:
    facts = _sign([draft], **kw)
    return facts.indication_of(facts.drafts_in_scope[0])


# --- indications --------------------------------------------------------------------------------


def test_reason_code_cramp_with_a_liver_code_is_cramps_with_liver_disease() -> None:
    found = _indication(fb.draft(*BAC10, dose=10, frequency=1, reason_codes=[CRAMP, CIRRHOSIS]))
    assert (found.indication, found.source, found.display) == (
        Indication.CRAMPS_WITH_LIVER_DISEASE, "reasonCode", "Cramp and spasm")  # fmt: skip


def test_a_cramp_reason_in_a_patient_with_cirrhosis() -> None:
    found = _indication(fb.draft(*BAC10, dose=10, frequency=1, reason_codes=[CRAMP]),
                        conditions=[fb.condition("K70.30", "Alcoholic cirrhosis of liver")])  # fmt: skip
    assert found.indication is Indication.CRAMPS_WITH_LIVER_DISEASE


def test_a_cramp_reason_with_fatty_liver_only_is_plain_cramps() -> None:
    found = _indication(fb.draft(*BAC10, dose=10, frequency=1, reason_codes=[CRAMP]),
                        conditions=[fb.condition("K76.0", "Fatty liver")])  # fmt: skip
    assert found.indication is Indication.CRAMPS


def test_snomed_reason_code() -> None:
    found = _indication(fb.draft(*BAC10, dose=10, frequency=3, reason_codes=[(fb.SNOMED, "24700007", "MS")]))
    assert found.indication is Indication.SPASTICITY


def test_an_explicit_reason_we_cannot_place_is_unknown_not_a_guess() -> None:
    found = _indication(fb.draft(*BAC10, dose=10, frequency=3, reason_codes=[(fb.ICD10, "G25.81", "Restless legs")]),
                        conditions=[fb.condition("G35", "Multiple sclerosis")])  # fmt: skip
    assert (found.indication, found.source) == (Indication.UNKNOWN, "reasonCode")


@pytest.mark.parametrize("where", ["conditions", "contained", "draftOrders"])
def test_reason_reference_resolved(where: str) -> None:
    cond = fb.condition("G35", "Multiple sclerosis", cid="ms1")
    kw: dict[str, Any] = {}
    if where == "contained":
        order = fb.draft(*BAC10, dose=10, frequency=3, reason_references=["#ms1"], contained=[cond])
    else:
        order = fb.draft(*BAC10, dose=10, frequency=3, reason_references=["Condition/ms1"])
        kw = {"conditions": [cond]} if where == "conditions" else {"draft_extra": [cond]}
    found = _indication(order, **kw)
    assert (found.indication, found.source, found.display) == (Indication.SPASTICITY, "reasonReference",
                                                               "Multiple sclerosis")  # fmt: skip


def test_an_unresolvable_reason_reference_falls_through_to_the_problem_list() -> None:
    found = _indication(fb.draft(*CYCLO, dose=10, frequency=3, reason_references=["Condition/missing"]),
                        conditions=[fb.condition("M54.50", "Low back pain, unspecified")])  # fmt: skip
    assert (found.indication, found.source) == (Indication.ACUTE_MUSCULOSKELETAL, "problem list")


def test_an_entered_in_error_reason_falls_through() -> None:
    cond = fb.condition("G35", "Multiple sclerosis", cid="ms1", verification_status="entered-in-error")
    found = _indication(fb.draft(*BAC10, dose=10, frequency=3, reason_references=["Condition/ms1"]), conditions=[cond])
    assert found.indication is Indication.UNKNOWN and found.source == "none"


@pytest.mark.parametrize(
    ("drug", "expected"),
    [(BAC10, Indication.SPASTICITY), (CYCLO, Indication.ACUTE_MUSCULOSKELETAL)],
)
def test_several_on_the_problem_list_the_labelled_use_wins(drug: tuple[str, str], expected: Indication) -> None:
    conditions = [fb.condition("G35", "Multiple sclerosis"), fb.condition("M54.50", "Low back pain, unspecified")]
    assert _indication(fb.draft(*drug, dose=10, frequency=3), conditions=conditions).indication is expected


def test_several_on_the_problem_list_none_fitting_is_unknown() -> None:
    conditions = [fb.condition("R25.2", "Cramp and spasm"), fb.condition("M54.50", "Low back pain, unspecified")]
    found = _indication(fb.draft(*BAC10, dose=10, frequency=3), conditions=conditions)
    assert found.indication is Indication.UNKNOWN


def test_existing_orders_get_indications_too() -> None:
    stored = fb.medication_request(*BAC10, rid="old", dose=10, frequency=3, reason_codes=[MS])
    facts = _sign([fb.draft(*CYCLO, dose=10, frequency=3)], meds=[stored])
    assert facts.indication_of(facts.medications[0]).indication is Indication.SPASTICITY


# --- continuations ------------------------------------------------------------------------------


def _relation(draft: dict[str, Any], meds: list[dict[str, Any]]) -> Any:
    facts = _sign([draft], meds=meds)
    return facts.continuation_of(facts.drafts_in_scope[0])


@pytest.mark.parametrize(
    ("draft_mg", "relation"),
    [(30, OrderRelation.RENEWAL), (40, OrderRelation.INCREASE), (20, OrderRelation.DECREASE)],
)
def test_a_draft_beside_a_current_order(draft_mg: float, relation: OrderRelation) -> None:
    current = fb.medication_request(*BAC10, rid="cur", authored_on=_day(20), dose=10, frequency=3)
    found = _relation(fb.draft(*BAC10, dose=draft_mg / 2, frequency=2), [current])
    assert found.relation is relation
    assert [m.reference for m in found.previous] == ["MedicationRequest/cur"] and found.previous_mg_per_day == 30


def test_two_current_orders_add_up() -> None:
    a = fb.medication_request(*BAC10, rid="a", dose=10, frequency=2)
    b = fb.medication_request(*BAC20, rid="b", dose=20, frequency=1)
    found = _relation(fb.draft(*BAC10, dose=10, frequency=4), [a, b])
    assert found.relation is OrderRelation.RENEWAL and found.previous_mg_per_day == 40


def test_a_form_change_is_a_renewal_with_form_changed() -> None:
    current = fb.medication_request(*BAC10, rid="cur", dose=10, frequency=3)
    found = _relation(fb.draft(*BAC20, dose=15, frequency=2), [current])
    assert found.relation is OrderRelation.RENEWAL and found.form_changed


def test_unknown_dose_on_one_side() -> None:
    current = fb.medication_request(*BAC10, rid="cur", dose=10)  # no frequency
    assert _relation(fb.draft(*BAC10, dose=10, frequency=3), [current]).relation is OrderRelation.UNKNOWN_DOSE


@pytest.mark.parametrize(("ended_days_ago", "relation"), [(LATE_RENEWAL_DAYS, OrderRelation.RENEWAL),
                                                          (LATE_RENEWAL_DAYS + 1, OrderRelation.RESTART)])  # fmt: skip
def test_late_renewal_edge(ended_days_ago: int, relation: OrderRelation) -> None:
    finished = fb.medication_request(*BAC10, rid="old", status="completed", authored_on=_day(30 + ended_days_ago),
                                     dose=10, frequency=3, supply_days=30)  # fmt: skip
    found = _relation(fb.draft(*BAC10, dose=10, frequency=3), [finished])
    assert found.relation is relation
    assert found.previous_ended is not None and found.previous_mg_per_day == 30


def test_intrathecal_does_not_continue_oral() -> None:
    pump = fb.medication_request(None, "Gablofen intrathecal 500 MCG/ML Injection", rid="itb", dose=300,
                                 dose_unit="mcg", frequency=1)  # fmt: skip
    assert _relation(fb.draft(*BAC10, dose=10, frequency=3), [pump]).relation is OrderRelation.START


def test_a_draft_reusing_a_stored_id_continues_it() -> None:
    stored = fb.medication_request(*BAC10, rid="same", status="completed", authored_on=_day(200), dose=10, frequency=3,
                                   supply_days=30)  # fmt: skip
    found = _relation(fb.draft(*BAC10, rid="same", dose=20, frequency=3), [stored])
    assert found.relation is OrderRelation.INCREASE and found.previous[0].reference == "MedicationRequest/same"


def test_stops_are_not_continued_and_nothing_before_is_a_start() -> None:
    facts = _sign([fb.draft(*BAC10, rid="s", status="stopped", dose=10, frequency=3),
                   fb.draft(*CYCLO, rid="n", dose=5, frequency=3)])  # fmt: skip
    assert "MedicationRequest/s" not in facts.continuations
    assert facts.continuations["MedicationRequest/n"].relation is OrderRelation.START


# --- benzodiazepines (issue 19, item 6): their own reason only ----------------------------------------

DIAZEPAM5 = ("197591", "Diazepam 5 MG Oral Tablet")
BACK_SPASM_ICD = (fb.ICD10, "M62.830", "Muscle spasm of back")
SPASM_SNOMED = (fb.SNOMED, "45352006", "Spasm (finding)")


@pytest.mark.parametrize("reason", [BACK_SPASM_ICD, SPASM_SNOMED], ids=["icd10-cm", "snomed-ct"])
def test_a_benzodiazepine_ordered_for_back_spasm_is_for_acute_musculoskeletal_spasm(reason: Any) -> None:
    found = _indication(fb.draft(*DIAZEPAM5, dose=5, frequency=3, reason_codes=[reason]))
    assert (found.indication, found.source) == (Indication.ACUTE_MUSCULOSKELETAL, "reasonCode")


def test_a_benzodiazepine_whose_reason_reference_is_back_spasm() -> None:
    cond = fb.condition("M62.830", "Muscle spasm of back", cid="spasm1")
    found = _indication(
        fb.draft(*DIAZEPAM5, dose=5, frequency=3, reason_references=["Condition/spasm1"]), conditions=[cond]
    )
    assert (found.indication, found.source) == (Indication.ACUTE_MUSCULOSKELETAL, "reasonReference")


def test_a_benzodiazepine_without_a_reason_is_not_for_spasm_even_with_back_pain_on_the_problem_list() -> None:
    """Quiet beside the firing case: lorazepam for anxiety in a patient who also has back spasm on record."""
    found = _indication(fb.draft(*DIAZEPAM5, dose=5, frequency=3), conditions=[fb.condition("M62.830", "Back spasm")])
    assert found.indication is Indication.UNKNOWN


def test_a_benzodiazepine_for_anxiety_is_not_for_spasm() -> None:
    found = _indication(fb.draft(*DIAZEPAM5, dose=5, frequency=3, reason_codes=[(fb.ICD10, "F41.1", "GAD")]))
    assert (found.indication, found.source) == (Indication.UNKNOWN, "reasonCode")
