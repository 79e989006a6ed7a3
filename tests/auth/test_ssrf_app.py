"""SSRF through the running app: a request naming a FHIR server that is not allowlisted for the
authenticated client makes no outbound request at all; redirects are not followed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from tests.support.auth import auth_header, hospital_app
from tests.support.fhir import SERVICE_IDS, draft, hook_request

ALLOWED_FHIR = "https://fhir.example.org/r4"
ACCESS_TOKEN = "ehr-access-token-for-fhir"
SIGN_PATH = f"/cds-services/{SERVICE_IDS['order-sign']}"


@pytest.fixture
def app_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with hospital_app(tmp_path, (ALLOWED_FHIR,), fhir_timeout_seconds=2.0) as client:
        yield client


def _request_without_prefetch(fhir_server: str) -> dict[str, Any]:
    body = hook_request(
        "order-sign",
        drafts=[draft("1292", "baclofen 10 MG Oral Tablet", dose=10, frequency=3)],
        fhir_server=fhir_server,
        omit=("patient", "medications", "potassium", "magnesium", "conditions"),
    )
    body["fhirAuthorization"] = {
        "access_token": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds-service",
    }
    return body


def _empty_fhir(request: httpx.Request) -> httpx.Response:
    if "/Patient/" in request.url.path:
        return httpx.Response(200, json={"resourceType": "Patient", "id": "pat1", "birthDate": "1970-01-01"})
    return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": []})


@pytest.mark.parametrize(
    "fhir_server",
    [
        "https://internal-fhir.attacker.example/fhir",
        "https://fhir.example.org.attacker.example/r4",
        "https://fhir.example.org/r4-admin",
        "http://169.254.169.254/latest/meta-data",
        "http://127.0.0.1:5432",
        "http://fhir.example.org/r4",
    ],
)
def test_non_allowlisted_fhir_server_is_never_contacted(app_client: TestClient, fhir_server: str) -> None:
    with respx.mock(assert_all_called=False) as network:
        network.route().mock(side_effect=_empty_fhir)
        response = app_client.post(
            SIGN_PATH, json=_request_without_prefetch(fhir_server), headers=auth_header(SIGN_PATH)
        )
        assert network.calls.call_count == 0  # inside the block: respx forgets calls on exit
    assert response.status_code in (200, 412), response.text  # "data unavailable", never an error
    assert ACCESS_TOKEN not in response.text


def test_allowlisted_fhir_server_is_contacted_with_the_token(app_client: TestClient) -> None:
    """The control for the test above: the same request to the allowlisted base does fetch."""
    with respx.mock(assert_all_called=False) as network:
        network.route().mock(side_effect=_empty_fhir)
        response = app_client.post(
            SIGN_PATH, json=_request_without_prefetch(ALLOWED_FHIR), headers=auth_header(SIGN_PATH)
        )
        assert response.status_code == 200, response.text
        assert network.calls.call_count >= 1
        for call in network.calls:
            assert str(call.request.url).startswith(ALLOWED_FHIR + "/")
            assert call.request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"


def test_redirect_to_another_host_is_not_followed(app_client: TestClient) -> None:
    with respx.mock(assert_all_called=False) as network:
        elsewhere = network.route(host="collector.attacker.example").mock(return_value=httpx.Response(200, json={}))
        network.route(host="fhir.example.org").mock(
            return_value=httpx.Response(302, headers={"Location": "https://collector.attacker.example/steal"})
        )
        response = app_client.post(
            SIGN_PATH, json=_request_without_prefetch(ALLOWED_FHIR), headers=auth_header(SIGN_PATH)
        )
        assert elsewhere.call_count == 0
        assert network.calls.call_count >= 1  # the FHIR server itself was asked
    assert response.status_code in (200, 412), response.text


def test_unauthenticated_request_makes_no_outbound_call(app_client: TestClient) -> None:
    with respx.mock(assert_all_called=False) as network:
        network.route().mock(side_effect=_empty_fhir)
        response = app_client.post(SIGN_PATH, json=_request_without_prefetch(ALLOWED_FHIR))
        assert network.calls.call_count == 0
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


# ---------------------------------------------------------------------------- issue 21, finding 4: one URL


@pytest.mark.parametrize(
    "fhir_server",
    [
        "https://fhir.example.org/r4?x=1&y=",  # the review: `GET /r4?x=1&y=/Patient/...`
        "https://fhir.example.org/r4#",  # the review: every search sent to the base, answer read as the record
        "https://fhir.example.org/r4#/Patient",
        "https://fhir.example.org/r4?",
    ],
)
def test_a_fhir_server_with_a_query_or_fragment_is_refused_400_naming_the_field(
    app_client: TestClient, fhir_server: str
) -> None:
    with respx.mock(assert_all_called=False) as network:
        network.route().mock(side_effect=_empty_fhir)
        response = app_client.post(
            SIGN_PATH, json=_request_without_prefetch(fhir_server), headers=auth_header(SIGN_PATH)
        )
        assert network.calls.call_count == 0
    assert response.status_code == 400, response.text
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["fhirServer"] and "query" in issue["diagnostics"]
    assert ACCESS_TOKEN not in response.text


def test_only_the_normalised_fhir_server_url_is_requested(app_client: TestClient) -> None:
    """Upper-case host, default port and trailing slash pass the allowlist; the requests go to the
    very base the allowlist compared (https://fhir.example.org/r4/...)."""
    with respx.mock(assert_all_called=False) as network:
        network.route().mock(side_effect=_empty_fhir)
        response = app_client.post(
            SIGN_PATH,
            json=_request_without_prefetch("HTTPS://FHIR.Example.org:443/r4/"),
            headers=auth_header(SIGN_PATH),
        )
        urls = [str(call.request.url) for call in network.calls]
    assert response.status_code == 200, response.text
    assert urls and all(url.startswith(ALLOWED_FHIR + "/") for url in urls), urls
    assert not any("//Patient" in url or ":443" in url for url in urls), urls
