"""A local FHIR server that answers our prefetch queries after a fixed delay (BENCH_FHIR_DELAY_MS),
from the bundles in BENCH_FHIR_DATA (a request file's prefetch)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

from fastapi import FastAPI, Request, Response

app = FastAPI()
_DELAY = float(os.environ.get("BENCH_FHIR_DELAY_MS", "50")) / 1000
_PREFETCH = json.loads(Path(os.environ["BENCH_FHIR_DATA"]).read_text())["prefetch"]
_BODIES = {key: json.dumps(value).encode() for key, value in _PREFETCH.items()}


def _key(path: str, code: str) -> str:
    if path.startswith("Patient/"):
        return "patient"
    if path == "MedicationRequest":
        return "medications"
    if path == "Condition":
        return "conditions"
    return "potassium" if "2823-3" in code else "magnesium"


@app.get("/fhir/{path:path}")
async def read(path: str, request: Request) -> Response:
    await asyncio.sleep(_DELAY)
    body = _BODIES[_key(path, request.query_params.get("code", ""))]
    return Response(content=body, media_type="application/fhir+json")
