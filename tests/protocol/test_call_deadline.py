"""Issue 21: an admitted CDS call has an overall deadline (`CDS_CALL_DEADLINE_SECONDS`, from its
headers: body, wait and work together). Past it the client gets a clear 503 with Retry-After, counted
in `cds_call_deadline_exceeded_total`, instead of waiting for whatever holds the call: here a FHIR
server that trickles a byte every 0.25 s for 8 s, under per-request and FHIR deadlines set longer
than the call's own. A large (1 MiB) call runs in the large-request process, a typical one on the
loop: both are bounded. A real `cds-service serve` on loopback; every call ends within its timeout.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.support.fhir import draft, hook_request
from tests.support.hostile_fhir import HostileFhir, hostile_fhir
from tests.support.processes import Served, clean_env, free_port, running

pytestmark = pytest.mark.ops

SIGN = "/cds-services/muscle-spasm-order-sign"
CALL_DEADLINE = 1.5  # seconds; the trickling server holds a fetch for 8


@pytest.fixture(scope="module")
def trickling() -> Iterator[HostileFhir]:
    with hostile_fhir(trickle_seconds=8.0) as fake:
        yield fake


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, int]]:
    metrics_port = free_port()
    env = clean_env(
        CDS_STORAGE_ENABLED="false",
        CDS_LOG_LEVEL="WARNING",
        CDS_METRICS_PORT=str(metrics_port),
        CDS_CALL_DEADLINE_SECONDS=str(CALL_DEADLINE),
        CDS_FHIR_TIMEOUT_SECONDS="20",
        CDS_FHIR_DEADLINE_SECONDS="20",
    )
    with running(env, tmp_path_factory.mktemp("deadline") / "serve.log", "--dev") as server:
        yield server, metrics_port


def _body(fhir_server: str, pad_to: int = 0) -> bytes:
    request = hook_request(
        "order-sign",
        drafts=[draft("197381", "baclofen 10 MG Oral Tablet", dose=20, frequency=3)],
        fhir_server=fhir_server,
        omit=("medications", "conditions"),
    )
    body = orjson.dumps(request)
    return body[:-1] + b" " * max(0, pad_to - len(body)) + b"}"


def _exceeded(metrics_port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    found = re.search(r"^cds_call_deadline_exceeded_total (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


@pytest.mark.parametrize("size", ["typical", "large"])
def test_a_call_held_past_its_deadline_is_answered_503_with_retry_after(
    served: tuple[Served, int], trickling: HostileFhir, size: str
) -> None:
    server, metrics_port = served
    before = _exceeded(metrics_port)
    body = _body(trickling.base("trickle"), pad_to=(1 << 20) + 1000 if size == "large" else 0)
    started = time.monotonic()
    response = httpx.post(server.base + SIGN, content=body, headers={"Content-Type": "application/json"}, timeout=30)
    waited = time.monotonic() - started
    assert response.status_code == 503, response.text[:300]
    assert response.headers["retry-after"] == "1"
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert "deadline of 1.5 s" in outcome["issue"][0]["diagnostics"]
    assert waited < 7.0, f"answered after {waited:.1f} s: the trickle (8 s) decided, not the deadline"
    assert _exceeded(metrics_port) == before + 1


def test_a_call_answered_in_time_is_untouched(served: tuple[Served, int], trickling: HostileFhir) -> None:
    server, metrics_port = served
    before = _exceeded(metrics_port)
    response = httpx.post(
        server.base + SIGN, content=_body(trickling.base("ok")), headers={"Content-Type": "application/json"},
        timeout=30,
    )  # fmt: skip
    assert response.status_code == 200, response.text[:300]
    assert "cards" in response.json()
    assert _exceeded(metrics_port) == before
