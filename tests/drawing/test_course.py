"""The SMART app's drawing data against the service's own facts: the same statuses, dose arithmetic and
unit conversions as the cards (`build_facts` on the same resources), the bands of the thresholds in force."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.drawing import course_drawing
from cds_service.facts.build import build_facts
from cds_service.facts.judgment import judgment_of
from tests.support import fhir as fb

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BAC_10 = ("197391", "baclofen 10 MG Oral Tablet")
BAC_20 = ("197392", "baclofen 20 MG Oral Tablet")
CYCLO_10 = ("828348", "cyclobenzaprine hydrochloride 10 MG Oral Tablet")
SERTRALINE_50 = ("312941", "sertraline 50 MG Oral Tablet")
CIPRO_250 = ("197511", "ciprofloxacin 250 MG Oral Tablet")
OXYCODONE_5 = ("1049621", "oxycodone hydrochloride 5 MG Oral Tablet")
IBUPROFEN_400 = ("197805", "ibuprofen 400 MG Oral Tablet")
CIRRHOSIS = ("K74.60", "Cirrhosis of liver")
CRAMPS = ("R25.2", "Cramp and spasm")


def ago(days: float) -> str:
    return (NOW - timedelta(days=days)).date().isoformat()


def at(days: float) -> str:
    return (NOW - timedelta(days=days)).replace(hour=0, minute=0, second=0).isoformat()


def bundle(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in resources]}


def draw(*resources: dict[str, Any], t: Thresholds = DEFAULT_THRESHOLDS) -> dict[str, Any]:
    return course_drawing(bundle(fb.patient(), *resources), NOW, t)


def relaxant(drawing: dict[str, Any], ingredient: str) -> dict[str, Any]:
    return next(r for r in drawing["relaxants"] if r["ingredient"] == ingredient)


def lab(drawing: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(item for item in drawing["labs"] if item["kind"] == kind)


def cramp_conditions() -> list[dict[str, Any]]:
    return [fb.condition(*CIRRHOSIS, cid="c1"), fb.condition(*CRAMPS, cid="c2")]


def titration_course() -> list[dict[str, Any]]:
    return [
        fb.medication_request(*BAC_10, rid="b1", status="completed", authored_on=ago(21), dose=5, frequency=2,
                              supply_days=7),
        fb.medication_request(*BAC_10, rid="b2", status="completed", authored_on=ago(14), dose=10, frequency=2,
                              supply_days=7),
        fb.medication_request(*BAC_10, rid="b3", status="active", authored_on=ago(7), dose=10, frequency=3,
                              supply_days=30),
    ]  # fmt: skip


def test_a_titration_course_is_drawn_in_steps_with_the_plan_band_and_the_label_maximum() -> None:
    new = fb.draft(*BAC_20, rid="d1", dose=20, frequency=2)
    drawing = draw(*titration_course(), new, *cramp_conditions(), fb.egfr(75, ago(30)))
    baclofen = relaxant(drawing, "baclofen")
    assert [(s["start"], s["mg_per_day"], s["draft"]) for s in baclofen["steps"]] == [
        (at(21), 10, False), (at(14), 20, False), (at(7), 30, False), (NOW.isoformat(), 40, True),
    ]  # fmt: skip
    assert baclofen["steps"][2]["end"] == NOW.isoformat()  # the active order runs to now by its status
    envelope = baclofen["envelope"]
    assert (envelope["plan"], envelope["start_mg_per_day"], envelope["step_mg_per_day"]) == ("the cramp plan", 10, 10)
    assert (envelope["interval_days"], envelope["ceiling_mg_per_day"]) == (7, 30)
    assert envelope["label_max_mg_per_day"] == 80
    assert [(b["start"], b["high"]) for b in envelope["band"]] == [(at(21), 10), (at(14), 20), (at(7), 30)]
    assert envelope["no_labelled_dose"] is None and envelope["kidney"] is None
    assert "40 mg/day ordered now (draft)" in " ".join(drawing["summary"])


def test_without_a_cramp_indication_the_band_is_the_labels_titration() -> None:
    drawing = draw(*titration_course())
    envelope = relaxant(drawing, "baclofen")["envelope"]
    assert (envelope["plan"], envelope["start_mg_per_day"], envelope["step_mg_per_day"]) == ("the label", 15, 15)
    assert envelope["interval_days"] == 3 and envelope["ceiling_mg_per_day"] == 80


def test_the_draft_dose_is_the_dose_the_titration_card_judges() -> None:
    """The picture and the card read the same facts: the card names the draft's 40 mg/day."""
    new = fb.draft(*BAC_20, rid="d1", dose=20, frequency=2)
    drawing = draw(*titration_course(), new, *cramp_conditions())
    request = fb.hook_request("order-sign", drafts=[new], meds=titration_course(), conditions=cramp_conditions())
    facts = build_facts("order-sign", request["context"], request["prefetch"], NOW)
    assert facts.drafts_in_scope[0].daily_dose.mg_per_day == relaxant(drawing, "baclofen")["steps"][-1]["mg_per_day"]


def test_a_renewal_at_the_same_dose_is_one_step() -> None:
    orders = [
        fb.medication_request(*BAC_10, rid="r1", status="completed", authored_on=ago(40), dose=10, frequency=2,
                              supply_days=30),
        fb.medication_request(*BAC_10, rid="r2", status="active", authored_on=ago(10), dose=10, frequency=2,
                              supply_days=30),
    ]  # fmt: skip
    steps = relaxant(draw(*orders), "baclofen")["steps"]
    assert [(s["start"], s["end"], s["mg_per_day"]) for s in steps] == [(at(40), NOW.isoformat(), 20)]
    assert steps[0]["orders"] == ["MedicationRequest/r1", "MedicationRequest/r2"]


def test_a_stopped_course_drops_to_zero_and_a_restart_starts_the_band_again() -> None:
    orders = [
        fb.medication_request(*BAC_10, rid="s1", status="stopped", authored_on=ago(30), dose=10, frequency=3,
                              supply_days=10),
        fb.medication_request(*BAC_10, rid="s2", status="active", authored_on=ago(5), dose=5, frequency=2,
                              supply_days=30),
    ]  # fmt: skip
    baclofen = relaxant(draw(*orders, *cramp_conditions()), "baclofen")
    assert [(s["start"], s["mg_per_day"]) for s in baclofen["steps"]] == [(at(30), 30), (at(20), 0), (at(5), 10)]
    assert baclofen["envelope"]["band"][0]["start"] == at(5)  # the plan counts from the restart
    stopped = next(o for o in baclofen["orders"] if o["order"] == "MedicationRequest/s1")
    assert (stopped["status"], stopped["end"], stopped["end_recorded"]) == ("stopped", at(20), True)


def test_an_order_whose_dose_is_unknown_is_a_gap_in_the_line_not_a_guess() -> None:
    order = fb.medication_request(*BAC_10, rid="u1", authored_on=ago(5), dose=None, frequency=None)
    baclofen = relaxant(draw(order), "baclofen")
    assert [s["mg_per_day"] for s in baclofen["steps"]] == [None]
    assert baclofen["orders"][0]["dose"]  # the reason the facts give


def test_other_relaxants_get_their_label_maximum_only() -> None:
    order = fb.medication_request(*CYCLO_10, rid="c1", authored_on=ago(3), dose=10, frequency=3, supply_days=7)
    cyclo = relaxant(draw(order), "cyclobenzaprine")
    assert cyclo["envelope"]["label_max_mg_per_day"] == 30 and cyclo["envelope"]["band"] == []
    assert cyclo["steps"][0]["mg_per_day"] == 30


@pytest.mark.parametrize(
    ("result", "mmol", "band"),
    [
        (fb.potassium(3.1, ago(2), unit="mEq/L"), 3.1, "info"),
        (fb.potassium(2.9, ago(2), unit="mmol/L"), 2.9, "warning"),
        (fb.potassium(2.4, ago(2)), 2.4, "critical"),
        (fb.potassium(3.5, ago(2)), 3.5, "normal"),  # the edge: < 3.5 is low
        (fb.magnesium(1.4, ago(2), unit="mg/dL"), 0.576, "warning"),
        (fb.magnesium(1.2, ago(2), unit="mEq/L"), 0.6, "info"),  # the edge: < 0.60 is warning
        (fb.magnesium(1.19, ago(2), unit="mEq/L"), 0.595, "warning"),
    ],
)
def test_lab_values_are_converted_and_banded_as_the_cards_read_them(result: dict[str, Any], mmol: float,
                                                                   band: str) -> None:  # fmt: skip
    kind = "potassium" if result["code"]["coding"][0]["code"] in ("2823-3", "6298-4") else "magnesium"
    (point,) = lab(draw(result), kind)["points"]
    assert (point["value"], point["band"]) == (mmol, band)
    request = fb.hook_request("patient-view", potassium_results=[result] if kind == "potassium" else [],
                              magnesium_results=[result] if kind == "magnesium" else [])  # fmt: skip
    facts = build_facts("patient-view", request["context"], request["prefetch"], NOW)
    latest = facts.potassium if kind == "potassium" else facts.magnesium
    assert latest is not None and round(latest.value_mmol_l, 3) == point["value"]


def test_site_thresholds_move_the_bands() -> None:
    site = Thresholds(potassium_low_mmol_per_l=3.8, magnesium_warning_mmol_per_l=0.65)
    drawing = draw(fb.potassium(3.6, ago(2)), fb.magnesium(0.62, ago(2), unit="mmol/L"), t=site)
    potassium = lab(drawing, "potassium")
    assert potassium["bands"][-1] == {"band": "info", "below": 3.8}
    assert potassium["points"][0]["band"] == "info"
    assert lab(drawing, "magnesium")["points"][0]["band"] == "warning"
    assert lab(draw(fb.potassium(3.6, ago(2))), "potassium")["points"][0]["band"] == "normal"


def test_values_beyond_the_plot_range_are_drawn_on_its_edge_and_marked() -> None:
    drawing = draw(fb.potassium(6.8, ago(3)), fb.potassium(1.8, ago(2)))
    points = lab(drawing, "potassium")["points"]
    assert [(p["value"], p["drawn_at"], p["outside"]) for p in points] == [(6.8, 6.0, "above"), (1.8, 2.0, "below")]


def test_unreadable_results_are_listed_not_drawn() -> None:
    drawing = draw(fb.potassium(4.0, ago(3)), fb.potassium(3.0, ago(1), unit="mg/dL"))
    potassium = lab(drawing, "potassium")
    assert [p["value"] for p in potassium["points"]] == [4.0]
    assert potassium["unreadable"][0]["problem"].startswith("unit mg/dL")


def test_no_result_and_results_that_could_not_be_read_are_told_apart() -> None:
    """A prescriber who reads "no result" orders one; one who reads "could not be read" opens the chart."""
    unreadable_only = draw(fb.potassium(3.0, ago(1), unit="mg/dL"), fb.potassium(3.2, ago(4), unit="mg/dL"))
    potassium = lab(unreadable_only, "potassium")
    assert (potassium["results"], potassium["points"], len(potassium["unreadable"])) == ("unreadable", [], 2)
    (line,) = [s for s in unreadable_only["summary"] if s.startswith("Potassium")]
    assert line.startswith("Potassium: 2 result(s) on record, none could be read (unit mg/dL")
    assert line.endswith("check them in the chart.")
    assert lab(unreadable_only, "magnesium")["results"] == "none"
    assert "Magnesium: no result on record." in unreadable_only["summary"]
    mixed = lab(draw(fb.potassium(4.0, ago(3)), fb.potassium(3.0, ago(1), unit="mg/dL")), "potassium")
    assert (mixed["results"], len(mixed["points"]), len(mixed["unreadable"])) == ("drawn", 1, 1)


def test_a_missing_egfr_is_said_and_leaves_the_baclofen_band_with_a_note() -> None:
    drawing = draw(*titration_course())
    assert lab(drawing, "egfr")["points"] == []
    assert lab(drawing, "egfr")["results"] == "none"
    assert "eGFR: no result on record." in drawing["summary"]
    kidney = relaxant(drawing, "baclofen")["envelope"]["kidney"]
    assert kidney == "no eGFR, creatinine, CKD stage or dialysis on record"


def test_egfr_below_30_leaves_no_labelled_baclofen_dose_and_no_band() -> None:
    drawing = draw(*titration_course(), fb.egfr(24, ago(4)))
    envelope = relaxant(drawing, "baclofen")["envelope"]
    assert envelope["band"] == []
    assert envelope["no_labelled_dose"].startswith("no labelled oral baclofen dose at eGFR below 30")
    (point,) = lab(drawing, "egfr")["points"]
    assert (point["value"], point["band"]) == (24, "critical")


def test_egfr_computed_from_creatinine_is_the_renal_facts_value() -> None:
    patient = fb.patient(birth_date="1950-01-01", gender="male")
    creatinine = fb.creatinine(1.6, ago(6))
    drawing = course_drawing(bundle(patient, creatinine), NOW)
    request = fb.hook_request("patient-view", patient_resource=patient, renal_results=[creatinine])
    facts = build_facts("patient-view", request["context"], request["prefetch"], NOW)
    (point,) = lab(drawing, "egfr")["points"]
    assert facts.renal is not None and point["value"] == facts.renal.egfr
    assert point["how"].startswith("CKD-EPI 2021 from creatinine 1.6 mg/dL")


def test_interacting_drugs_are_bars_with_their_kinds() -> None:
    drawing = draw(
        fb.medication_request(*SERTRALINE_50, rid="s1", authored_on=ago(40), dose=50, frequency=1),
        fb.medication_request(*CIPRO_250, rid="c1", status="completed", authored_on=ago(12), dose=250, frequency=2,
                              supply_days=5),
        fb.medication_request(*OXYCODONE_5, rid="o1", authored_on=ago(3), dose=5, frequency=4),
        fb.medication_request(*IBUPROFEN_400, rid="i1", authored_on=ago(3), dose=400, frequency=3),
    )  # fmt: skip
    bars = {b["order"]: (b["kinds"], b["start"], b["end"]) for b in drawing["interacting"]}
    assert bars == {
        "MedicationRequest/s1": (["serotonergic", "cns-active"], at(40), NOW.isoformat()),
        "MedicationRequest/c1": (["cyp1a2-inhibitor"], at(12), at(7)),
        "MedicationRequest/o1": (["cns-active"], at(3), NOW.isoformat()),
    }  # ibuprofen is none of these


def test_the_band_is_the_orders_dose_judgment() -> None:
    """The envelope reads the facts layer's judgment of the order (issue 19), the record the cards read."""
    new = fb.draft(*BAC_20, rid="d1", dose=20, frequency=2)
    resources = [*titration_course(), new, *cramp_conditions(), fb.egfr(45, ago(3))]
    envelope = relaxant(draw(*resources), "baclofen")["envelope"]
    request = fb.hook_request("order-sign", drafts=[new], meds=titration_course(), conditions=cramp_conditions(),
                              renal_results=[fb.egfr(45, ago(3))])  # fmt: skip
    facts = build_facts("order-sign", request["context"], request["prefetch"], NOW)
    judgment = judgment_of(facts, facts.drafts_in_scope[0], DEFAULT_THRESHOLDS)
    assert (envelope["start_mg_per_day"], envelope["step_mg_per_day"], envelope["interval_days"]) == (
        judgment.start_mg_per_day, judgment.step_mg_per_day, judgment.interval_days
    )  # fmt: skip
    assert envelope["ceiling_mg_per_day"] == judgment.plan_ceiling_mg_per_day
    assert envelope["label_max_mg_per_day"] == judgment.label_max_mg_per_day
    assert envelope["kidney"].startswith("eGFR result 45") and "(reduced)" in envelope["kidney"]


def test_the_launching_cards_order_is_the_one_judged() -> None:
    new = fb.draft(*BAC_20, rid="d1", dose=20, frequency=2)
    records = bundle(fb.patient(), *titration_course(), new, *cramp_conditions())
    assert relaxant(course_drawing(records, NOW), "baclofen")["judged_order"] == "MedicationRequest/d1"
    focused = course_drawing(records, NOW, focus={"order": "MedicationRequest/b3", "topic": "baclofen-withdrawal"})
    assert relaxant(focused, "baclofen")["judged_order"] == "MedicationRequest/b3"
    assert focused["focus"] == {"order": "MedicationRequest/b3", "topic": "baclofen-withdrawal"}


def test_an_intravenous_antidote_is_not_drawn_as_an_oral_dose() -> None:
    """IV dantrolene for malignant hyperthermia has its own label: no oral dose line, no oral maximum."""
    iv = fb.medication_request("1667826", "dantrolene sodium 20 MG Injection", rid="iv1", authored_on=ago(0),
                               dose=200, frequency=1, route="intravenous")  # fmt: skip
    assert [r["ingredient"] for r in draw(iv)["relaxants"]] == []
    oral = {**iv, "dosageInstruction": [{**iv["dosageInstruction"][0], "route": {"text": "oral"}}]}
    assert [r["ingredient"] for r in draw(oral)["relaxants"]] == ["dantrolene"]  # the same order by mouth is drawn
