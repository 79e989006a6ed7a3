"""Fuzzing the HTTP surface (item 6 of the hardening issue): no input makes the service answer 5xx.

1. schemathesis generates requests from the OpenAPI document (which now publishes the real
   request models) and sends them to the app served on loopback: bounded examples, a fixed
   seed (`derandomize`), and no network beyond loopback: the app's FHIR client is replaced by
   one that answers every request itself (404), so a fuzzed `fhirServer` is never contacted.
2. Hypothesis strategies put hostile values into FHIR-shaped prefetch (wrong types, huge
   numbers, NaN strings, deep nesting, odd dates, Bundles whose entry is not a list) and post
   them through the HTTP endpoint: the answer is 200 with a well-formed CDS Hooks response, or a
   400/412 OperationOutcome, never a 500.
A dose of 1e308 (finding 8) has its own test at the end; the facts layer reads such impossible
values as unreadable (tests/facts/test_order_problems.py).
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cds_service.app import create_app
from cds_service.cdshooks import HookResponse
from cds_service.settings import load_settings
from tests.support.fhir import condition, draft, hook_request, magnesium, medication_request, patient, potassium
from tests.support.live_server import live_server

SIGN = "muscle-spasm-order-sign"
FUZZ_SETTINGS = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)


class OfflineFhir:
    """Stands in for `app.state.http_pool`: a client whose transport answers 404 itself."""

    def __init__(self) -> None:
        self.requests = 0

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return httpx.Response(404, json={"resourceType": "OperationOutcome", "issue": []})

    def get(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self._answer))

    async def aclose(self) -> None:
        return None


def _offline_app(tmp: Path) -> FastAPI:
    settings_ = load_settings(
        dev=True,
        database_url=f"sqlite:///{tmp}/fuzz.db",
        audit_spool_dir=tmp / "spool",
        large_request_processes=0,  # the child process would build its own (networked) client
        patient_hash_secret="fuzz-secret-0123456789abcdef",
    )
    app = create_app(settings_)
    app.state.http_pool = OfflineFhir()
    return app


# ---------------------------------------------------------------------------- 1. schemathesis

_DOCUMENT = create_app(load_settings(dev=True, storage_enabled=False)).openapi()
schema = schemathesis.openapi.from_dict(_DOCUMENT)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with live_server(_offline_app(tmp_path_factory.mktemp("fuzz"))) as base:
        yield base


def test_the_document_publishes_the_hook_and_feedback_bodies() -> None:
    hook = _DOCUMENT["paths"]["/cds-services/{service_id}"]["post"]
    feedback = _DOCUMENT["paths"]["/cds-services/{service_id}/feedback"]["post"]
    assert hook["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/HookRequest")
    assert feedback["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/FeedbackRequest")
    assert {"200", "400", "401", "404", "412", "413"} <= set(hook["responses"])
    assert {"200", "400", "401", "404", "413"} <= set(feedback["responses"])
    assert "422" not in hook["responses"]


@schema.parametrize()
@FUZZ_SETTINGS
def test_no_generated_request_gets_a_5xx(case: Any, served: str) -> None:
    response = case.call(base_url=served, timeout=30)
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.status_code} {response.text}"


# ---------------------------------------------------------------------------- 2. hostile prefetch

_huge = st.sampled_from([1e300, -1e300, 10**30, -(10**30), 2**63, 1e-300, 0, -0.0, 4.9e-324])
_nan_strings = st.sampled_from(["NaN", "Infinity", "-Infinity", "nan", "1e999", "", " ", "0x10"])
_odd_dates = st.sampled_from(
    ["0000-00-00", "2999-12-31", "1800-01-01", "2026-02-30", "2026-13-01", "2026-11-25T25:61:61Z", "99999", "", "T",
     "2026", "2026-11", "2026-11-25T08:00:00+99:00", "yesterday"]
)  # fmt: skip
_wrong_types = st.sampled_from([None, True, 5, -1, 3.5, "text", [], {}, [1, 2], {"a": {"b": []}}])


def _deep(depth: int) -> Any:
    value: Any = "x"
    for n in range(depth):
        value = [value] if n % 2 else {"k": value}
    return value


_values = st.one_of(_huge, _nan_strings, _odd_dates, _wrong_types, st.integers(1, 400).map(_deep), st.text(max_size=40))

# Where a hostile value goes: (prefetch key, path inside the key's first resource).
_TARGETS = [
    ("potassium", ("valueQuantity", "value")),
    ("potassium", ("valueQuantity",)),
    ("potassium", ("effectiveDateTime",)),
    ("potassium", ("code",)),
    ("potassium", ("status",)),
    ("magnesium", ("valueQuantity", "unit")),
    ("magnesium", ("effectiveDateTime",)),
    ("medications", ("authoredOn",)),
    ("medications", ("dosageInstruction",)),
    ("medications", ("dosageInstruction", 0, "timing")),
    ("medications", ("dosageInstruction", 0, "doseAndRate")),
    ("medications", ("medicationCodeableConcept",)),
    ("medications", ("status",)),
    ("medications", ("dispenseRequest",)),
    ("conditions", ("code",)),
    ("conditions", ("clinicalStatus",)),
    ("conditions", ("onsetDateTime",)),
    ("patient", ("birthDate",)),
    ("patient", ("gender",)),
]
_BUNDLE_TARGETS = ["entry", "link", "total", "type", "resourceType"]


def _base_request() -> dict[str, Any]:
    return hook_request(
        "order-sign",
        drafts=[draft("197381", "baclofen 10 MG Oral Tablet", dose=20, frequency=3)],
        patient_resource=patient(birth_date="1948-05-01"),
        meds=[medication_request("197381", "baclofen 10 MG Oral Tablet", dose=10, frequency=3)],
        potassium_results=[potassium(3.2, "2026-11-20T08:00:00Z")],
        magnesium_results=[magnesium(1.9, "2026-11-20T08:00:00Z")],
        conditions=[condition("G35", "Multiple sclerosis")],
    )


_BASE = _base_request()


def _set(target: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


@st.composite
def hostile_requests(draw: st.DrawFn) -> dict[str, Any]:
    request = copy.deepcopy(_BASE)
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            key, path = draw(st.sampled_from(_TARGETS))
            resource = request["prefetch"][key]
            resource = resource["entry"][0]["resource"] if key != "patient" else resource
            value = draw(_values)
            with contextlib.suppress(KeyError, IndexError, TypeError):  # a parent was replaced earlier: fine
                _set(resource, path, value)
        else:
            key = draw(st.sampled_from(["medications", "potassium", "magnesium", "conditions"]))
            bundle = request["prefetch"][key]
            if isinstance(bundle, dict):
                bundle[draw(st.sampled_from(_BUNDLE_TARGETS))] = draw(_values)
    return request


@pytest.fixture(scope="module")
def offline_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with TestClient(_offline_app(tmp_path_factory.mktemp("hostile"))) as client:
        yield client


def _well_formed(body: Any) -> None:
    HookResponse.model_validate({k: v for k, v in body.items() if k != "extension"})
    for card in body["cards"]:
        assert card["summary"] and card["indicator"] in ("info", "warning", "critical") and card["source"]["label"]


@settings(FUZZ_SETTINGS, max_examples=60)
@given(request=hostile_requests())
def test_hostile_prefetch_never_gets_a_5xx(offline_client: TestClient, request: dict[str, Any]) -> None:
    response = offline_client.post(f"/cds-services/{SIGN}", json=request)
    assert response.status_code in (200, 400, 412), response.text[:500]
    if response.status_code == 200:
        _well_formed(response.json())
    else:
        assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("depth", [100, 900, 5000, 100_000])
def test_deeply_nested_prefetch_is_answered(offline_client: TestClient, depth: int) -> None:
    request = copy.deepcopy(_BASE)
    request["prefetch"]["potassium"]["entry"][0]["resource"]["valueQuantity"] = "@@DEEP@@"
    deep = "[" * depth + "]" * depth  # written as text: no JSON encoder recurses this far
    body = json.dumps(request).replace('"@@DEEP@@"', deep).encode()
    response = offline_client.post(f"/cds-services/{SIGN}", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code in (200, 400), response.text[:300]


# ---------------------------------------------------------------------------- the facts layer's part


def test_a_dose_of_1e308_is_answered_without_a_500(offline_client: TestClient) -> None:
    request = copy.deepcopy(_BASE)
    request["context"]["draftOrders"]["entry"][0]["resource"]["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"][
        "value"
    ] = 1e308
    response = offline_client.post(f"/cds-services/{SIGN}", json=request)
    assert response.status_code == 200


def test_the_document_declares_the_bearer_jwt_and_each_hooks_context() -> None:
    """Issue 21, item 7: a security scheme for the client JWT, 401/404 responses, per-hook contexts."""
    assert _DOCUMENT["components"]["securitySchemes"]["cdsClientJwt"] == {
        **_DOCUMENT["components"]["securitySchemes"]["cdsClientJwt"], "type": "http", "scheme": "bearer",
        "bearerFormat": "JWT",
    }  # fmt: skip
    for path in ("/cds-services", "/cds-services/{service_id}", "/cds-services/{service_id}/feedback"):
        for operation in _DOCUMENT["paths"][path].values():
            assert operation["security"] == [{"cdsClientJwt": []}] and "401" in operation["responses"]
    assert "404" in _DOCUMENT["paths"]["/guideline/{topic}"]["get"]["responses"]
    context = _DOCUMENT["components"]["schemas"]["HookRequest"]["properties"]["context"]
    assert {ref["$ref"].rsplit("/", 1)[1] for ref in context["anyOf"]} == {
        "PatientViewContext", "OrderSelectContext", "OrderSignContext"
    }  # fmt: skip
    assert "draftOrders" in _DOCUMENT["components"]["schemas"]["OrderSignContext"]["properties"]


@schema.parametrize()
@settings(FUZZ_SETTINGS, max_examples=10)  # every operation again: fewer examples, CI has 10 minutes
def test_answers_conform_to_the_document(case: Any, served: str) -> None:
    """No undocumented status (ST103) and no schema-valid request refused (ST202). /analytics's
    `since` is bounded relative to today (CDS_ANALYTICS_MAX_DAYS), a limit a schema cannot state."""
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import positive_data_acceptance, status_code_conformance

    checks = [not_a_server_error, status_code_conformance]
    if case.path != "/analytics":
        checks.append(positive_data_acceptance)
    case.call_and_validate(base_url=served, timeout=30, checks=checks)
