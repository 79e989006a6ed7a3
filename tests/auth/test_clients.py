"""The trusted-clients file: parsed strictly, so a typo cannot silently widen or drop trust."""

from __future__ import annotations

from pathlib import Path

import pytest

from cds_service.auth.clients import load_clients
from cds_service.auth.errors import ClientsConfigError
from tests.support.auth import ec_key, write_clients, write_jwks

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "clients"


def test_shipped_example_files_load() -> None:
    sandbox = load_clients(FIXTURES / "sandbox.toml", allow_http_loopback=True)["https://sandbox.cds-hooks.org"]
    assert sandbox.keys_pinned and sandbox.pinned_keys[0]["kid"] == "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
    assert sandbox.jwks_urls == ("https://sandbox.cds-hooks.org/.well-known/jwks.json",)
    (epic,) = load_clients(FIXTURES / "epic-example.toml").values()
    assert epic.topic_code_style == "epic" and epic.sub and epic.aud
    assert sandbox.suggestions == "medication-only"  # it keeps its own sig and supply (issue 20)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"jwks_url": ["https://a.example/jwks"]}, "`iss` is required"),
        ({"iss": "https://a.example"}, "needs `jwks_url` or `jwks_file`"),
        ({"iss": "https://a.example", "jwks_url": ["http://a.example/jwks"]}, "must be https"),
        (
            {"iss": "https://a.example", "jwks_url": ["https://a.example/j"], "fhir_server": ["https://f.example"]},
            "unknown keys",
        ),
        (
            {"iss": "https://a.example", "jwks_url": ["https://a.example/j"], "fhir_servers": ["ftp://f.example"]},
            "must be an https base URL",
        ),
        (
            {"iss": "https://a.example", "jwks_url": ["https://a.example/j"], "fhir_servers": ["http://10.0.0.8/r4"]},
            "must be an https base URL",
        ),
        (
            {"iss": "https://a.example", "jwks_url": ["https://a.example/j"], "topic_code_style": "camel"},
            "topic_code_style",
        ),
        (
            {"iss": "https://a.example", "jwks_url": ["https://a.example/j"], "suggestions": "full"},
            r"client 'https://a.example': suggestions must be one of \['medication-only', 'whole-resource'\]",
        ),
    ],
)
def test_invalid_entries_refuse_to_load(tmp_path: Path, entry: dict[str, object], message: str) -> None:
    with pytest.raises(ClientsConfigError, match=message):
        load_clients(write_clients(tmp_path, entry), allow_http_loopback=True)


def test_how_a_client_applies_suggestions_defaults_to_the_medication_alone(tmp_path: Path) -> None:
    """Issue 20: a client not known to apply a suggestion's whole resource gets no button it would
    take and not apply (the CDS Hooks sandbox keeps its own sig and supply)."""
    plain = {"iss": "https://a.example", "jwks_url": ["https://a.example/j"]}
    full = {"iss": "https://b.example", "jwks_url": ["https://b.example/j"], "suggestions": "whole-resource"}
    clients = load_clients(write_clients(tmp_path, plain, full))
    assert clients["https://a.example"].suggestions == "medication-only"
    assert clients["https://b.example"].suggestions == "whole-resource"


def test_duplicate_issuer_is_an_error(tmp_path: Path) -> None:
    entry = {"iss": "https://a.example", "jwks_url": ["https://a.example/j"]}
    with pytest.raises(ClientsConfigError, match="listed twice"):
        load_clients(write_clients(tmp_path, entry, entry))


def test_private_key_in_pinned_file_is_refused(tmp_path: Path) -> None:
    from jwt.algorithms import ECAlgorithm

    private = ECAlgorithm.to_jwk(ec_key("k").private_key, as_dict=True) | {"kid": "k"}
    name = write_jwks(tmp_path, "keys.json", {"keys": [private]})
    with pytest.raises(ClientsConfigError, match="private material"):
        load_clients(write_clients(tmp_path, {"iss": "https://a.example", "jwks_file": name}))


def test_loopback_http_fhir_server_only_when_allowed(tmp_path: Path) -> None:
    path = write_clients(
        tmp_path,
        {"iss": "https://a.example", "jwks_url": ["https://a.example/j"], "fhir_servers": ["http://127.0.0.1:8103"]},
    )
    assert load_clients(path, allow_http_loopback=True)["https://a.example"].fhir_servers == ("http://127.0.0.1:8103",)
    with pytest.raises(ClientsConfigError):
        load_clients(path, allow_http_loopback=False)
