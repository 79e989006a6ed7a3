"""bench/generate.py: the benchmark bodies are what an EHR following our discovery templates sends
for a patient's full record (issue 13), distinct seeds are distinct patients, and the service reads
them without a "could not be checked" card."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from bench import generate
from bench.generate import (
    CONDITION_STATUSES,
    MEDICATION_STATUSES,
    build,
    describe,
    prefetch_for,
    record,
)
from cds_service.protocol.hooks import LARGE_BODY_BYTES
from cds_service.protocol.services import MAGNESIUM_LOINC, POTASSIUM_LOINC, PREFETCH_TEMPLATES
from tests.support.http import post_hook, topics

TODAY = date(2026, 12, 1)


def _resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle.get("entry", [])]


def _status(condition: dict[str, Any]) -> str:
    return str(condition["clinicalStatus"]["coding"][0]["code"])


def test_the_typical_body_has_the_shape_of_issue_13() -> None:
    request = build("typical", 7, today=TODAY)
    counts = describe(request)
    assert counts == counts | {"medications": 40, "conditions": 20, "potassium": 10, "magnesium": 10, "renal": 0}
    assert counts["resources"] == 81
    assert 50_000 <= counts["bytes"] <= 70_000, counts["bytes"]
    assert request["hook"] == "order-select"
    (entry,) = request["context"]["draftOrders"]["entry"]
    order = entry["resource"]
    assert order["status"] == "draft" and "cyclobenzaprine" in order["medicationCodeableConcept"]["text"]
    assert request["context"]["selections"] == [f"MedicationRequest/{order['id']}"]
    assert set(request["prefetch"]) == set(PREFETCH_TEMPLATES)


@pytest.mark.parametrize("size", ["typical", "heavy"])
def test_labs_are_the_newest_ten_of_the_record_newest_first(size: str) -> None:
    rec = record(size, 3, today=TODAY)
    prefetch = prefetch_for(rec)
    for key, results, codes in (
        ("potassium", rec.potassium, POTASSIUM_LOINC),
        ("magnesium", rec.magnesium, MAGNESIUM_LOINC),
    ):
        sent = _resources(prefetch[key])
        times = [o["effectiveDateTime"] for o in sent]
        assert len(sent) == 10 and times == sorted(times, reverse=True)
        assert all(o["code"]["coding"][0]["code"] in codes for o in sent)
        older = [o["effectiveDateTime"] for o in results if o["id"] not in {s["id"] for s in sent}]
        assert max(older) <= min(times)  # nothing left out is newer than what was sent
        assert prefetch[key]["total"] == len(results) > 10  # years of results in the record


@pytest.mark.parametrize("size", ["typical", "heavy"])
def test_statuses_are_filtered_and_count_caps_the_page(size: str) -> None:
    rec = record(size, 5, today=TODAY)
    prefetch = prefetch_for(rec)
    meds, conditions = _resources(prefetch["medications"]), _resources(prefetch["conditions"])
    assert {m["status"] for m in meds} <= set(MEDICATION_STATUSES)
    assert {_status(c) for c in conditions} <= set(CONDITION_STATUSES)
    # the record holds orders and conditions the templates filter out, and none of them is sent
    left_out = {m["id"] for m in rec.medications if m["status"] not in MEDICATION_STATUSES}
    assert left_out and not left_out & {m["id"] for m in meds}
    assert {"draft", "cancelled", "entered-in-error"} & {m["status"] for m in rec.medications}
    assert {_status(c) for c in rec.conditions} - set(CONDITION_STATUSES)
    assert len(meds) <= 100 and len(conditions) <= 100
    matched = [m for m in rec.medications if m["status"] in MEDICATION_STATUSES]
    assert prefetch["medications"]["total"] == len(matched)
    if size == "heavy":  # more matches than _count: the first page, its total telling how many matched
        assert len(meds) == 100 and prefetch["medications"]["total"] == 500
        assert len(conditions) == 100 and prefetch["conditions"]["total"] == 200
        dates = [m["authoredOn"] for m in meds]
        assert min(dates) >= max(m["authoredOn"] for m in matched if m not in meds)  # the newest page
    for key in ("medications", "conditions", "potassium", "magnesium", "renal"):
        bundle = prefetch[key]
        assert bundle["type"] == "searchset"
        assert not [link for link in bundle["link"] if link["relation"] == "next"]  # needs no fetch


def test_the_heavy_body_is_what_the_templates_give_and_the_large_body_is_the_whole_record() -> None:
    heavy = describe(build("heavy", 1, today=TODAY))
    assert heavy["resources"] == 1 + 100 + 10 + 10 + 100
    large_request = build("large", 1, today=TODAY)
    large = describe(large_request)
    rec = record("heavy", 1, today=TODAY)
    assert large["medications"] == len(rec.medications) > 500
    assert large["potassium"] + large["magnesium"] == 5000
    assert large["conditions"] == len(rec.conditions) > 200
    assert large["bytes"] > LARGE_BODY_BYTES  # the service's large-request threshold (1 MiB)


def test_distinct_seeds_are_distinct_patients_and_a_seed_is_reproducible() -> None:
    def fingerprint(request: dict[str, Any]) -> str:
        return json.dumps(request, sort_keys=True)

    assert fingerprint(build("typical", 11, today=TODAY)) == fingerprint(build("typical", 11, today=TODAY))
    a, b = build("typical", 11, today=TODAY), build("typical", 12, today=TODAY)
    assert a["context"]["patientId"] != b["context"]["patientId"]
    assert a["hookInstance"] != b["hookInstance"]
    assert a["prefetch"]["patient"]["birthDate"] != b["prefetch"]["patient"]["birthDate"]

    def meds(request: dict[str, Any]) -> list[tuple[str, str]]:
        return [(m.get("authoredOn", ""), json.dumps(m.get("dosageInstruction"))) for m in
                _resources(request["prefetch"]["medications"])]  # fmt: skip

    assert meds(a) != meds(b)
    values = [[o["valueQuantity"]["value"] for o in _resources(r["prefetch"]["potassium"])] for r in (a, b)]
    assert values[0] != values[1]
    drugs = {
        frozenset(
            (m.get("medicationCodeableConcept") or {}).get("text") or m["medicationReference"]["display"].lower()
            for m in _resources(build("typical", seed, today=TODAY)["prefetch"]["medications"])
        )
        for seed in range(10)
    }
    assert len(drugs) >= 8  # patients take different drugs


def test_bodies_are_written_once(tmp_path: Path) -> None:
    paths = generate.bodies("typical", range(3), directory=tmp_path)
    assert [p.name for p in paths] == ["0.json", "1.json", "2.json"]
    assert json.loads(paths[1].read_text())["context"]["patientId"] == "pt-1"
    stamps = [p.stat().st_mtime_ns for p in paths]
    assert [p.stat().st_mtime_ns for p in generate.bodies("typical", range(3), directory=tmp_path)] == stamps


@pytest.mark.parametrize(("size", "seeds"), [("typical", range(8)), ("heavy", range(2))])
def test_the_service_reads_the_bodies_without_a_data_gap(client: TestClient, size: str, seeds: range) -> None:
    for seed in seeds:
        body = post_hook(client, build(size, seed))  # today's date: the service evaluates at the real clock
        assert "data-unavailable" not in topics(body), [c["summary"] for c in body["cards"]]
        assert "extension" not in body  # no resource skipped as malformed


def test_a_next_link_without_a_fhir_server_is_reported_so_the_benchmark_leaves_it_out(client: TestClient) -> None:
    """What an EHR might send for a search with more matches than _count: without a fhirServer the
    other pages cannot be read, and the card says so. The benchmark's bodies carry no such link, so
    that every body is answered as a complete record would be."""
    request = build("heavy", 4)
    bundle = request["prefetch"]["medications"]
    bundle["link"].append({"relation": "next", "url": generate.FHIR_BASE + "/MedicationRequest?page=2"})
    assert "fhirServer" not in request
    assert "data-unavailable" in topics(post_hook(client, request))
    bundle["link"] = [link for link in bundle["link"] if link.get("relation") != "next"]
    assert "data-unavailable" not in topics(post_hook(client, request))
