"""Per-client card options, settings sources and the command line, as an integrator meets them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.cli import main
from cds_service.settings import load_settings
from tests.support.auth import APP_ISS, PUBLIC_BASE, auth_header, ec_key, write_clients, write_jwks
from tests.support.fhir import draft, hook_request

SIGN_PATH = "/cds-services/muscle-spasm-order-sign"
ROOT = Path(__file__).resolve().parent.parent


def _app_for(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **client_options: Any) -> TestClient:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    keys = write_jwks(tmp_path, "ehr-jwks.json", ec_key("app-ehr").jwks())
    clients = write_clients(tmp_path, {"iss": APP_ISS, "jwks_file": keys, **client_options})
    settings = load_settings(clients_file=clients, public_base_url=PUBLIC_BASE, storage_enabled=False)
    return TestClient(create_app(settings), base_url=PUBLIC_BASE)


def _baclofen_sign() -> dict[str, Any]:
    order = draft("197391", "baclofen 10 MG Oral Tablet", dose=10, frequency=3)
    return hook_request("order-sign", drafts=[order])


def test_epic_client_gets_alphanumeric_topic_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _app_for(tmp_path, monkeypatch, topic_code_style="epic") as client:
        response = client.post(SIGN_PATH, json=_baclofen_sign(), headers=auth_header(SIGN_PATH))
    assert response.status_code == 200, response.text
    codes = [card["source"]["topic"]["code"] for card in response.json()["cards"]]
    assert "BaclofenTitration" in codes
    assert all(re.fullmatch(r"[A-Za-z0-9]{1,100}", code) for code in codes), codes


def test_default_client_gets_the_rule_topic_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with _app_for(tmp_path, monkeypatch) as client:
        response = client.post(SIGN_PATH, json=_baclofen_sign(), headers=auth_header(SIGN_PATH))
    assert response.status_code == 200, response.text
    cards = response.json()["cards"]
    assert "baclofen-titration" in [card["source"]["topic"]["code"] for card in cards]
    # card links point at the guideline page of the rule, on the public URL
    assert all(card["source"]["url"].startswith(f"{PUBLIC_BASE}/guideline") for card in cards)


def test_settings_from_toml_file_and_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "cds.toml"
    config.write_text('port = 9090\nfhir_timeout_seconds = 1.5\ncors_origins = ["https://ehr.example.org"]\n')
    monkeypatch.setenv("CDS_FHIR_TIMEOUT_SECONDS", "2.5")
    settings = load_settings(config, host="0.0.0.0")
    assert settings.port == 9090  # from the file
    assert settings.fhir_timeout_seconds == 2.5  # the environment wins over the file
    assert settings.host == "0.0.0.0"  # a CLI flag wins over both
    assert settings.cors_origins == ["https://ehr.example.org"]
    assert settings.dev is False  # safe default


def test_evaluate_command_prints_the_cards(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    request_file = tmp_path / "request.json"
    request_file.write_text(json.dumps(_baclofen_sign()))
    assert main(["evaluate", str(request_file)]) == 0
    body = json.loads(capsys.readouterr().out)
    card = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "baclofen-titration")
    assert "30 mg/day" in card["summary"]


def test_evaluate_command_reports_bad_input_without_a_traceback(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    request_file = tmp_path / "request.json"
    request_file.write_text('{"hook": "order-sign"}')
    assert main(["evaluate", str(request_file)]) == 1
    outcome = json.loads(capsys.readouterr().out)
    assert outcome["resourceType"] == "OperationOutcome"
    assert any("hookInstance" in issue["diagnostics"] for issue in outcome["issue"])
