"""Encounter-shaped traffic (issue 22): what an EHR sends for one patient within minutes. The chart
opens (patient-view), the clinician fills an order form (order-select, 3 times as fields change), then
signs (order-sign). The prefetch is the same record each time; the draft's fields change between the
selects. `encounter_items(n)` gives (service path, body file) for n patients, each patient's five
calls in that order, patients one after another (bench/run.py cycles them with wrk).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bench.generate import VERSION, build, service_path

STEPS = ("patient-view", "order-select", "order-select", "order-select", "order-sign")


def encounter(seed: int, today: date | None = None) -> list[tuple[str, dict[str, Any]]]:
    """One patient's five calls: (service path, request)."""
    today = today or datetime.now(UTC).date()
    select = build("typical", seed, hook="order-select", today=today)
    calls: list[tuple[str, dict[str, Any]]] = [
        (service_path("patient-view"), build("typical", seed, hook="patient-view", today=today))
    ]
    for step in range(3):  # the form fills: frequency, then the supply, change between selects
        request = copy.deepcopy(select)
        request["hookInstance"] = _instance(seed, step + 1)
        order = request["context"]["draftOrders"]["entry"][0]["resource"]
        timing = (order.get("dosageInstruction") or [{}])[0].get("timing", {}).get("repeat")
        if step >= 1 and isinstance(timing, dict):
            timing["frequency"] = 2
        supply = order.get("dispenseRequest", {}).get("expectedSupplyDuration")
        if step >= 2 and isinstance(supply, dict):
            supply["value"] = 30
        calls.append((service_path("order-select"), request))
    sign = copy.deepcopy(calls[-1][1])
    sign["hook"] = "order-sign"
    sign["hookInstance"] = _instance(seed, 4)
    sign["context"].pop("selections", None)
    calls.append((service_path("order-sign"), sign))
    return calls


def _instance(seed: int, step: int) -> str:
    digest = hashlib.sha256(f"encounter-{seed}-{step}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"


def _write(args: tuple[int, date, Path]) -> None:
    seed, today, folder = args
    for step, (_, request) in enumerate(encounter(seed, today)):
        path = folder / f"{seed}-{step}.json"
        if not path.exists():
            partial = path.with_suffix(".part")
            partial.write_text(json.dumps(request, separators=(",", ":")))
            partial.replace(path)


def encounter_items(patients: int) -> list[tuple[str, Path]]:
    """(service path, body file) for `patients` encounters, written once under the temp dir."""
    today = datetime.now(UTC).date()
    source = Path(__file__).read_bytes() + (Path(__file__).parent / "generate.py").read_bytes()
    digest = hashlib.sha256(source + f"{VERSION}{today}".encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / "cds-bench-bodies" / f"encounter-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    missing = [(seed, today, folder) for seed in range(patients) if not (folder / f"{seed}-4.json").exists()]
    if len(missing) > 50:
        with ProcessPoolExecutor(min(os.cpu_count() or 1, 4)) as pool:
            list(pool.map(_write, missing, chunksize=50))
    else:
        for job in missing:
            _write(job)
    paths = [service_path(hook) for hook in STEPS]
    return [(paths[step], folder / f"{seed}-{step}.json") for seed in range(patients) for step in range(len(STEPS))]
