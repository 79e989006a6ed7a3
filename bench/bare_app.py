"""The ceiling: a bare FastAPI endpoint that reads the same body with json.loads and returns a
fixed cards response of the same size as ours (read from BENCH_RESPONSE_FILE)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fastapi import FastAPI, Request, Response

app = FastAPI()
_RESPONSE = Path(os.environ.get("BENCH_RESPONSE_FILE", "/dev/null")).read_bytes() or b'{"cards": []}'


@app.post("/cds-services/{service_id}")
async def bare(service_id: str, request: Request) -> Response:
    json.loads(await request.body())
    return Response(content=_RESPONSE, media_type="application/json")
