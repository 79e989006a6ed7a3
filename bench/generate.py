"""Realistic CDS Hooks requests for benchmarks: a patient's full record, and the prefetch an EHR that
follows our discovery templates (`cds_service/protocol/services.py` PREFETCH_TEMPLATES) sends for it.

A patient's record (`record`) is built first, then the prefetch is derived from it (`prefetch_for`)
the way a FHIR server answers each template's search:

* medications: `status=active,on-hold,completed,stopped&_count=100`: cancelled, entered-in-error
  and draft orders of the record are left out, at most 100 are sent;
* potassium, magnesium: by LOINC code, `_sort=-date&_count=10`: the 10 newest results of each, by
  effective date, newest first;
* conditions: `clinical-status=active,recurrence,relapse&_count=100`: resolved, inactive and
  remission are left out, at most 100 are sent;
* renal: no eGFR or creatinine in these records (an empty searchset), as in issue 13's body;
* patient: the Patient.

Each search is a Bundle of type `searchset` whose `total` is the number of matches. A search with
more matches than `_count` is sent as its first page (the newest orders first; conditions in record
order) **without a `next` link**: the body then needs no fetch. (With a `next` link and no
`fhirServer`, `protocol/prefetch.py` ignores the link: no fetch, no gap; with a `fhirServer` it
would follow it. Leaving it out keeps the benchmark body self-contained either way.)

Sizes (`SIZES`):

* `typical`: a record of 40 MedicationRequests the template matches (plus 2-6 cancelled,
  entered-in-error or draft ones it does not), 20 conditions it matches (plus 2-6 resolved,
  inactive or in remission) and 10 years of potassium and magnesium results (200); the prefetch:
  40 orders, 20 conditions, newest 10 K + 10 Mg, the Patient: 81 resources, about 60 KB;
* `heavy`: a record of 500 matched orders, 5,000 K/Mg results and 200 matched conditions (plus
  unmatched ones); the prefetch as the templates give it (100 + 10 + 10 + 100 + 1 resources);
* `large`: the heavy record untrimmed, every resource in one body (several MB, above the service's
  1 MiB large-request threshold): "a large request" for the load-shedding tests and bench/overload.py;
* `huge`: a bigger untrimmed record (700 orders, 7,000 labs, 280 conditions) for bench/overload.py.

The hook is order-select (or order-sign) with a cyclobenzaprine draft; patient-view has no draft.
Drugs are a realistic mix (muscle relaxants, SSRIs, opioids, antihypertensives, statins…) coded
with RxNorm, a quarter of them Epic-style `medicationReference` to a contained Medication. Distinct
seeds give distinct patients (ids, age, drugs, doses, dates, lab values); the same seed and `today`
give the same body. Dates are relative to `today` (default: the current UTC date, since the service
evaluates at the real clock). `bodies()` writes many patients' bodies once, cached in a temp dir.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import sys
import tempfile
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cds_service.protocol.services import (  # noqa: E402
    CONDITIONS as CONDITIONS_KEY,
)
from cds_service.protocol.services import (  # noqa: E402
    MAGNESIUM,
    MAGNESIUM_LOINC,
    MEDICATIONS,
    PATIENT,
    POTASSIUM,
    POTASSIUM_LOINC,
    PREFETCH_TEMPLATES,
    RENAL,
)
from tests.support.fhir import (  # noqa: E402
    SERVICE_IDS,
    condition,
    draft,
    medication_request,
    observation,
    patient,
)

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
FHIR_BASE = "https://ehr.example.org/fhir"


@dataclass(frozen=True)
class RecordSize:
    """What a record holds: orders, conditions the templates match, K/Mg results (half each)."""

    medications: int
    labs: int
    conditions: int
    unmatched: tuple[int, int]  # how many orders (and conditions) the templates filter out: min, max


RECORDS = {
    "typical": RecordSize(40, 200, 20, (2, 6)),
    "heavy": RecordSize(500, 5000, 200, (20, 40)),
    "huge": RecordSize(700, 7000, 280, (20, 40)),
}
# size -> (record, trimmed to what the templates return?)
SIZES = {
    "typical": ("typical", True),
    "heavy": ("heavy", True),
    "large": ("heavy", False),
    "huge": ("huge", False),
}

# Search parameters of the templates, applied here as a FHIR server would.
MEDICATION_STATUSES = ("active", "on-hold", "completed", "stopped")
CONDITION_STATUSES = ("active", "recurrence", "relapse")
MEDICATION_COUNT = 100
LAB_COUNT = 10
CONDITION_COUNT = 100

DRUGS = [
    ("197391", "baclofen 10 MG Oral Tablet"),
    ("197392", "baclofen 20 MG Oral Tablet"),
    ("828320", "cyclobenzaprine hydrochloride 5 MG Oral Tablet"),
    ("828348", "cyclobenzaprine hydrochloride 10 MG Oral Tablet"),
    ("312938", "sertraline 100 MG Oral Tablet"),
    ("197361", "amlodipine 5 MG Oral Tablet"),
    ("314076", "lisinopril 10 MG Oral Tablet"),
    ("617312", "atorvastatin 10 MG Oral Tablet"),
    ("860975", "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet"),
    ("310798", "hydrochlorothiazide 25 MG Oral Tablet"),
    ("966247", "levothyroxine sodium 0.05 MG Oral Tablet [Synthroid]"),
    ("310429", "furosemide 20 MG Oral Tablet"),
    ("857002", "acetaminophen 325 MG / hydrocodone bitartrate 5 MG Oral Tablet"),
    ("835603", "tramadol hydrochloride 50 MG Oral Tablet"),
]
CONDITIONS = [
    ("G35", "Multiple sclerosis"),
    ("I10", "Essential hypertension"),
    ("E11.9", "Type 2 diabetes mellitus without complications"),
    ("M54.50", "Low back pain, unspecified"),
    ("E78.5", "Hyperlipidemia, unspecified"),
    ("J45.909", "Unspecified asthma, uncomplicated"),
]
# The draft being ordered: cyclobenzaprine, as in issue 13's body.
DRAFTS = [
    ("828320", "cyclobenzaprine hydrochloride 5 MG Oral Tablet"),
    ("828348", "cyclobenzaprine hydrochloride 10 MG Oral Tablet"),
]
# (LOINC, unit, mean, sd): most results serum K in mmol/L and Mg in mg/dL, some blood K / Mg in mmol/L.
POTASSIUM_TESTS = [("2823-3", "mmol/L", 4.2, 0.4)] * 9 + [("6298-4", "mmol/L", 4.1, 0.4)]
MAGNESIUM_TESTS = [("19123-9", "mg/dL", 2.0, 0.2)] * 9 + [("2601-3", "mmol/L", 0.82, 0.08)]

# Realistic status mixes (weights) of the orders and conditions the templates match, and of those they do not.
MEDICATION_MIX = (("active", 28), ("on-hold", 2), ("completed", 48), ("stopped", 22))
MEDICATION_OTHER = (("cancelled", 5), ("entered-in-error", 2), ("draft", 3))
CONDITION_MIX = (("active", 90), ("recurrence", 6), ("relapse", 4))
CONDITION_OTHER = (("resolved", 6), ("inactive", 3), ("remission", 1))

# Bump when the bodies change shape: the cache of bodies() is keyed by it (and by this file's text).
VERSION = 2


@dataclass
class PatientRecord:
    """A patient's full record, everything the EHR holds for the template's searches."""

    patient: dict[str, Any]
    medications: list[dict[str, Any]] = field(default_factory=list)
    potassium: list[dict[str, Any]] = field(default_factory=list)
    magnesium: list[dict[str, Any]] = field(default_factory=list)
    conditions: list[dict[str, Any]] = field(default_factory=list)
    renal: list[dict[str, Any]] = field(default_factory=list)


def _pick(rng: random.Random, mix: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([s for s, _ in mix], weights=[w for _, w in mix])[0]


def _day(today: date, days_ago: int) -> str:
    return (today - timedelta(days=days_ago)).isoformat()


def record(size: str, seed: int = 7, *, today: date | None = None) -> PatientRecord:
    """The full record of patient `seed` (RECORDS[size] gives its sizes)."""
    spec = RECORDS[size]
    today = today or datetime.now(UTC).date()
    rng = random.Random(f"{size}-{seed}")
    pid = f"pt-{seed}"
    age_days = rng.randint(25 * 365, 90 * 365)
    rec = PatientRecord(patient(birth_date=_day(today, age_days), gender=rng.choice(["female", "male"]), pid=pid))
    rec.patient["name"] = [{"given": [f"Bench{seed}"], "family": rng.choice(["Smith", "Garcia", "Nguyen", "Okafor"])}]

    # The drugs of this patient: a few of the list, some repeatedly (refills over the years).
    own_drugs = rng.sample(DRUGS, rng.randint(4, 9))
    n_other = rng.randint(*spec.unmatched)
    statuses = [_pick(rng, MEDICATION_MIX) for _ in range(spec.medications)]
    statuses += [_pick(rng, MEDICATION_OTHER) for _ in range(n_other)]
    rng.shuffle(statuses)
    for i, status in enumerate(statuses):
        rxcui, name = rng.choice(own_drugs)
        recent = status in ("active", "on-hold", "draft")
        authored = _day(today, rng.randint(1, 400) if recent else rng.randint(14, 3650))
        tablets = rng.choice([1, 1, 1, 2])
        rid = f"{pid}-mr{i}"
        if i % 4 == 0:  # Epic: medicationReference to a contained Medication
            mid = f"med{i}"
            contained = [
                {
                    "resourceType": "Medication",
                    "id": mid,
                    "code": {"coding": [{"system": RXNORM, "code": rxcui, "display": name}], "text": name},
                }
            ]
            order = medication_request(
                None,
                name.upper(),
                rid=rid,
                status=status,
                authored_on=authored,
                medication_reference=f"#{mid}",
                contained=contained,
                dose=tablets,
                dose_unit="tablet",
                dose_code="{tbl}",
                frequency=rng.choice([1, 1, 2, 3]),
                supply_days=rng.choice([30, 30, 90]),
                dose_at_root=True,
                pid=pid,
            )
        else:
            order = medication_request(
                rxcui,
                name,
                rid=rid,
                status=status,
                authored_on=authored,
                dose=tablets,
                dose_unit="tablet",
                dose_code="{tbl}",
                timing_code=rng.choice(["QD", "QD", "BID", "TID"]),
                quantity=rng.choice([30, 60, 90]) * tablets,
                refills=rng.choice([0, 1, 2, 5]),
                pid=pid,
            )
        rec.medications.append(order)

    # Years of potassium and magnesium results (half each) over 10 years, at a lab's hours (6:00-21:00).
    start = datetime.combine(today - timedelta(days=3650), time(6), UTC)
    random_, gauss = rng.random, rng.gauss
    for tests, out, tag in ((POTASSIUM_TESTS, rec.potassium, "k"), (MAGNESIUM_TESTS, rec.magnesium, "mg")):
        for i in range(spec.labs // 2):
            loinc, unit, mean, sd = tests[int(random_() * len(tests))]
            minutes = int(random_() * 3649) * 1440 + int(random_() * 900)
            when = (start + timedelta(minutes=minutes)).isoformat()
            value = round(gauss(mean, sd), 2 if mean < 1 else 1)
            out.append(observation(loinc, value, unit, when, ucum=unit, oid=f"{pid}-{tag}{i}", pid=pid))

    n_other = rng.randint(*spec.unmatched)
    statuses = [_pick(rng, CONDITION_MIX) for _ in range(spec.conditions)]
    statuses += [_pick(rng, CONDITION_OTHER) for _ in range(n_other)]
    rng.shuffle(statuses)
    own_conditions = rng.sample(CONDITIONS, rng.randint(2, len(CONDITIONS)))
    for i, status in enumerate(statuses):
        code, display = rng.choice(own_conditions)
        abatement = _day(today, rng.randint(1, 1000)) if status in ("resolved", "inactive", "remission") else None
        rec.conditions.append(
            condition(
                code,
                display,
                cid=f"{pid}-c{i}",
                clinical_status=status,
                onset=_day(today, rng.randint(30, 7300)),
                abatement=abatement,
                pid=pid,
            )
        )
    return rec


def _searchset(resources: list[dict[str, Any]], total: int, query: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": total,
        "link": [{"relation": "self", "url": f"{FHIR_BASE}/{query}"}],
        "entry": [
            {
                "fullUrl": f"{FHIR_BASE}/{r['resourceType']}/{r['id']}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    }


def _query(key: str, pid: str) -> str:
    return PREFETCH_TEMPLATES[key].replace("{{context.patientId}}", pid)


def _clinical_status(resource: dict[str, Any]) -> str | None:
    codings = (resource.get("clinicalStatus") or {}).get("coding") or [{}]
    return codings[0].get("code")


def prefetch_for(rec: PatientRecord) -> dict[str, Any]:
    """The prefetch an EHR following PREFETCH_TEMPLATES sends for this record (see the module doc)."""
    pid = rec.patient["id"]
    meds = [m for m in rec.medications if m["status"] in MEDICATION_STATUSES]
    meds.sort(key=lambda m: m.get("authoredOn", ""), reverse=True)  # no _sort: the server's order, newest first
    conditions = [c for c in rec.conditions if _clinical_status(c) in CONDITION_STATUSES]

    def newest(results: list[dict[str, Any]], codes: tuple[str, ...]) -> tuple[list[dict[str, Any]], int]:
        matched = [o for o in results if o["code"]["coding"][0]["code"] in codes]
        matched.sort(key=lambda o: o["effectiveDateTime"], reverse=True)  # _sort=-date
        return matched[:LAB_COUNT], len(matched)

    k, k_total = newest(rec.potassium, POTASSIUM_LOINC)
    mg, mg_total = newest(rec.magnesium, MAGNESIUM_LOINC)
    return {
        PATIENT: rec.patient,
        MEDICATIONS: _searchset(meds[:MEDICATION_COUNT], len(meds), _query(MEDICATIONS, pid)),
        POTASSIUM: _searchset(k, k_total, _query(POTASSIUM, pid)),
        MAGNESIUM: _searchset(mg, mg_total, _query(MAGNESIUM, pid)),
        CONDITIONS_KEY: _searchset(conditions[:CONDITION_COUNT], len(conditions), _query(CONDITIONS_KEY, pid)),
        RENAL: _searchset(rec.renal, len(rec.renal), _query(RENAL, pid)),
    }


def untrimmed_prefetch(rec: PatientRecord) -> dict[str, Any]:
    """Every resource of the record in the prefetch (statuses unfiltered, no _count): a large body."""
    pid = rec.patient["id"]
    parts = {
        MEDICATIONS: rec.medications,
        POTASSIUM: rec.potassium,
        MAGNESIUM: rec.magnesium,
        CONDITIONS_KEY: rec.conditions,
        RENAL: rec.renal,
    }
    return {PATIENT: rec.patient} | {key: _searchset(rs, len(rs), _query(key, pid)) for key, rs in parts.items()}


def build(size: str, seed: int = 7, *, hook: str = "order-select", today: date | None = None) -> dict[str, Any]:
    """A hook request for patient `seed`: its record's prefetch as the templates give it (`typical`,
    `heavy`), or the whole record (`large`, `huge`)."""
    record_size, trimmed = SIZES[size]
    today = today or datetime.now(UTC).date()
    rec = record(record_size, seed, today=today)
    rng = random.Random(f"draft-{size}-{seed}")
    pid = rec.patient["id"]
    context: dict[str, Any] = {"userId": "Practitioner/bench", "patientId": pid}
    if hook in ("order-select", "order-sign"):
        rxcui, name = rng.choice(DRAFTS)
        order = draft(rxcui, name, rid=f"{pid}-draft", pid=pid, authored_on=today.isoformat(), dose=1,
                      dose_unit="tablet", dose_code="{tbl}", frequency=rng.choice([3, 3, 2]),
                      supply_days=rng.choice([7, 10, 14]))  # fmt: skip
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]}
        if hook == "order-select":
            context["selections"] = [f"MedicationRequest/{order['id']}"]
    return {
        "hookInstance": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "hook": hook,
        "context": context,
        "prefetch": prefetch_for(rec) if trimmed else untrimmed_prefetch(rec),
    }


def service_path(hook: str = "order-select") -> str:
    return f"/cds-services/{SERVICE_IDS[hook]}"


def _write(args: tuple[str, int, str, date, Path]) -> None:
    size, seed, hook, today, path = args
    partial = path.with_suffix(f".{seed}.part")
    partial.write_text(json.dumps(build(size, seed, hook=hook, today=today), separators=(",", ":")))
    partial.replace(path)


def bodies(
    size: str, seeds: range | list[int], *, hook: str = "order-select", directory: Path | None = None
) -> list[Path]:
    """One compact JSON file per patient, written once: cached under the temp dir, keyed by this file's
    text, today's date, the size and the hook, so a second run (or the 2-worker run) reuses them.
    Missing files are written by a process per core (2,000 typical bodies: a few seconds)."""
    today = datetime.now(UTC).date()
    digest = hashlib.sha256(Path(__file__).read_bytes() + f"{VERSION}{today}{hook}".encode()).hexdigest()[:12]
    folder = directory or Path(tempfile.gettempdir()) / "cds-bench-bodies" / f"{size}-{hook}-{digest}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{seed}.json" for seed in seeds]
    missing = [(size, seed, hook, today, path) for seed, path in zip(seeds, paths, strict=True) if not path.exists()]
    if len(missing) > 50:
        with ProcessPoolExecutor(min(os.cpu_count() or 1, 4)) as pool:
            list(pool.map(_write, missing, chunksize=50))
    else:
        for job in missing:
            _write(job)
    return paths


def describe(request: dict[str, Any]) -> dict[str, int]:
    """Resources per prefetch key (and in total) and the body's size in bytes, as bench/run.py sends it."""
    counts = {
        key: (len(value.get("entry") or []) if value.get("resourceType") == "Bundle" else 1)
        for key, value in request["prefetch"].items()
    }
    counts["resources"] = sum(counts.values())
    counts["bytes"] = len(json.dumps(request, separators=(",", ":")).encode())
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("size", choices=sorted(SIZES))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--hook", default="order-select")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--describe", action="store_true", help="print resource counts and bytes instead")
    args = parser.parse_args()
    request = build(args.size, args.seed, hook=args.hook)
    if args.describe:
        print(json.dumps(describe(request)))
        return
    text = json.dumps(request, separators=(",", ":"))
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
