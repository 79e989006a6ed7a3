"""Site configuration of the rules (`[rules]` in the settings file, `[client.rules]` per client).

A hospital switches a rule off, narrows its hooks or changes a threshold without changing code;
a bad table stops the start with one line naming the key and the plausible range.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.ruleset import DEFAULT_RULE_SET, RuleConfigError, build_rule_sets, load_rule_set
from cds_service.settings import load_settings
from tests.support import fhir as fb
from tests.support.auth import APP_ISS, PUBLIC_BASE, app_token, ec_key, write_clients, write_jwks
from tests.support.http import days_ago, topics
from tests.test_cli_config import assert_one_line_error, run_cli

SITE = "settings file site.toml: [rules]"


def _topics_of(rule_set) -> set[str]:  # type: ignore[no-untyped-def]
    return {r.topic for r in rule_set.rules}


def test_no_table_is_the_registry_with_the_sources_numbers() -> None:
    rule_set = load_rule_set((SITE, None))
    assert _topics_of(rule_set) == _topics_of(DEFAULT_RULE_SET)
    assert rule_set.thresholds == DEFAULT_RULE_SET.thresholds
    assert rule_set.override_suppression_days == 30


def test_a_rule_is_switched_off_narrowed_and_a_threshold_changed() -> None:
    rule_set = load_rule_set(
        (
            SITE,
            {
                "lab_recent_days": 60,
                "override_suppression_days": 14,
                "albumin-liver-cramps": {"enabled": False},
                "baclofen-titration": {"hooks": ["order-sign"]},
            },
        )
    )
    assert "albumin-liver-cramps" not in _topics_of(rule_set)
    assert rule_set.disabled == ("albumin-liver-cramps",)
    titration = next(r for r in rule_set.rules if r.topic == "baclofen-titration")
    assert titration.hooks == {"order-sign"}
    assert rule_set.thresholds.lab_recent_days == 60
    assert rule_set.override_suppression_days == 14
    rows = {row["topic"]: row for row in rule_set.describe()}
    assert rows["albumin-liver-cramps"]["enabled"] is False
    assert rows["electrolyte-monitoring"]["thresholds"]["lab_recent_days"] == "60 days"


def test_a_client_table_is_layered_over_the_site_table() -> None:
    site, per_client = build_rule_sets(
        {"lab_recent_days": 60, "sedation-risk": {"enabled": False}},
        {"https://epic.example": {"lab_recent_days": 14}, "https://other.example": None},
    )
    assert set(per_client) == {"https://epic.example"}
    epic = per_client["https://epic.example"]
    assert epic.thresholds.lab_recent_days == 14  # the client's value wins
    assert "sedation-risk" not in _topics_of(epic)  # the site's switch still holds
    assert site.thresholds.lab_recent_days == 60


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"lab_recent_days": 0}, ["lab_recent_days", "plausible range 1–365 days"]),
        ({"potassium_low_mmol_per_l": 35}, ["potassium_low_mmol_per_l", "plausible range 3–4 mmol/L"]),
        ({"potassium_low": 3.0}, ["potassium_low", "unknown key"]),
        ({"baclofen-titration": {"hooks": ["patient-view"]}}, ["baclofen-titration.hooks", "does not check"]),
        ({"baclofen-titration": {"hooks": ["order-sing"]}}, ["baclofen-titration.hooks", "unknown hook"]),
        ({"baclofen-titration": {"enabeld": False}}, ["baclofen-titration.enabeld"]),
        ({"baclofen-titration": {"enabled": "no"}}, ["baclofen-titration.enabled"]),
        ({"override_suppression_days": 9999}, ["override_suppression_days", "0–365"]),
        ({"lab_recent_days": "thirty"}, ["lab_recent_days"]),
    ],
)
def test_a_bad_table_is_refused_naming_where_the_key_and_the_range(table: dict, expected: list[str]) -> None:
    with pytest.raises(RuleConfigError) as error:
        load_rule_set((SITE, table))
    message = str(error.value)
    assert message.startswith(SITE)
    for text in expected:
        assert text in message, message


# --------------------------------------------------------------------------- through HTTP


def _low_potassium_baclofen_order() -> dict:
    draft = fb.draft("197391", "Baclofen 10 MG Oral Tablet", dose=5, frequency=3, authored_on=days_ago(0))
    low_k = fb.observation("2823-3", 2.9, "mmol/L", effective=days_ago(1))
    return fb.hook_request("order-sign", drafts=[draft], potassium_results=[low_k])


def _client(rules: dict | None) -> TestClient:
    settings = load_settings(dev=True, storage_enabled=False, rules=rules or {})
    return TestClient(create_app(settings))


def test_a_switched_off_rule_shows_no_card_and_the_others_still_run() -> None:
    request = _low_potassium_baclofen_order()
    with _client(None) as client:
        assert "electrolyte-potassium" in topics(
            client.post("/cds-services/muscle-spasm-order-sign", json=request).json()
        )
    with _client({"electrolyte-potassium": {"enabled": False}}) as client:
        body = client.post("/cds-services/muscle-spasm-order-sign", json=request).json()
        assert "electrolyte-potassium" not in topics(body)
        assert "switched off at this site" in client.get("/guideline/electrolyte-potassium").text


def test_a_threshold_changes_what_fires_and_the_guideline_page_shows_the_value_in_force() -> None:
    request = _low_potassium_baclofen_order()  # potassium 2.9 mmol/L
    with _client({"potassium_low_mmol_per_l": 3.0, "potassium_critical_mmol_per_l": 2.5}) as client:
        cards = client.post("/cds-services/muscle-spasm-order-sign", json=request).json()["cards"]
        potassium = [c for c in cards if c["source"]["topic"]["code"] == "electrolyte-potassium"]
        assert potassium, "2.9 is below a 3.0 cut-off"
        page = client.get("/guideline/electrolyte-potassium").text
        assert "potassium_low_mmol_per_l" in page and ">3 mmol/L<" in page
    with _client({"potassium_low_mmol_per_l": 3.0, "potassium_critical_mmol_per_l": 2.8}) as client:
        cards = client.post("/cds-services/muscle-spasm-order-sign", json=request).json()["cards"]
        assert not [c for c in cards if c["source"]["topic"]["code"] == "electrolyte-potassium" and
                    c["indicator"] == "critical"]  # fmt: skip


def test_a_rule_narrowed_to_order_sign_is_quiet_on_order_select() -> None:
    draft = fb.draft("197392", "Baclofen 20 MG Oral Tablet", dose=20, frequency=3, authored_on=days_ago(0), rid="d1")
    select = fb.hook_request("order-select", drafts=[draft], selections=["MedicationRequest/d1"])
    sign = fb.hook_request("order-sign", drafts=[draft])
    with _client({"baclofen-titration": {"hooks": ["order-sign"]}}) as client:
        assert "baclofen-titration" not in topics(
            client.post("/cds-services/muscle-spasm-order-select", json=select).json()
        )
        assert "baclofen-titration" in topics(client.post("/cds-services/muscle-spasm-order-sign", json=sign).json())


def test_a_client_gets_its_own_rules(tmp_path: Path) -> None:
    keys = write_jwks(tmp_path, "ehr-jwks.json", ec_key("app-ehr").jwks())
    clients_file = write_clients(
        tmp_path, {"iss": APP_ISS, "jwks_file": keys, "fhir_servers": ["https://fhir.example"]}
    )
    clients_file.write_text(clients_file.read_text() + '[client.rules."electrolyte-potassium"]\nenabled = false\n')
    settings = load_settings(clients_file=clients_file, public_base_url=PUBLIC_BASE, storage_enabled=False)
    path = "/cds-services/muscle-spasm-order-sign"
    with TestClient(create_app(settings), base_url=PUBLIC_BASE) as client:
        body = client.post(
            path, json=_low_potassium_baclofen_order(), headers={"Authorization": f"Bearer {app_token(path)}"}
        )
        assert body.status_code == 200, body.text
        assert "electrolyte-potassium" not in topics(body.json())


# --------------------------------------------------------------------------- the command line


def test_rules_command_prints_the_table_in_force(tmp_path: Path) -> None:
    (tmp_path / "site.toml").write_text('[rules]\nlab_recent_days = 45\n[rules."sedation-risk"]\nenabled = false\n')
    result = run_cli(tmp_path, "rules", "--config", "site.toml")
    assert result.returncode == 0, result.stderr
    assert "off sedation-risk" in result.stdout
    assert "lab_recent_days = 45 days" in result.stdout


def test_a_bad_rules_table_stops_the_start_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "site.toml").write_text("[rules]\nlab_recent_days = 0\n")
    for command in ("serve", "check-config", "rules"):
        result = run_cli(tmp_path, command, "--dev", "--config", "site.toml")
        assert_one_line_error(result, "site.toml", "lab_recent_days", "plausible range 1–365 days")
