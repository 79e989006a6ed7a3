"""bench/run.py's verdicts and report on a synthetic result (no servers, no timing asserted)."""

from __future__ import annotations

import asyncio
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
            "median_cold_ms": 1.5,
            "median_ratio_cold": 1.33,
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
        "peer": {"status": "healthchain 0.16.1", "noop": wrk(60, 5.0), "validate": wrk(10, 30.0)},
        "encounter": {"patients": 2000, "ours": wrk(ours_rps * 0.5), "bare": wrk(100)},
        "open_loop": {
            "rate": 100.0,
            "seconds": 300,
            "patients": 2000,
            "p50_ms": 4.0,
            "p99_ms": 12.0,
            "p999_ms": 40.0,
            "max_ms": 80.0,
            "ok": 30000,
            "errors": 0,
            "audit_rows_lost": 0,
            "audit": {},
            "send_lag_p99_ms": 0.5,
        },
    }


def test_targets_pass_and_fail_on_the_issue_thresholds(capsys: Any) -> None:
    good = run.targets(_result(ours_rps=80, ours_2w_rps=150, heavy_cold_ms=40), 2)
    assert {t["target"]: t["result"] for t in good} == {
        "distinct patients: rps ours/HealthChain no-op": "PASS",  # 80 against 60
        "distinct patients: p99 ours/bare": "PASS",
        "encounter traffic: rps ours/bare": "PASS",  # 40 against 100
        "open loop 100/s: p99 ms": "PASS",
        "open loop 100/s: p99.9 ms": "PASS",
        "open loop: errors": "PASS",
        "open loop: audit rows lost": "PASS",
        "heavy patient cold, HTTP median ms": "PASS",
        "2 workers / 1, distinct patients": "PASS",
        "first call after start / cold (median)": "PASS",
        "check: ours non-2xx (503 shed) in wrk runs": "PASS",
        "soak: memory flat": "not run",
    }
    bad = run.targets(_result(ours_rps=40, ours_2w_rps=60, heavy_cold_ms=80), 2)
    verdicts = {t["target"]: t["result"] for t in bad}
    assert verdicts["distinct patients: rps ours/HealthChain no-op"] == "FAIL"  # 40 against 60
    assert verdicts["encounter traffic: rps ours/bare"] == "FAIL"  # 20 against 100
    assert verdicts["heavy patient cold, HTTP median ms"] == "FAIL"
    assert verdicts["2 workers / 1, distinct patients"] == "FAIL"
    result = _result(80, 150, 40)
    result["targets"] = good
    run.report(result, 2)
    out = capsys.readouterr().out
    assert "2 workers / 1, distinct patients" in out and "HealthChain noop" in out and "open loop" in out


def test_an_open_loop_run_fails_on_its_tail_its_errors_and_lost_audit_rows() -> None:
    result = _result(ours_rps=80, ours_2w_rps=150, heavy_cold_ms=40)
    result["open_loop"].update(p99_ms=15.5, p999_ms=50.0, errors=2, audit_rows_lost=1)
    verdicts = {t["target"]: t["result"] for t in run.targets(result, 2)}
    assert verdicts["open loop 100/s: p99 ms"] == "FAIL"
    assert verdicts["open loop 100/s: p99.9 ms"] == "PASS"  # the bound itself passes
    assert verdicts["open loop: errors"] == "FAIL" and verdicts["open loop: audit rows lost"] == "FAIL"


def test_phases_that_did_not_run_are_reported_not_run_never_passed() -> None:
    result = _result(ours_rps=80, ours_2w_rps=150, heavy_cold_ms=40)
    result["peer"] = {"status": "healthchain 0.16.1 could not be installed (no index)"}
    del result["encounter"], result["open_loop"]
    verdicts = {t["target"]: t["result"] for t in run.targets(result, 2)}
    assert verdicts["distinct patients: rps ours/HealthChain no-op"] == "not run"
    assert verdicts["encounter traffic: rps ours/bare"] == "not run"
    assert verdicts["open loop at 100/s"] == "not run"


def test_open_loop_percentiles_are_nearest_rank_over_every_call() -> None:
    from bench.openloop import percentile, summarize

    values = [float(v) for v in range(1, 1001)]  # 1..1000 ms
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 99.9)) == (500.0, 990.0, 999.0)
    assert percentile([], 99) == 0.0
    summary = summarize(list(reversed(values)), errors=3, lags_ms=[0.1, 0.2], seconds=10, rate=100)
    assert (summary["sent"], summary["ok"], summary["errors"], summary["max_ms"]) == (1003, 1000, 3, 1000.0)


def test_open_loop_requests_are_complete_http_requests_to_each_path() -> None:
    from bench.openloop import format_requests

    (request,) = format_requests("http://127.0.0.1:9/x", [("/cds-services/a", b'{"k": 1}')])
    head, _, body = request.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /cds-services/a HTTP/1.1\r\nHost: 127.0.0.1:9\r\n")
    assert b"Content-Length: 8" in head and body == b'{"k": 1}'


def test_the_wrk_script_posts_each_encounter_call_to_its_own_service(tmp_path: Any) -> None:
    files = [tmp_path / "a.json", tmp_path / "b.json"]
    script = run.wrk_script([("/cds-services/muscle-spasm-patient-view", files[0]), ("", files[1])], tmp_path)
    manifest = next(tmp_path.glob("bodies-2-*.txt")).read_text().splitlines()
    assert manifest == [f"/cds-services/muscle-spasm-patient-view\t{files[0]}", f"\t{files[1]}"]
    assert "wrk.format(nil, path, nil" in script.read_text()


def test_an_encounter_is_five_calls_on_one_record_with_the_order_form_changing() -> None:
    from bench.encounter import encounter

    calls = encounter(11)
    assert [request["hook"] for _, request in calls] == [
        "patient-view", "order-select", "order-select", "order-select", "order-sign"
    ]  # fmt: skip
    assert [path.rsplit("-", 1)[-1] for path, _ in calls] == ["view", "select", "select", "select", "sign"]
    assert len({request["hookInstance"] for _, request in calls}) == 5
    assert all(request["prefetch"] == calls[0][1]["prefetch"] for _, request in calls)
    drafts = [request["context"]["draftOrders"]["entry"][0]["resource"] for _, request in calls[1:]]
    assert drafts[0] != drafts[2] and drafts[2] == drafts[3]  # the form changed, then was signed as is


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
    from bench.phases import slope

    assert slope([(0.0, 100.0), (60.0, 106.0), (120.0, 112.0)]) == 0.1
    assert slope([(0.0, 100.0)]) == 0.0


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


def test_the_open_loop_discards_a_connection_the_server_closed_while_idle_and_counts_errors_by_kind() -> None:
    """A keep-alive connection idle past the server's timeout is closed by the server; sending on it
    fails whatever the server's health (the 20 'errors' of the 7 December open loop were all these).
    The generator checks, as HTTP clients do, and still counts a real failure by its kind."""
    from bench.openloop import format_requests, run_open_loop

    async def scenario() -> dict[str, Any]:
        answered = 0

        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal answered
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            answered += 1
            status = b"200 OK" if answered < 4 else b"503 Service Unavailable"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 2\r\n\r\n{}")
            await writer.drain()
            writer.close()  # then closes it, as a server does with an idle keep-alive connection

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        async with server:
            return await run_open_loop(url, format_requests(url, [("/x", b"{}")]), rate=20, seconds=0.25)

    result = asyncio.run(scenario())
    assert result["sent"] == 5
    assert result["ok"] == 3 and result["errors"] == 2  # the 4th and 5th answers are 503s
    assert result["errors_by_kind"] == {"HTTP 503": 2}
    assert result["stale_connections_discarded"] >= 1


def test_the_report_gives_each_servers_cpu_per_call_where_it_was_measured(capsys: Any) -> None:
    result = _result(80, 150, 40)
    result["targets"] = run.targets(result, 2)
    result["ours_1w"]["distinct_c16"]["server_cpu_ms_per_call"] = 3.3
    result["peer"]["noop"]["server_cpu_ms_per_call"] = 1.45
    run.report(result, 2)
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("server CPU per answered call"))
    assert "ours 3.3 ms" in line and "HealthChain no-op 1.45 ms" in line and "bare" not in line  # bare: not measured


def test_server_cpu_counts_the_whole_process_tree(tmp_path: Any) -> None:
    """The audit writer is a child of a worker, itself a child of uvicorn's supervisor: CPU burnt by a
    grandchild is the server's."""
    import subprocess
    import sys

    from bench.phases import tree_cpu_seconds

    burn = "import time\nwhile time.process_time() < 0.3: pass\nprint('burnt', flush=True)\ntime.sleep(60)"
    outer = (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', {burn!r}], stdout=sys.stdout)\n"
        "time.sleep(60)"
    )
    proc = subprocess.Popen([sys.executable, "-c", outer], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "burnt"
        assert tree_cpu_seconds(proc.pid) >= 0.3
    finally:
        subprocess.run(["pkill", "-P", str(proc.pid)], check=False)
        proc.kill()
        proc.wait()


def test_the_report_gives_ours_with_every_rule_off_beside_the_peer(capsys: Any) -> None:
    result = _result(80, 150, 40)
    result["ours_no_rules"] = {"rps": 50.0, "p50_ms": 1.0, "p99_ms": 6.0, "non_2xx": 0, "cycles": 1.0,
                               "server_cpu_ms_per_call": 2.5}  # fmt: skip
    result["targets"] = run.targets(result, 2)
    run.report(result, 2)
    out = capsys.readouterr().out.splitlines()
    rows = [x for x in out if x.startswith("ours, every rule switched off")]
    assert len(rows) == 1, out  # in the table once, not also while the targets are judged
    row = rows[0]
    assert row.split()[5:8] == ["50", "100", "0.50"]  # calls/s, bare's, the ratio
    assert "ours, every rule off 2.5 ms" in next(x for x in out if x.startswith("server CPU per answered call"))


def test_every_rule_is_switched_off_by_the_no_rules_configuration(tmp_path: Any) -> None:
    from bench import phases
    from cds_service.ruleset import build_rule_sets
    from cds_service.settings import load_settings

    settings = load_settings(phases.no_rules_config(tmp_path), dev=True)
    site, _ = build_rule_sets(settings.rules, {})
    assert site.rules == ()
