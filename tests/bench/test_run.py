"""bench/run.py's verdicts and report on a synthetic result (no servers, no timing asserted)."""

from __future__ import annotations

from typing import Any

from bench import run


def _result(ours_rps: float, ours_2w_rps: float, heavy_cold_ms: float) -> dict[str, Any]:
    def wrk(rps: float, p99: float = 3.0) -> dict[str, Any]:
        return {"rps": rps, "p50_ms": 1.0, "p90_ms": 2.0, "p99_ms": p99, "non_2xx": 0, "cycles": 1.0}

    bare = {"repeated_c1": wrk(100), "repeated_c16": wrk(100), "distinct_c16": wrk(100)}
    return {
        "ours_1w": {"repeated_c1": wrk(ours_rps), "repeated_c16": wrk(ours_rps), "distinct_c16": wrk(ours_rps)},
        "bare_1w": bare,
        "ours_2w": {"distinct_c16": wrk(ours_2w_rps)},
        "bare_2w": {"distinct_c16": wrk(190)},
        "heavy_http": {"cold": {"median_ms": heavy_cold_ms, "p95_ms": 1.0, "n": 1}, "warm": {"median_ms": 1.0, "n": 1}},
        "first_call_after_start": {
            "runs": [{"ready_s": 1.0}],
            "median_first_ms": 2.0,
            "median_warm_ms": 1.0,
            "median_ratio": 2.0,
            "max_ratio": 2.5,
        },
        "bodies": {
            "typical": {
                "resources": 81,
                "bytes": 59000,
                "medications": 40,
                "conditions": 20,
                "potassium": 10,
                "magnesium": 10,
            },
            "heavy": {"resources": 221, "bytes": 160000},
        },
        "machine": {"cpus": 2, "python": "3.11", "load_average_at_start": (1, 1, 1), "load_average_at_end": (1, 1, 1)},
        "cards_in_typical_response": 2,
        "response_bytes": 100,
        "topics_seen": {},
        "options": {"patients": 2000},
        "no_prefetch": {
            "fhir_delay_ms": 50,
            "fetched": {"median_ms": 60},
            "with_prefetch": {"median_ms": 5},
            "extra_ms": 55,
        },
        "rss_start_mb": 100,
        "rss_after_distinct_mb": 110,
    }


def test_targets_pass_and_fail_on_the_issue_thresholds(capsys: Any) -> None:
    good = run.targets(_result(ours_rps=80, ours_2w_rps=150, heavy_cold_ms=40), 2)
    assert {t["target"]: t["result"] for t in good} == {
        "distinct patients: rps ours/bare": "PASS",
        "distinct patients: p99 ours/bare": "PASS",
        "one patient repeated: rps ours/bare": "PASS",
        "heavy patient cold, HTTP median ms": "PASS",
        "2 workers / 1, distinct patients": "PASS",
        "first call after start / warm (median)": "PASS",
        "check: ours non-2xx (503 shed) in wrk runs": "PASS",
        "soak: memory flat": "not run",
    }
    bad = run.targets(_result(ours_rps=40, ours_2w_rps=60, heavy_cold_ms=80), 2)
    assert [t["result"] for t in bad][:5] == ["FAIL", "PASS", "FAIL", "FAIL", "FAIL"]
    result = _result(80, 150, 40)
    result["targets"] = good
    run.report(result, 2)
    assert "2 workers / 1, distinct patients" in capsys.readouterr().out


def test_a_soak_that_lost_audit_rows_is_not_a_valid_run() -> None:
    """The audit writer falling behind shows as RSS growth first, then as lost rows: both judged."""
    result = _result(ours_rps=80, ours_2w_rps=150, heavy_cold_ms=40)
    result["soak"] = {"rss_slope_second_half_mb_per_min": 0.5}
    result["audit_after_soak"] = {"pending": 0, "written": 77945, "lost": 6150}
    verdicts = {t["target"]: t["result"] for t in run.targets(result, 2)}
    assert verdicts["soak: RSS slope, 2nd half, MB/min"] == "PASS"
    assert verdicts["check: audit rows lost by the end of the soak"] == "FAIL"
    result["audit_after_soak"]["lost"] = 0
    verdicts = {t["target"]: t["result"] for t in run.targets(result, 2)}
    assert verdicts["check: audit rows lost by the end of the soak"] == "PASS"


def test_slope_is_megabytes_per_second() -> None:
    assert run.slope([(0.0, 100.0), (60.0, 106.0), (120.0, 112.0)]) == 0.1
    assert run.slope([(0.0, 100.0)]) == 0.0


def test_wrk_reports_are_read_in_milliseconds_with_their_errors() -> None:
    from bench.wrk import parse_report

    report = parse_report(
        "  Latency Distribution\n     50%    1.50ms\n     90%  820.00us\n     99%    2.10s\n"
        "  1234 requests in 3.00s, 1.0MB read\n  Socket errors: connect 0, read 0, write 0, timeout 7\n"
        "  Non-2xx or 3xx responses: 3\nRequests/sec:    411.33\n"
    )
    assert (report["p50_ms"], report["p99_ms"], report["rps"]) == (1.5, 2100.0, 411.33)
    assert round(report["p90_ms"], 3) == 0.82
    assert (report["requests"], report["non_2xx"], report["socket_timeouts"]) == (1234, 3, 7)
