"""bench/run.py's verdicts and printed report: the issue's targets as PASS/FAIL ("not run" when a phase
was skipped), from the results dictionary alone (tests/bench/test_run.py checks them on synthetic
results)."""

from __future__ import annotations

from typing import Any

from bench import inprocess

# Issue 22's targets (issue 13's 0.5× and 0.7× bare were withdrawn; their ratios are still printed).
TARGETS = {
    "distinct_rps_over_peer": 1.0,  # ours / HealthChain's no-op handler, N distinct patients, 1 worker
    "distinct_p99_ratio": 3.0,  # ours/bare p99, same run
    "encounter_rps_ratio": 0.35,  # ours/bare rps, encounter-shaped traffic
    "openloop_p99_ms": 15.0,  # open loop at 100 calls/s, 1 worker, N distinct patients
    "openloop_p999_ms": 50.0,
    "heavy_cold_ms": 50.0,  # median, single requests, heavy patients not seen before
    "two_worker_scaling": 1.8,  # ours 2 workers / 1 worker, distinct patients
    "first_call_over_cold": 2.0,  # first call after start / median of patients not seen before, same process
    "soak_slope_mb_per_min": 1.0,  # RSS slope over the second half of the soak: "flat"
    "inprocess_cold_ms": 3.0,  # in process, patient not seen before (median)
    "inprocess_cold_over_warm": 4.0,
}


def targets(r: dict[str, Any], workers: int) -> list[dict[str, Any]]:
    """The issue's targets: name, measured value, target, PASS/FAIL (or "not run")."""
    ours, bare = r["ours_1w"], r["bare_1w"]

    def ratio(a: float, b: float) -> float:
        return round(a / b, 2) if b else float("inf")

    rows: list[tuple[str, float | None, str, bool | None]] = []
    peer_noop = (r.get("peer") or {}).get("noop")
    if peer_noop:
        over_peer = ratio(ours["distinct_c16"]["rps"], peer_noop["rps"])
        goal = TARGETS["distinct_rps_over_peer"]
        rows.append(("distinct patients: rps ours/HealthChain no-op", over_peer, f">= {goal}", over_peer >= goal))
    else:
        rows.append(("distinct patients: rps ours/HealthChain no-op", None, "peer skipped", None))
    d_p99 = ratio(ours["distinct_c16"]["p99_ms"], bare["distinct_c16"]["p99_ms"])
    rows.append(("distinct patients: p99 ours/bare", d_p99, f"<= {TARGETS['distinct_p99_ratio']:g}",
                 d_p99 <= TARGETS["distinct_p99_ratio"]))  # fmt: skip
    enc = r.get("encounter")
    if enc:
        e_rps = ratio(enc["ours"]["rps"], enc["bare"]["rps"])
        rows.append(("encounter traffic: rps ours/bare", e_rps, f">= {TARGETS['encounter_rps_ratio']}",
                     e_rps >= TARGETS["encounter_rps_ratio"]))  # fmt: skip
    else:
        rows.append(("encounter traffic: rps ours/bare", None, "not run", None))
    cpu = _server_cpu(r, workers)
    if cpu:
        print("server CPU per answered call (its process tree, /proc; holds on a busy machine): " + ", ".join(cpu))
    loop = r.get("open_loop")
    if loop:
        rows += [
            (f"open loop {loop['rate']:g}/s: p99 ms", loop["p99_ms"], f"<= {TARGETS['openloop_p99_ms']:g}",
             loop["p99_ms"] <= TARGETS["openloop_p99_ms"]),
            (f"open loop {loop['rate']:g}/s: p99.9 ms", loop["p999_ms"], f"<= {TARGETS['openloop_p999_ms']:g}",
             loop["p999_ms"] <= TARGETS["openloop_p999_ms"]),
            ("open loop: errors", loop["errors"], "0", loop["errors"] == 0),
            ("open loop: audit rows lost", loop["audit_rows_lost"], "0", loop["audit_rows_lost"] == 0),
        ]  # fmt: skip
    else:
        rows.append(("open loop at 100/s", None, "not run", None))
    heavy_cold = r["heavy_http"]["cold"]["median_ms"]
    scaling = ratio(r[f"ours_{workers}w"]["distinct_c16"]["rps"], ours["distinct_c16"]["rps"])
    first = r["first_call_after_start"]
    first_ratio = first.get("median_ratio_cold")
    rows += [
        ("heavy patient cold, HTTP median ms", heavy_cold, f"<= {TARGETS['heavy_cold_ms']:g}",
         heavy_cold <= TARGETS["heavy_cold_ms"]),
        (f"{workers} workers / 1, distinct patients", scaling, f">= {TARGETS['two_worker_scaling']}",
         scaling >= TARGETS["two_worker_scaling"]),
        ("first call after start / cold (median)", first_ratio, f"<= {TARGETS['first_call_over_cold']:g}",
         None if first_ratio is None else first_ratio <= TARGETS["first_call_over_cold"]),
    ]  # fmt: skip
    shed = sum(run["non_2xx"] for key in ("ours_1w", f"ours_{workers}w") for run in r[key].values())
    rows.append(("check: ours non-2xx (503 shed) in wrk runs", shed, "0 (validity)", shed == 0))
    if "soak" in r:
        s = r["soak"]["rss_slope_second_half_mb_per_min"]
        rows.append(("soak: RSS slope, 2nd half, MB/min", s, f"<= {TARGETS['soak_slope_mb_per_min']:g}",
                     s <= TARGETS["soak_slope_mb_per_min"]))  # fmt: skip
        audit = r.get("audit_after_soak") or {}
        lost = audit.get("lost")
        if lost is not None:  # the audit writer fell behind the calls (its queue grows in RSS, then drops rows)
            rows.append(("check: audit rows lost by the end of the soak", lost, "0 (validity)", lost == 0))
    else:
        rows.append(("soak: memory flat", None, "--soak 300", None))
    if "inprocess" in r:
        cold = r["inprocess"]["cold"]["median_ms"]
        cold_warm = r["inprocess"]["ratios"]["cold_over_warm"]
        rows += [
            ("in process cold, median ms", cold, f"<= {TARGETS['inprocess_cold_ms']:g}",
             cold <= TARGETS["inprocess_cold_ms"]),
            ("in process cold / warm", cold_warm, f"<= {TARGETS['inprocess_cold_over_warm']:g}",
             cold_warm <= TARGETS["inprocess_cold_over_warm"]),
        ]  # fmt: skip
    return [
        {
            "target": name,
            "measured": None if value is None else round(value, 2),
            "goal": goal,
            "result": "not run" if ok is None else "PASS" if ok else "FAIL",
        }
        for name, value, goal, ok in rows
    ]


def report(r: dict[str, Any], workers: int) -> None:
    b = r["bodies"]
    print(
        f"\nmachine: {r['machine']['cpus']} cpus, Python {r['machine']['python']}, load average "
        f"{r['machine']['load_average_at_start'][0]:.1f} at start, {r['machine']['load_average_at_end'][0]:.1f} at end"
    )
    print(
        f"typical body: {b['typical']['resources']} resources, {b['typical']['bytes'] / 1000:.1f} kB "
        f"({b['typical']['medications']} orders, {b['typical']['conditions']} conditions, "
        f"{b['typical']['potassium']} K + {b['typical']['magnesium']} Mg); heavy body: {b['heavy']['resources']} "
        f"resources, {b['heavy']['bytes'] / 1000:.1f} kB; {r['cards_in_typical_response']} cards in the typical "
        f"response ({r['response_bytes']} bytes)"
    )
    print(f"card topics over 20 typical / 3 heavy patients: {r['topics_seen']}")
    print(
        f"\n{'1 worker unless said':<34}{'ours rps':>9}{'bare rps':>9}{'ratio':>7}{'ours p50':>9}{'ours p99':>9}"
        f"{'bare p50':>9}{'bare p99':>9}{'p99 ×':>7}{'cycles':>7}"
    )
    ours_w, bare_w = f"ours_{workers}w", f"bare_{workers}w"
    rows = [
        ("warm: 1 patient, 1 conn", "ours_1w", "bare_1w", "repeated_c1"),
        ("warm: 1 patient, 16 conns", "ours_1w", "bare_1w", "repeated_c16"),
        (f"cold: {r['options']['patients']} patients, 16 conns", "ours_1w", "bare_1w", "distinct_c16"),
        (f"cold, {workers} workers, 16 conns", ours_w, bare_w, "distinct_c16"),
    ]
    for label, ours_key, bare_key, run in rows:
        o, x = r[ours_key][run], r[bare_key][run]
        flag = "" if not (o["non_2xx"] or x["non_2xx"]) else f"  non-2xx ours {o['non_2xx']}, bare {x['non_2xx']}"
        _row(label, o, x, flag)
    peer = r.get("peer") or {}
    print(f"peer: {peer.get('status', 'not run')}")
    for mode in ("noop", "validate"):
        if mode in peer:
            p, x = peer[mode], r["bare_1w"]["distinct_c16"]
            _row(f"HealthChain {mode}, {r['options']['patients']} pat.", p, x)
    off = r.get("ours_no_rules")
    if off:
        _row("ours, every rule switched off", off, r["bare_1w"]["distinct_c16"])
    enc = r.get("encounter")
    if enc:
        o, x = enc["ours"], enc["bare"]
        _row(f"encounter: {enc['patients']} pat. x 5 calls", o, x)
    cpu = _server_cpu(r, workers)
    if cpu:
        print("server CPU per answered call (its process tree, /proc; holds on a busy machine): " + ", ".join(cpu))
    loop = r.get("open_loop")
    if loop:
        print(
            f"open loop, ours 1 worker, {loop['rate']:g} calls/s for {loop['seconds']:g} s over {loop['patients']} "
            f"patients (latency from the scheduled send): p50 {loop['p50_ms']} ms, p99 {loop['p99_ms']} ms, "
            f"p99.9 {loop['p999_ms']} ms, max {loop['max_ms']} ms; {loop['ok']} ok, {loop['errors']} errors; "
            f"audit rows lost {loop['audit_rows_lost']} ({loop['audit']}); generator send lag p99 "
            f"{loop['send_lag_p99_ms']} ms"
        )
    print(
        f"scaling: ours {workers} workers / 1 on distinct patients "
        f"{r[ours_w]['distinct_c16']['rps'] / r['ours_1w']['distinct_c16']['rps']:.2f}×, bare "
        f"{r[bare_w]['distinct_c16']['rps'] / r['bare_1w']['distinct_c16']['rps']:.2f}×"
    )
    h = r["heavy_http"]
    print(
        f"heavy patient, one request over HTTP: cold median {h['cold']['median_ms']} ms, p95 {h['cold']['p95_ms']} ms "
        f"(n={h['cold']['n']}); warm median {h['warm']['median_ms']} ms (n={h['warm']['n']})"
    )
    f = r["first_call_after_start"]
    print(
        f"first call after start ({len(f['runs'])} starts, each after /health/ready said 200, over the connection "
        f"a discovery request opened): median "
        f"{f['median_first_ms']} ms vs warm {f['median_warm_ms']} ms: {f['median_ratio']}× (worst {f['max_ratio']}×); "
        f"vs patients not seen before {f.get('median_cold_ms')} ms: {f.get('median_ratio_cold')}×; "
        f"start to ready {', '.join(str(x['ready_s']) for x in f['runs'])} s"
    )
    n = r["no_prefetch"]
    print(
        f"no prefetch, FHIR server delay {n['fhir_delay_ms']} ms: median {n['fetched']['median_ms']} ms vs "
        f"{n['with_prefetch']['median_ms']} ms with prefetch (+{n['extra_ms']} ms)"
    )
    line = f"worker RSS: {r['rss_start_mb']} MB at start, {r['rss_after_distinct_mb']} MB after the distinct run"
    if "soak" in r:
        s = r["soak"]
        line += (
            f"; soak {s['seconds']} s over {s['patients']} patients ({s['rps']:.0f} rps, p99 {s['p99_ms']:.1f} ms, "
            f"non-2xx {s['non_2xx']}, {s['cycles']} cycles): RSS first {s['rss_first_mb']}, last {s['rss_last_mb']}, "
            f"max {s['rss_max_mb']} MB; slope {s['rss_slope_mb_per_min']} MB/min overall, "
            f"{s['rss_slope_second_half_mb_per_min']} MB/min over the second half; audit {r.get('audit_after_soak')}"
        )
    print(line)
    if "inprocess" in r:
        print()
        inprocess.report(r["inprocess"])
    print(f"\n{'target (issue 22)':<48}{'measured':>10}  {'goal':<14}result")
    for t in r["targets"]:
        measured = "-" if t["measured"] is None else f"{t['measured']:g}"
        print(f"{t['target']:<48}{measured:>10}  {t['goal']:<14}{t['result']}")


def _row(label: str, o: dict[str, Any], x: dict[str, Any], flag: str = "") -> None:
    """One server's line of the table: its wrk run `o` beside bare's `x`."""
    print(
        f"{label:<34}{o['rps']:>9.0f}{x['rps']:>9.0f}{o['rps'] / x['rps']:>7.2f}{o['p50_ms']:>9.2f}"
        f"{o['p99_ms']:>9.2f}{x['p50_ms']:>9.2f}{x['p99_ms']:>9.2f}{o['p99_ms'] / max(x['p99_ms'], 0.001):>7.2f}"
        f"{o['cycles']:>7.2f}{flag}"
    )


def _server_cpu(r: dict[str, Any], workers: int) -> list[str]:
    """'<server>: <ms> ms' for every run that measured its server's CPU per call."""
    runs = [
        ("ours", r.get("ours_1w", {}).get("distinct_c16")),
        ("bare", r.get("bare_1w", {}).get("distinct_c16")),
        ("HealthChain no-op", (r.get("peer") or {}).get("noop")),
        ("HealthChain validating", (r.get("peer") or {}).get("validate")),
        ("ours, every rule off", r.get("ours_no_rules")),
        ("ours, encounter", (r.get("encounter") or {}).get("ours")),
        ("bare, encounter", (r.get("encounter") or {}).get("bare")),
        (f"ours {workers} workers", r.get(f"ours_{workers}w", {}).get("distinct_c16")),
        (f"bare {workers} workers", r.get(f"bare_{workers}w", {}).get("distinct_c16")),
    ]
    measured = [(name, run) for name, run in runs if run and "server_cpu_ms_per_call" in run]
    return [f"{name} {run['server_cpu_ms_per_call']} ms" for name, run in measured]
