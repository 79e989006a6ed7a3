"""The SMART app's edge: its files and their Content-Security-Policy, the drawing-data endpoint's bounds,
the `smart` link on cards (and the site switch), and the registration discovery gives an EHR."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.settings import load_settings
from tests.support.fhir import draft, hook_request, medication_request, patient, potassium
from tests.support.http import cards_of, days_ago, post_hook

BAC_10 = ("197391", "baclofen 10 MG Oral Tablet")
BAC_20 = ("197392", "baclofen 20 MG Oral Tablet")
LISINOPRIL = ("314076", "lisinopril 10 MG Oral Tablet")


def _client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: Any) -> Iterator[TestClient]:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with TestClient(create_app(load_settings(storage_enabled=False, **settings))) as client:
        yield client


@pytest.fixture
def app_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """Authentication on (no dev mode): the app's files and endpoint need no client JWT."""
    clients = tmp_path / "clients.toml"
    clients.write_text(
        '[[client]]\niss = "https://ehr.example.org"\njwks_url = ["https://ehr.example.org/jwks"]\n'
        'fhir_servers = ["https://fhir.ehr.example.org/api/FHIR/R4"]\n'
    )
    yield from _client(
        tmp_path, monkeypatch, clients_file=clients, smart_app_origins=["https://auth.example.org/oauth2"]
    )


def _bundle(*resources: dict[str, Any]) -> bytes:
    return json.dumps({"resourceType": "Bundle", "type": "collection",
                       "entry": [{"resource": r} for r in resources]}).encode()  # fmt: skip


def test_the_app_is_served_with_a_policy_naming_only_the_service_and_the_ehr_servers(app_client: TestClient) -> None:
    for path in ("/app/", "/app/launch.html", "/app/app.js", "/app/app.css", "/app/THIRD_PARTY_LICENSES.txt"):
        response = app_client.get(path)
        assert response.status_code == 200, path
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'; script-src 'self'; style-src 'self';" in csp
        assert "connect-src 'self' https://auth.example.org https://fhir.ehr.example.org;" in csp
        assert response.headers["cache-control"] == "no-store"
    assert app_client.get("/app/app.js").headers["content-type"].startswith("text/javascript")
    assert "fhirclient 2.6.3 — Apache-2.0" in app_client.get("/app/THIRD_PARTY_LICENSES.txt").text


def test_the_launch_url_and_the_redirect_uri_are_one_page(app_client: TestClient) -> None:
    """EHRs registered /app/launch.html as the launch URL: it keeps working, and it is the same page as
    the redirect URI (the page starts or completes the launch from its query)."""
    launch, redirect = app_client.get("/app/launch.html"), app_client.get("/app/")
    assert launch.status_code == redirect.status_code == 200
    assert launch.text == redirect.text
    assert "data-page" not in launch.text


def test_the_pages_load_only_the_apps_own_files(app_client: TestClient) -> None:
    page = app_client.get("/app/launch.html").text
    assert '<script type="module" src="app.js"></script>' in page
    linked = re.findall(r'(?:src|href)="([^"]*)"', page)
    assert linked and all(not url.startswith(("http:", "https:", "//")) for url in linked), linked


@pytest.mark.parametrize("path", ["/app/..%2Fsettings.py", "/app/missing.js", "/app/.hidden"])
def test_nothing_outside_the_apps_files_is_served(app_client: TestClient, path: str) -> None:
    assert app_client.get(path).status_code == 404


def test_config_gives_the_client_id_scopes_and_the_services_own_queries(app_client: TestClient) -> None:
    config = app_client.get("/app/config.json").json()
    assert config["clientId"] == "cds-service-smart-app"
    assert "patient/MedicationRequest.rs" in config["scope"].split() and "launch/patient" in config["scope"].split()
    assert config["queries"]["patient"] == "Patient/{{context.patientId}}"
    assert "_count=100" in config["queries"]["potassium"] and "draft" in config["queries"]["medications"]


def test_course_answers_the_drawing_without_client_authentication(app_client: TestClient) -> None:
    body = _bundle(patient(), potassium(3.1, days_ago(2), unit="mEq/L"))
    context = json.dumps({"topic": "electrolyte-potassium"})
    response = app_client.post("/app/api/course", content=body,
                               headers={"Sec-Fetch-Site": "same-origin", "X-App-Context": context})  # fmt: skip
    assert response.status_code == 200
    drawing = response.json()
    assert drawing["focus"] == {"topic": "electrolyte-potassium"}
    assert drawing["labs"][0]["points"][0]["band"] == "info"
    assert response.headers["cache-control"] == "no-store"


def test_course_refuses_other_sites(app_client: TestClient) -> None:
    refused = app_client.post("/app/api/course", content=_bundle(patient()), headers={"Sec-Fetch-Site": "cross-site"})
    assert refused.status_code == 403
    elsewhere = app_client.post(
        "/app/api/course", content=_bundle(patient()), headers={"Origin": "https://evil.example"}
    )
    assert elsewhere.status_code == 403 and "is not this service" in elsewhere.text


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b'{"resourceType": "Patient"}', 400, "must be a FHIR Bundle"),
        (b'{"resourceType": "Bundle", "entry": {}}', 400, "Bundle.entry must be a list"),
        (b"not json", 400, "not valid JSON"),
        (json.dumps({"resourceType": "Bundle", "entry": [{}] * 5001}).encode(), 413, "the limit is 5000"),
    ],
)
def test_course_says_what_is_wrong_with_a_body(app_client: TestClient, body: bytes, status: int, says: str) -> None:
    response = app_client.post("/app/api/course", content=body)
    assert response.status_code == status and says in response.text


def test_course_refuses_a_body_over_the_size_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for client in _client(tmp_path, monkeypatch, max_body_bytes=2000):
        response = client.post("/app/api/course", content=_bundle(*[patient(pid=f"p{i}") for i in range(40)]))
        assert response.status_code == 413


def test_course_logs_no_patient_data(app_client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    marked = patient(pid="p-secret-42")
    marked["name"] = [{"family": "Zebedee-Secret"}]
    with caplog.at_level(logging.DEBUG):
        assert app_client.post("/app/api/course", content=_bundle(marked)).status_code == 200
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "Zebedee" not in logged and "p-secret-42" not in logged


def _titration_request() -> dict[str, Any]:
    active = medication_request(*BAC_10, rid="bac-active", dose=10, frequency=3, authored_on=days_ago(2))
    return hook_request("order-sign", drafts=[draft(*BAC_20, rid="bac-up", dose=20, frequency=3)], meds=[active])


def test_dosing_cards_link_to_the_app_with_the_order_and_topic(client: TestClient) -> None:
    body = post_hook(client, _titration_request())
    (card,) = cards_of(body, "baclofen-titration")
    (smart,) = [link for link in card["links"] if link["type"] == "smart"]
    assert smart["url"] == "http://testserver/app/launch.html"
    context = json.loads(smart["appContext"])
    assert (context["topic"], context["order"]) == ("baclofen-titration", "MedicationRequest/bac-up")
    # the order being written travels with the link, as the EHR sent it (it may be on no FHIR server yet)
    request = _titration_request()
    assert context["draftOrders"] == [e["resource"] for e in request["context"]["draftOrders"]["entry"]]


def test_the_app_link_leaves_out_drafts_too_large_for_an_ehr_to_carry(client: TestClient) -> None:
    request = _titration_request()
    request["context"]["draftOrders"]["entry"][0]["resource"]["note"] = [{"text": "x" * 7000}]
    (card,) = cards_of(post_hook(client, request), "baclofen-titration")
    (smart,) = [link for link in card["links"] if link["type"] == "smart"]
    assert json.loads(smart["appContext"]) == {"topic": "baclofen-titration", "order": "MedicationRequest/bac-up"}


def test_cards_about_other_things_carry_no_app_link(client: TestClient) -> None:
    request = hook_request("order-sign", drafts=[draft(*LISINOPRIL, rid="l1", dose=10, frequency=1)],
                           meds=[medication_request(*BAC_10, rid="b", dose=10, frequency=3)])  # fmt: skip
    body = post_hook(client, request)
    assert all(link["type"] != "smart" for card in body["cards"] for link in card.get("links", []))


def test_a_site_switches_the_app_link_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for client in _client(tmp_path, monkeypatch, dev=True, smart_app_links=False):
        (card,) = cards_of(post_hook(client, _titration_request()), "baclofen-titration")
        assert all(link["type"] != "smart" for link in card["links"])
        assert "extension" not in client.get("/cds-services").json()["services"][0]


def test_discovery_tells_an_ehr_how_to_register_the_app(client: TestClient) -> None:
    for service in client.get("/cds-services").json()["services"]:
        app = service["extension"]["smart-app"]
        assert app["launchUrl"] == "http://testserver/app/launch.html"
        assert app["redirectUri"] == "http://testserver/app/"
        assert "launch" in app["scope"].split() and "patient/Observation.rs" in app["scope"].split()


def test_course_stores_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the audit database on, drawing a course writes no row anywhere (a hook call does: the control)."""
    import sqlalchemy

    url = f"sqlite:///{tmp_path}/audit.db"

    def rows() -> int:
        engine = sqlalchemy.create_engine(url)
        with engine.connect() as connection:
            tables = [t for t in sqlalchemy.inspect(engine).get_table_names() if t != "alembic_version"]
            count = sum(connection.execute(sqlalchemy.text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one() for t in tables)
        engine.dispose()
        return int(count)

    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with TestClient(create_app(load_settings(dev=True, storage_enabled=True, database_url=url))) as client:
        marked = patient(pid="p-store-1")
        response = client.post("/app/api/course", content=_bundle(marked, potassium(2.9, days_ago(1), pid="p-store-1")))
        assert response.status_code == 200
    assert rows() == 0
    with TestClient(create_app(load_settings(dev=True, storage_enabled=True, database_url=url))) as client:
        post_hook(client, _titration_request())
    assert rows() > 0  # the same database does record a hook call


def test_every_linked_topic_is_a_rule_of_the_registry() -> None:
    """A renamed or removed rule would silently lose its link: the linked topics must all exist."""
    from cds_service.cards import RULES_BY_TOPIC
    from cds_service.protocol.smart_app import LINKED_TOPICS

    assert LINKED_TOPICS - set(RULES_BY_TOPIC) == set()
