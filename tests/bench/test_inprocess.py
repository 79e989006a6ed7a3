"""bench/inprocess.py runs end to end with tiny numbers (a smoke test: no timing is asserted)."""

from __future__ import annotations

from bench import inprocess


def test_summary_orders_and_picks_percentiles() -> None:
    s = inprocess.summary([5.0, 1.0, 3.0, 2.0, 4.0])
    assert s == {"n": 5, "median_ms": 3.0, "p95_ms": 5.0, "max_ms": 5.0}


def test_measure_runs_every_phase_with_tiny_numbers(capsys: object) -> None:
    result = inprocess.measure(patients=4, heavy_patients=2, repeat=2, first_runs=1)
    for key in ("warm", "cold", "facts_rules_warm", "facts_rules_cold", "heavy_warm", "heavy_cold"):
        assert result[key]["n"] >= 1 and result[key]["median_ms"] > 0, key
    assert result["cold"]["n"] == 2  # the 4 patients less the warm one and the first after warm-up
    assert result["first_after_import"]["runs"][0]["first_call_ms"] > 0
    assert result["first_call_after_warm_up_ms"] > 0
    assert set(result["ratios"]) >= {"cold_over_warm", "first_after_import_over_warm", "first_after_warm_up_over_warm"}
    inprocess.report(result)
