"""The CDS Hooks edge as an integrator sees it: discovery, CORS, request validation, responses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.protocol.services import PREFETCH_TEMPLATES
from cds_service.settings import load_settings
from tests.support.fhir import SERVICE_IDS, draft, hook_request, searchset
from tests.support.http import post_hook

ROOT = Path(__file__).resolve().parents[2]
SPEC_EXAMPLES = ROOT / "fixtures" / "spec-examples"
SANDBOX_RECORDED = ROOT / "fixtures" / "real-clients" / "cds-hooks-sandbox" / "recorded-requests.jsonl"


def _no_empty_values(value: Any, path: str = "$") -> None:
    """The spec forbids null, "", [] and {} in responses (except an empty cards list)."""
    if isinstance(value, dict):
        assert value, f"empty object at {path}"
        for key, child in value.items():
            assert child is not None, f"null at {path}.{key}"
            if not (key == "cards" and child == []):
                _no_empty_values(child, f"{path}.{key}")
    elif isinstance(value, list):
        assert value, f"empty list at {path}"
        for i, child in enumerate(value):
            _no_empty_values(child, f"{path}[{i}]")
    elif isinstance(value, str):
        assert value != "", f"empty string at {path}"


def test_discovery_lists_one_service_per_hook_with_prefetch(client: TestClient) -> None:
    response = client.get("/cds-services")
    assert response.status_code == 200
    services = response.json()["services"]
    assert {s["hook"] for s in services} == {"order-select", "order-sign", "patient-view"}
    for service in services:
        assert service["id"] == SERVICE_IDS[service["hook"]]
        assert service["title"] and service["description"] and service["usageRequirements"]
        assert set(service["prefetch"]) == set(PREFETCH_TEMPLATES)
        assert service["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        # only 2.0 tokens: no nested context paths, no date functions
        for template in service["prefetch"].values():
            assert "{{context.patientId}}" in template
            assert "today()" not in template
    _no_empty_values(response.json())


def test_cors_preflight_from_the_sandbox_page_passes(client: TestClient) -> None:
    response = client.options(
        "/cds-services/muscle-spasm-order-select",
        headers={
            "Origin": "https://sandbox.cds-hooks.org",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://sandbox.cds-hooks.org")
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


def test_unknown_service_is_404_with_outcome(client: TestClient) -> None:
    response = client.post("/cds-services/no-such-service", json=hook_request("patient-view"))
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "no-such-service" in response.json()["issue"][0]["diagnostics"]


def _valid_select() -> dict[str, Any]:
    return hook_request("order-select", drafts=[draft("197391", "baclofen 10 MG Oral Tablet")])


BAD_INPUTS: list[tuple[str, Any, int, str]] = [
    ("invalid JSON", b'{"hook": "order-select", ', 400, "not valid JSON"),
    ("empty body", b"", 400, "empty"),
    ("array instead of object", b"[1, 2]", 400, "JSON object"),
    ("wrong hook for service", {**_valid_select(), "hook": "patient-view"}, 400, "does not match"),
    ("missing hookInstance", {k: v for k, v in _valid_select().items() if k != "hookInstance"}, 400, "hookInstance"),
    ("context not an object", {**_valid_select(), "context": ["x"]}, 400, "context"),
    (
        "missing patientId",
        {**_valid_select(), "context": {k: v for k, v in _valid_select()["context"].items() if k != "patientId"}},
        400,
        "context.patientId",
    ),
    (
        "order-select without selections",
        {**_valid_select(), "context": {k: v for k, v in _valid_select()["context"].items() if k != "selections"}},
        400,
        "context.selections",
    ),
    (
        "draftOrders not a Bundle",
        {**_valid_select(), "context": {**_valid_select()["context"], "draftOrders": {"resourceType": "Patient"}}},
        400,
        "context.draftOrders",
    ),
    (
        "prefetch value not an object",
        {**_valid_select(), "prefetch": {"patient": "Patient/1"}},
        400,
        "prefetch.patient",
    ),
    (
        "fhirAuthorization without fhirServer",
        {
            **_valid_select(),
            "fhirAuthorization": {
                "access_token": "t", "token_type": "Bearer", "expires_in": 300, "scope": "x", "subject": "s",
            },
        },
        400,
        "fhirServer",
    ),
    ("too deep", json.dumps({**_valid_select(), "extension": {"a": json.loads("[" * 100 + "]" * 100)}}).encode(),
     400, "deeper"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "body", "status", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_a_clear_4xx(client: TestClient, name: str, body: Any, status: int, message: str) -> None:
    if isinstance(body, bytes):
        response = client.post(
            "/cds-services/muscle-spasm-order-select", content=body, headers={"Content-Type": "application/json"}
        )
    else:
        response = client.post("/cds-services/muscle-spasm-order-select", json=body)
    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    diagnostics = " ".join(issue["diagnostics"] for issue in outcome["issue"])
    assert message in diagnostics, diagnostics
    assert "Traceback" not in response.text


def test_oversize_body_is_413(dev_settings: Any) -> None:
    settings = dev_settings.model_copy(update={"max_body_bytes": 500})
    with TestClient(create_app(settings)) as small:
        response = small.post("/cds-services/muscle-spasm-order-select", json=_valid_select())
    assert response.status_code == 413
    assert "limit is 500" in response.json()["issue"][0]["diagnostics"]


def test_error_bodies_do_not_echo_patient_values(client: TestClient) -> None:
    request = _valid_select()
    request["context"]["patientId"] = {"name": "SENTINEL-Jane-Doe"}
    response = client.post("/cds-services/muscle-spasm-order-select", json=request)
    assert response.status_code == 400
    assert "SENTINEL" not in response.text


def test_epic_extension_and_unknown_fields_are_tolerated(client: TestClient) -> None:
    request = _valid_select()
    request["extension"] = {"com.epic.cdshooks.request.bpa-trigger-action": "23", "fhir-version": "R4"}
    request["someVendorField"] = {"x": 1}
    body = post_hook(client, request)
    assert isinstance(body["cards"], list)


@pytest.mark.parametrize("name", ["order-select-r4.json", "order-sign-r4.json"])
def test_spec_example_requests_with_our_prefetch(client: TestClient, name: str) -> None:
    request = json.loads((SPEC_EXAMPLES / name).read_text())
    request["prefetch"] = hook_request(request["hook"], pid="1288992")["prefetch"]
    body = post_hook(client, request)
    # Amoxicillin/clavulanate and a pureed diet: nothing in this guideline applies.
    assert body["cards"] == []


def test_spec_example_unrelated_order_is_answered_without_patient_data(client: TestClient) -> None:
    """Amoxicillin and a diet: nothing to check, so no prefetch and no FHIR server are needed (no 412)."""
    request = json.loads((SPEC_EXAMPLES / "order-select-r4.json").read_text())
    response = client.post("/cds-services/muscle-spasm-order-select", json=request)
    assert response.status_code == 200
    assert response.json() == {"cards": []}


def test_relevant_order_without_prefetch_or_server_is_412(client: TestClient) -> None:
    request = json.loads((SPEC_EXAMPLES / "order-select-r4.json").read_text())
    order = request["context"]["draftOrders"]["entry"][1]["resource"]
    order["medicationCodeableConcept"] = {
        "text": "baclofen 10 MG Oral Tablet",
        "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "197391"}],
    }
    response = client.post("/cds-services/muscle-spasm-order-select", json=request)
    assert response.status_code == 412
    assert response.json()["resourceType"] == "OperationOutcome"


def _recorded_sandbox_posts() -> list[dict[str, Any]]:
    posts = []
    for line in SANDBOX_RECORDED.read_text().splitlines():
        record = json.loads(line)
        if record["method"] == "POST" and record["body"] and "hook" in record["body"]:
            posts.append(record["body"])
    return posts


@pytest.mark.parametrize("index", range(len(_recorded_sandbox_posts())))
def test_recorded_sandbox_requests_get_well_formed_cards(client: TestClient, index: int) -> None:
    request = _recorded_sandbox_posts()[index]
    # The recorded fhirServer is gone; keep the call offline with what the sandbox prefetched.
    request = {**request, "fhirServer": None}
    request.pop("fhirServer")
    response = client.post(f"/cds-services/{SERVICE_IDS[request['hook']]}", json=request)
    assert response.status_code in (200, 412), response.text
    if response.status_code == 200:
        body = response.json()
        _no_empty_values(body)
        for card in body["cards"]:
            assert len(card["summary"]) <= 140
            assert card["indicator"] in ("info", "warning", "critical")
            assert card["source"]["topic"]["code"]
            assert card["source"]["url"].startswith("http")


def test_sandbox_first_order_select_without_a_drug_is_quiet(client: TestClient) -> None:
    request = hook_request("order-select")
    request["context"]["draftOrders"]["entry"] = [
        {"resource": {"resourceType": "MedicationRequest", "id": "request-123", "status": "draft",
                      "subject": {"reference": "Patient/pat1"}, "authoredOn": "2026-11-24"}}
    ]  # fmt: skip
    request["context"]["selections"] = ["MedicationRequest/request-123"]
    body = post_hook(client, request)
    assert body["cards"] == []


def test_guideline_pages_are_served_for_card_links(client: TestClient) -> None:
    index = client.get("/guideline")
    assert index.status_code == 200 and "S1" in index.text
    assert client.get("/guideline/not-a-rule").status_code == 404


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/openapi.json").status_code == 200
    assert client.get("/docs").status_code == 200


def test_request_id_header(client: TestClient) -> None:
    assert client.get("/health").headers["X-Request-ID"]


def test_prefetch_searchsets_must_not_be_confused_with_outcomes(client: TestClient) -> None:
    request = hook_request("patient-view")
    request["prefetch"]["medications"] = searchset([])
    request["prefetch"]["medications"]["entry"] = [
        {"resource": {"resourceType": "OperationOutcome",
                      "issue": [{"severity": "warning", "code": "processing",
                                 "diagnostics": "Resource request returns no results."}]},
         "search": {"mode": "outcome"}}
    ]  # fmt: skip
    body = post_hook(client, request)
    assert body["cards"] == []


def test_production_mode_without_clients_refuses_calls() -> None:
    settings = load_settings(dev=False, storage_enabled=False)
    with TestClient(create_app(settings)) as prod:
        response = prod.post("/cds-services/muscle-spasm-patient-view", json=hook_request("patient-view"))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_an_internal_error_is_a_500_outcome_with_a_request_id_not_a_traceback(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("SENTINEL secret detail")

    monkeypatch.setattr("cds_service.protocol.routes.handle_hook_call", broken)
    response = client.post("/cds-services/muscle-spasm-order-select", json=_valid_select())
    assert response.status_code == 500
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.headers["X-Request-ID"]
    assert "SENTINEL" not in response.text and "Traceback" not in response.text


def test_a_failing_rule_becomes_a_card_not_silence(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    import dataclasses

    from cds_service.cards import RULES
    from cds_service.cards.thresholds import DEFAULT_THRESHOLDS
    from cds_service.ruleset import RuleSet

    def explode(facts: Any, thresholds: Any) -> Any:
        raise ValueError("bug")

    broken = tuple(dataclasses.replace(r, evaluate=explode) if r.topic == "baclofen-titration" else r for r in RULES)
    monkeypatch.setattr(client.app.state, "site_rule_set", RuleSet(broken, DEFAULT_THRESHOLDS))
    body = post_hook(client, _valid_select())
    card = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "check-failed")
    assert "baclofen-titration" in card["detail"] and card["indicator"] == "warning"
