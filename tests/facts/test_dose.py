"""Daily dose arithmetic and supply duration: every timing shape, unit, range, PRN and bad value."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cds_service.facts.dose import Strength, daily_dose, frequency_from_code, supply_duration
from cds_service.facts.labs import to_mmol_per_l
from cds_service.facts.model import DailyDose, LabKind

UCUM = "http://unitsofmeasure.org"
TAB10 = Strength(10.0, False, "test")
LIQUID_5_PER_ML = Strength(5.0, True, "test")


def qty(value: Any, code: str | None = "mg", unit: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"value": value}
    if code is not None:
        out.update(system=UCUM, code=code)
    if unit is not None:
        out["unit"] = unit
    return out


def dosage(dose: dict[str, Any] | None = None, **timing: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if dose is not None:
        out["doseAndRate"] = [{"doseQuantity": dose}]
    if timing:
        out["timing"] = timing
    return out


def repeat(frequency: float | None = None, period: float = 1, unit: str = "d", **more: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"period": period, "periodUnit": unit, **more}
    if frequency is not None:
        out["frequency"] = frequency
    return out


def code(value: str, text: str | None = None) -> dict[str, Any]:
    concept: dict[str, Any] = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": value}]
    }
    if text:
        concept["text"] = text
    return concept


# (id, dosage instructions, strength, expected mg/day)
KNOWN_CASES: list[tuple[str, list[dict[str, Any]], Strength | None, float]] = [
    ("mg-tid-repeat", [dosage(qty(10), repeat=repeat(3))], None, 30),
    ("g-daily", [dosage(qty(1, "g"), repeat=repeat(1))], None, 1000),
    ("mcg-daily-intrathecal", [dosage(qty(300, "ug"), repeat=repeat(1))], None, 0.3),
    ("mcg-word-unit", [dosage(qty(50, None, "mcg"), repeat=repeat(2))], None, 0.1),
    ("mg-unit-text-only", [dosage(qty(5, None, "MG"), repeat=repeat(3))], None, 15),
    ("tablets-tbl", [dosage(qty(2, "{tbl}"), repeat=repeat(3))], TAB10, 60),
    ("tablets-pill", [dosage(qty(1, "{pill}"), repeat=repeat(1))], TAB10, 10),
    ("capsule-ucum", [dosage(qty(1, "{Capsule}"), repeat=repeat(2))], TAB10, 20),
    ("TAB-word", [dosage(qty(1, None, "TAB"), repeat=repeat(4))], TAB10, 40),
    ("tbl-no-braces", [dosage(qty(0.5, "tbl"), repeat=repeat(2))], TAB10, 10),
    ("mL-liquid", [dosage(qty(2, "mL"), repeat=repeat(3))], LIQUID_5_PER_ML, 30),
    ("every-8-hours", [dosage(qty(5), repeat=repeat(1, 8, "h"))], None, 15),
    ("weekly", [dosage(qty(70), repeat=repeat(1, 1, "wk"))], None, 10),
    ("monthly", [dosage(qty(300), repeat=repeat(1, 1, "mo"))], None, 10),
    ("every-4-to-6-h-uses-shortest", [dosage(qty(5), repeat=repeat(1, 4, "h", periodMax=6))], None, 30),
    ("frequency-max", [dosage(qty(10), repeat=repeat(1, frequencyMax=3))], None, 30),
    ("time-of-day", [dosage(qty(10), repeat={"timeOfDay": ["08:00:00", "20:00:00"]})], None, 20),
    ("when", [dosage(qty(10), repeat={"when": ["MORN", "HS"]})], None, 20),
    ("code-QD", [dosage(qty(20), code=code("QD"))], None, 20),
    ("code-BID", [dosage(qty(10), code=code("BID"))], None, 20),
    ("code-TID", [dosage(qty(10), code=code("TID"))], None, 30),
    ("code-QID", [dosage(qty(10), code=code("QID"))], None, 40),
    ("code-Q4H", [dosage(qty(5), code=code("Q4H"))], None, 30),
    ("code-Q6H", [dosage(qty(5), code=code("Q6H"))], None, 20),
    ("code-Q8H", [dosage(qty(5), code=code("Q8H"))], None, 15),
    ("code-Q12H", [dosage(qty(5), code=code("Q12H"))], None, 10),
    ("code-QOD", [dosage(qty(10), code=code("QOD"))], None, 5),
    ("code-AM", [dosage(qty(10), code=code("AM"))], None, 10),
    ("code-PM", [dosage(qty(10), code=code("PM"))], None, 10),
    ("code-HS", [dosage(qty(10), code=code("HS"))], None, 10),
    ("code-QHS", [dosage(qty(10), code=code("QHS"))], None, 10),
    ("code-text-Q6H-PRN", [{**dosage(qty(5)), "timing": {"code": {"text": "Q6H PRN"}}}], None, 20),
    (
        "range-high-end",
        [{"doseAndRate": [{"doseRange": {"low": qty(5), "high": qty(10)}}], "timing": {"repeat": repeat(3)}}],
        None,
        30,
    ),
    ("root-doseQuantity-epic", [{"doseQuantity": qty(10), "timing": {"repeat": repeat(2)}}], None, 20),
    (
        "prn-counts-every-allowed-dose",
        [{**dosage(qty(10), repeat=repeat(1, 6, "h")), "asNeededBoolean": True}],
        None,
        40,
    ),
    (
        "prn-capped-by-max-dose",
        [
            {
                **dosage(qty(10), repeat=repeat(1, 4, "h")),
                "asNeededBoolean": True,
                "maxDosePerPeriod": {"numerator": qty(30), "denominator": {"value": 1, "unit": "d", "code": "d"}},
            }
        ],
        None,
        30,
    ),
    (
        "prn-without-frequency-uses-max",
        [
            {
                **dosage(qty(1, "{tbl}")),
                "asNeededBoolean": True,
                "maxDosePerPeriod": {"numerator": qty(4, "{tbl}"), "denominator": {"value": 24, "code": "h"}},
            }
        ],
        TAB10,
        40,
    ),
    (
        "concurrent-am-pm-sum",
        [dosage(qty(10), code=code("AM")), dosage(qty(20), code=code("HS"))],
        None,
        30,
    ),
    (
        "sequenced-takes-max",
        [
            {**dosage(qty(5), repeat=repeat(3, boundsDuration={"value": 3, "code": "d"})), "sequence": 1},
            {**dosage(qty(10), repeat=repeat(3)), "sequence": 2},
        ],
        None,
        30,
    ),
]


@pytest.mark.parametrize(
    ("dosages", "strength", "expected"), [c[1:] for c in KNOWN_CASES], ids=[c[0] for c in KNOWN_CASES]
)
def test_daily_dose_known(dosages: list[dict[str, Any]], strength: Strength | None, expected: float) -> None:
    dose = daily_dose(dosages, strength)
    assert dose.unknown_reason is None
    assert dose.mg_per_day == pytest.approx(expected)
    assert dose.explanation.endswith("mg/day")


# (id, dosage instructions, strength, words the reason must contain)
UNKNOWN_CASES: list[tuple[str, Any, Strength | None, str]] = [
    ("no-dosage", [], None, "no dosage"),
    ("free-text-only", [{"text": "10 mg three times a day"}], None, "free text"),
    ("no-frequency", [dosage(qty(10))], None, "no frequency"),
    ("tablets-no-strength", [dosage(qty(1, "{tbl}"), repeat=repeat(3))], None, "strength is unknown"),
    ("mL-but-tablet-product", [dosage(qty(5, "mL"), repeat=repeat(3))], TAB10, "per tablet"),
    ("tablet-but-liquid", [dosage(qty(1, "{tbl}"), repeat=repeat(3))], LIQUID_5_PER_ML, "per mL"),
    ("unknown-unit", [dosage(qty(1, "[iU]"), repeat=repeat(1))], None, "not understood"),
    ("no-unit", [dosage({"value": 10}, repeat=repeat(1))], None, "no unit"),
    ("non-numeric-value", [dosage(qty("ten"), repeat=repeat(1))], None, "not a number"),
    ("negative-value", [dosage(qty(-5), repeat=repeat(1))], None, "negative"),
    ("bad-period-unit", [dosage(qty(10), repeat=repeat(1, 1, "fortnight"))], None, "period unit"),
    ("zero-period", [dosage(qty(10), repeat=repeat(1, 0))], None, "zero"),
    ("unknown-code", [dosage(qty(10), code=code("XYZ"))], None, "not understood"),
    ("prn-without-anything", [{**dosage(qty(10)), "asNeededBoolean": True}], None, "as-needed"),
    (
        "range-without-high",
        [{"doseAndRate": [{"doseRange": {"low": qty(5)}}], "timing": {"repeat": repeat(1)}}],
        None,
        "upper",
    ),
    ("mass-on-combination", [dosage(qty(10), repeat=repeat(1))], None, "combination"),
    ("one-bad-of-two", [dosage(qty(10), code=code("AM")), dosage(qty(1, "{tbl}"), code=code("PM"))], None, "one of 2"),
    ("dosage-not-object", ["bid"], None, "not an object"),
]


@pytest.mark.parametrize(
    ("dosages", "strength", "words"), [c[1:] for c in UNKNOWN_CASES], ids=[c[0] for c in UNKNOWN_CASES]
)
def test_daily_dose_unknown_is_reported_not_guessed(dosages: Any, strength: Strength | None, words: str) -> None:
    combination = words == "combination"
    dose = daily_dose(dosages, strength, combination=combination)
    assert dose.mg_per_day is None
    assert dose.unknown_reason is not None and words in dose.unknown_reason


def test_explanation_is_card_ready() -> None:
    dose = daily_dose([dosage(qty(10), code=code("TID"))])
    assert dose.explanation == "10 mg × TID = 30 mg/day"
    tablets = daily_dose([dosage(qty(2, "{tbl}"), repeat=repeat(1, 12, "h"))], TAB10)
    assert tablets.explanation == "2 tablets × 10 mg/tablet × every 12 h = 40 mg/day"
    assert (tablets.units_per_day, tablets.unit) == (4, "tablet")


def test_prn_and_range_flags() -> None:
    dose = daily_dose(
        [
            {
                "doseAndRate": [{"doseRange": {"low": qty(5), "high": qty(10)}}],
                "timing": {"code": code("Q8H")},
                "asNeededBoolean": True,
            }
        ]
    )
    assert dose.as_needed and dose.from_range
    assert dose.mg_per_day == 30
    assert "up to 10 mg" in dose.explanation and "as needed" in dose.explanation


@pytest.mark.parametrize(
    ("text", "per_day"),
    [("BID", 2), ("bid", 2), ("Q6H PRN", 4), ("q 8 h", 3), ("Q3H", 8), ("twice daily", 2), ("DAILY", 1)],
)
def test_frequency_from_code_text(text: str, per_day: float) -> None:
    found = frequency_from_code(text)
    assert found is not None and found.per_day == pytest.approx(per_day)


@given(
    dose_mg=st.floats(min_value=0.1, max_value=500, allow_nan=False),
)
def test_bid_written_three_ways_gives_same_mg_per_day(dose_mg: float) -> None:
    by_code = daily_dose([dosage(qty(dose_mg), code=code("BID"))])
    by_frequency = daily_dose([dosage(qty(dose_mg), repeat=repeat(2, 1, "d"))])
    by_interval = daily_dose([dosage(qty(dose_mg), repeat=repeat(1, 12, "h"))])
    assert by_code.mg_per_day == pytest.approx(by_frequency.mg_per_day)
    assert by_code.mg_per_day == pytest.approx(by_interval.mg_per_day)
    assert by_code.mg_per_day == pytest.approx(2 * dose_mg)


@given(
    tablets=st.sampled_from([0.5, 1, 1.5, 2, 3]),
    strength=st.sampled_from([2.0, 4.0, 5.0, 10.0, 20.0]),
    per_day=st.integers(min_value=1, max_value=6),
)
def test_tablets_and_mg_agree(tablets: float, strength: float, per_day: int) -> None:
    in_tablets = daily_dose([dosage(qty(tablets, "{tbl}"), repeat=repeat(per_day))], Strength(strength, False, "t"))
    in_mg = daily_dose([dosage(qty(tablets * strength), repeat=repeat(per_day))])
    in_mcg = daily_dose([dosage(qty(tablets * strength * 1000, "ug"), repeat=repeat(per_day))])
    assert in_tablets.mg_per_day == pytest.approx(in_mg.mg_per_day)
    assert in_mcg.mg_per_day == pytest.approx(in_mg.mg_per_day)


@given(mmol=st.floats(min_value=0.05, max_value=10, allow_nan=False))
def test_lab_conversions_round_trip(mmol: float) -> None:
    mg_dl = mmol / 0.4114
    assert to_mmol_per_l(LabKind.MAGNESIUM, mg_dl, "mg/dL") == pytest.approx(mmol, abs=1e-3)
    assert to_mmol_per_l(LabKind.MAGNESIUM, mmol * 2, "mEq/L") == pytest.approx(mmol, abs=1e-3)
    assert to_mmol_per_l(LabKind.POTASSIUM, mmol, "mEq/L") == pytest.approx(mmol, abs=1e-3)
    assert to_mmol_per_l(LabKind.POTASSIUM, mmol, "mmol/L") == pytest.approx(mmol, abs=1e-3)


@pytest.mark.parametrize(
    ("kind", "value", "unit", "expected"),
    [
        (LabKind.MAGNESIUM, 1.6, "mg/dL", 0.6582),
        (LabKind.MAGNESIUM, 1.4, "meq/L", 0.7),
        (LabKind.MAGNESIUM, 0.8, "MMOL/L", 0.8),
        (LabKind.POTASSIUM, 3.4, "mEq/L", 3.4),
        (LabKind.POTASSIUM, 4.0, "mmol/l", 4.0),
        (LabKind.POTASSIUM, 4.0, "mg/dL", None),  # K in mass units only with the mass LOINC code
        (LabKind.MAGNESIUM, 2.0, "mg", None),
    ],
)
def test_lab_unit_table(kind: LabKind, value: float, unit: str, expected: float | None) -> None:
    result = to_mmol_per_l(kind, value, unit)
    assert result == (pytest.approx(expected) if expected is not None else None)


# --- supply ------------------------------------------------------------------------------------

TID_TABLETS = DailyDose(30, units_per_day=3, unit="tablet", usual_mg_per_day=30, usual_units_per_day=3)


def _supply(dispense: dict[str, Any], dose: DailyDose = TID_TABLETS, **kw: Any) -> Any:
    kw.setdefault("validity_start", None)
    kw.setdefault("validity_end", None)
    kw.setdefault("dosages", None)
    return supply_duration(dispense, dose, reference="MedicationRequest/x", **kw)


def test_supply_expected_duration_counts_refills() -> None:
    supply = _supply({"expectedSupplyDuration": {"value": 14, "code": "d"}, "numberOfRepeatsAllowed": 2})
    assert (supply.days, supply.method) == (42, "expectedSupplyDuration")
    assert supply.explanation == "14 days × (1 + 2 refills) = 42 days"


def test_supply_expected_duration_in_weeks() -> None:
    assert _supply({"expectedSupplyDuration": {"value": 2, "unit": "weeks"}}).days == 14


def test_supply_from_quantity_and_tablets_per_day() -> None:
    supply = _supply({"quantity": {"value": 90, "unit": "tablet"}, "numberOfRepeatsAllowed": 1})
    assert (supply.days, supply.method) == (60, "quantity")


def test_supply_from_quantity_when_dosed_in_mg() -> None:
    dose = DailyDose(30, unit="mg", usual_mg_per_day=30)
    supply = _supply({"quantity": {"value": 30, "unit": "tablet"}}, dose, strength=TAB10)
    assert supply.days == 10


def test_a_validity_period_is_not_a_course_length_bounds_are() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = datetime(2026, 11, 15, tzinfo=UTC)
    assert _supply({}, validity_start=start, validity_end=end).days is None
    bounded = _supply({}, dosages=[{"timing": {"repeat": {"boundsDuration": {"value": 5, "code": "d"}}}}])
    assert (bounded.days, bounded.method) == (5, "boundsDuration")
    period = _supply(
        {}, dosages=[{"timing": {"repeat": {"boundsPeriod": {"start": "2026-11-01", "end": "2026-11-08"}}}}]
    )
    assert (period.days, period.method) == (7, "boundsPeriod")


def test_supply_unknown_when_nothing_given() -> None:
    supply = _supply({"quantity": {"value": 90, "unit": "tablet"}}, DailyDose(None, unknown_reason="x"))
    assert supply.days is None


@pytest.mark.parametrize("unit", ["packet", "{packet}", "Packet", "sachet", "each", "{each}", "EA"])
def test_single_dose_units_take_the_strength_from_the_product(unit: str) -> None:
    """Issue 19, item 8: Lyvispah "1 packet three times a day", 10 mg per packet, is 30 mg/day."""
    dosage = {
        "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
        "doseAndRate": [{"doseQuantity": {"value": 1, "unit": unit}}],
    }
    dose = daily_dose([dosage], Strength(10.0, False, "Medication.ingredient.strength"))
    assert dose.mg_per_day == 30.0 and dose.units_per_day == 3.0
    assert daily_dose([dosage]).unknown_reason is not None  # no strength: never guessed


def test_a_packet_dose_of_a_liquid_is_not_read() -> None:
    dosage = {"timing": {"code": {"text": "TID"}}, "doseAndRate": [{"doseQuantity": {"value": 1, "unit": "packet"}}]}
    assert daily_dose([dosage], Strength(5.0, True, "RxNorm table")).mg_per_day is None
