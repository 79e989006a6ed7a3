"""The real CDS Hooks sandbox: its recorded ES384 tokens verify against its published JWKS.

Recordings (fixtures/real-clients/cds-hooks-sandbox/) were made with the service at
http://127.0.0.1:8090, so that is the public base URL here; the clock is frozen at the moment
of recording because the tokens live five minutes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import respx

from cds_service.auth import Authenticator, AuthError
from cds_service.settings import Settings
from tests.support.auth import make_request

pytestmark = pytest.mark.asyncio

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
RECORDINGS = FIXTURES / "real-clients" / "cds-hooks-sandbox" / "recorded-requests.jsonl"
SANDBOX_CLIENTS = FIXTURES / "clients" / "sandbox.toml"


def _recorded() -> list[dict[str, Any]]:
    lines = RECORDINGS.read_text(encoding="utf-8").splitlines()
    return [r for r in map(json.loads, lines) if r.get("raw")]


RECORDED = _recorded()


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _authenticator(monkeypatch: pytest.MonkeyPatch, now: datetime) -> Authenticator:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    settings = Settings(clients_file=SANDBOX_CLIENTS, public_base_url="http://127.0.0.1:8090")
    return Authenticator(settings, clock=lambda: now)


def _request(record: dict[str, Any], token: str | None = None) -> Any:
    return make_request(
        record["path"], token=token or record["raw"], method=record["method"], host="127.0.0.1:8090", scheme="http"
    )


async def test_recordings_hold_discovery_and_service_tokens() -> None:
    paths = {(r["method"], r["path"]) for r in RECORDED}
    assert ("GET", "/cds-services") in paths
    assert len(RECORDED) >= 4


@pytest.mark.parametrize("record", RECORDED, ids=[f"{r['method']} {r['path']} {r['t']:.0f}" for r in RECORDED])
async def test_recorded_sandbox_token_verifies_offline(monkeypatch: pytest.MonkeyPatch, record: dict[str, Any]) -> None:
    auth = _authenticator(monkeypatch, _at(record["t"] + 5))
    with respx.mock(assert_all_called=False) as network:
        client = await auth.authenticate(_request(record))
        assert network.calls.call_count == 0  # pinned JWKS: the sandbox's jku is never fetched
    assert client.iss == "https://sandbox.cds-hooks.org"
    assert client.may_call("http://127.0.0.1:8103")  # the recording's fhirServer, listed in sandbox.toml


async def test_recorded_tokens_are_rejected_once_expired(monkeypatch: pytest.MonkeyPatch) -> None:
    record = RECORDED[0]
    auth = _authenticator(monkeypatch, _at(record["jwt"]["payload"]["exp"]) + timedelta(minutes=1))
    with pytest.raises(AuthError, match="token expired"):
        await auth.authenticate(_request(record))


async def test_recorded_token_replayed_on_another_endpoint_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    """A discovery token presented to a service endpoint: aud names the discovery URL."""
    discovery = next(r for r in RECORDED if r["method"] == "GET")
    service = next(r for r in RECORDED if r["method"] == "POST")
    auth = _authenticator(monkeypatch, _at(discovery["t"] + 5))
    with pytest.raises(AuthError, match="wrong audience"):
        await auth.authenticate(_request(service, token=discovery["raw"]))


async def test_recorded_token_with_tampered_payload_fails_signature(monkeypatch: pytest.MonkeyPatch) -> None:
    record = RECORDED[1]
    header, payload, signature = record["raw"].split(".")
    claims = json.loads(__import__("base64").urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] += 3600
    forged_payload = __import__("base64").urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    auth = _authenticator(monkeypatch, _at(record["t"] + 5))
    with pytest.raises(AuthError, match="invalid signature"):
        await auth.authenticate(_request(record, token=f"{header}.{forged_payload}.{signature}"))
