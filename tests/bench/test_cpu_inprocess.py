"""bench/cpu_inprocess.py runs one round end to end with tiny numbers, in a process of its own as the
bench runs it (a smoke test: no timing is asserted)."""

from __future__ import annotations

from bench import cpu_inprocess
from bench.generate import bodies


def test_a_round_measures_warm_cold_and_encounter_calls() -> None:
    spec = {
        "typical": [str(path) for path in bodies("typical", range(2))],
        "facts": [str(bodies("typical", [cpu_inprocess.ENCOUNTER_SEEDS - 1])[0])],
        "repeat": 2,
        "encounter_seeds": [cpu_inprocess.ENCOUNTER_SEEDS],
    }
    result = cpu_inprocess.run_round(spec)
    for key in ("warm", "cold", "facts_rules_cold"):
        assert result[key]["median_ms"] > 0, key
    encounter = result["encounter"]
    for key, calls in (("first", 1), ("later", 4), ("again", 1)):  # one patient: chart, 3 selects, sign
        assert encounter[key]["n"] == calls and encounter[key]["median_ms"] > 0, key
    # calls 2-5 each report the memo misses they caused: a count, 0 when every fact was reused
    assert isinstance(encounter["later_memo_misses_per_call"], float | int)
    assert encounter["later_memo_misses_per_call"] >= 0
