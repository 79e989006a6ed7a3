"""Realistic CDS Hooks requests for benchmarks: a patient with years of history.

`typical`: 40 MedicationRequests, 200 K/Mg Observations, 20 Conditions.
`heavy`:  500 MedicationRequests, 5,000 Observations, 200 Conditions.
Drugs are a realistic mix (muscle relaxants, SSRIs, opioids, antihypertensives, statins…) coded
with RxNorm SCDs, a quarter of them as Epic-style `medicationReference` to contained Medications.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.fhir import (  # noqa: E402
    condition,
    draft,
    hook_request,
    medication_request,
    observation,
    patient,
)

SIZES = {"typical": (40, 200, 20), "heavy": (500, 5000, 200)}

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
LOINC = [("2823-3", "mmol/L", 3.2, 5.1), ("19123-9", "mg/dL", 1.5, 2.5)]


def build(size: str, seed: int = 7, *, hook: str = "order-select") -> dict[str, Any]:
    n_meds, n_obs, n_cond = SIZES[size]
    rng = random.Random(seed)
    now = datetime(2026, 11, 25, tzinfo=UTC)
    meds = []
    for i in range(n_meds):
        rxcui, name = rng.choice(DRUGS)
        authored = (now - timedelta(days=rng.randint(1, 3650))).date().isoformat()
        status = rng.choice(["active", "completed", "completed", "stopped"])
        if i % 4 == 0:
            mid = f"med{i}"
            contained = [
                {
                    "resourceType": "Medication",
                    "id": mid,
                    "code": {
                        "coding": [
                            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": rxcui, "display": name}
                        ],
                        "text": name,
                    },
                }
            ]
            meds.append(
                medication_request(
                    None,
                    name.upper(),
                    rid=f"mr{i}",
                    status=status,
                    authored_on=authored,
                    medication_reference=f"#{mid}",
                    contained=contained,
                    dose=1,
                    dose_unit="tablet",
                    dose_code="{tbl}",
                    frequency=rng.choice([1, 2, 3]),
                    supply_days=30,
                    dose_at_root=True,
                )
            )
        else:
            meds.append(
                medication_request(
                    rxcui,
                    name,
                    rid=f"mr{i}",
                    status=status,
                    authored_on=authored,
                    dose=1,
                    dose_unit="tablet",
                    dose_code="{tbl}",
                    timing_code=rng.choice(["QD", "BID", "TID"]),
                    quantity=90,
                    refills=1,
                )
            )
    k_obs, mg_obs = [], []
    for i in range(n_obs):
        loinc, unit, low, high = LOINC[i % 2]
        when = (now - timedelta(hours=rng.randint(1, 24 * 3650))).isoformat()
        obs = observation(loinc, round(rng.uniform(low, high), 2), unit, when, ucum=unit, oid=f"obs{i}")
        (k_obs if i % 2 == 0 else mg_obs).append(obs)
    conditions = []
    for i in range(n_cond):
        code, display = rng.choice(CONDITIONS)
        conditions.append(condition(code, display, cid=f"c{i}"))
    drafts = [draft("197392", "baclofen 20 MG Oral Tablet", dose=20, frequency=3, supply_days=30)]
    return hook_request(
        hook,
        drafts=drafts if hook != "patient-view" else None,
        patient_resource=patient(birth_date="1958-02-11"),
        meds=meds,
        potassium_results=k_obs,
        magnesium_results=mg_obs,
        conditions=conditions,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("size", choices=sorted(SIZES))
    parser.add_argument("--hook", default="order-select")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    text = json.dumps(build(args.size, hook=args.hook))
    if args.out:
        args.out.write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
