"""No patient data and no token in any log line or error body.

The formatter (`cds_service.logs`) is unit-tested first; then every endpoint is
driven with sentinel values (name, identifier, birth date, resource ids, the EHR's access
token, the client JWTs) through success, FHIR-fetch, 400, 401, 404 and feedback paths, at
DEBUG level, and the captured output is searched for each sentinel.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.logs import (
    ALLOWED_LOG_FIELDS,
    PrivacyJsonFormatter,
    configure_logging,
    redact_secrets,
    sanitized_fields,
)
from cds_service.settings import load_settings
from tests.support.auth import PUBLIC_BASE, app_clients_file, app_token, ec_key, mint
from tests.support.fhir import (
    SERVICE_IDS,
    condition,
    draft,
    magnesium,
    medication_request,
    patient,
    potassium,
    searchset,
)

FHIR_BASE = "https://fhir.example.org/r4"
GIVEN, FAMILY = "Quillonius", "Sentinelberg"
MRN = "MRN-7743-SENTINEL"
BIRTH_DATE = "1931-02-03"
ACCESS_TOKEN = "sentinel-access-token-8d2f61c0"
PATIENT_ID = "sentinel-pt-5521"
MEDREQ_ID = "sentinel-mr-9982"
OBS_ID = "sentinel-obs-4410"
COND_ID = "sentinel-cond-3307"
SENTINELS = [GIVEN, FAMILY, MRN, BIRTH_DATE, ACCESS_TOKEN, PATIENT_ID, MEDREQ_ID, OBS_ID, COND_ID]

# --------------------------------------------------------------------------- formatter unit tests


def _record(msg: str, *args: Any, exc: BaseException | None = None, **extra: Any) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc else None
    record = logging.LogRecord("cds_service.test", logging.ERROR, __file__, 1, msg, args, exc_info)
    record.__dict__.update(extra)
    return record


def test_extra_fields_off_the_allowlist_are_dropped() -> None:
    fields = sanitized_fields(_record("hook done", patient_name=FAMILY, hook="order-sign", body={"x": MRN}))
    assert fields["hook"] == "order-sign"
    assert "patient_name" not in fields and "body" not in fields
    assert "patient_name" not in ALLOWED_LOG_FIELDS


def test_tokens_in_messages_and_fields_are_redacted() -> None:
    jwt = mint(ec_key("log-test"), {"iss": "x", "sub": "y"})
    line = PrivacyJsonFormatter().format(
        _record("auth header was Bearer %s and %s", ACCESS_TOKEN, jwt, reason=f"bad token {jwt}")
    )
    assert jwt not in line and ACCESS_TOKEN not in line and jwt.split(".")[2] not in line
    assert "[redacted" in line
    assert redact_secrets('{"access_token": "abc123", "x": 1}') == '{"access_token": "[redacted]", "x": 1}'


def test_exception_messages_are_withheld_but_type_and_location_kept() -> None:
    try:
        raise ValueError(f"patient {FAMILY} born {BIRTH_DATE}")
    except ValueError as exc:
        line = PrivacyJsonFormatter().format(_record("rule failed", exc=exc))
    assert FAMILY not in line and BIRTH_DATE not in line
    assert "ValueError" in line and "test_logs.py" in line


# --------------------------------------------------------------------------- every endpoint


@pytest.fixture
def captured(caplog: pytest.LogCaptureFixture) -> Iterator[tuple[io.StringIO, pytest.LogCaptureFixture]]:
    """Production handler (JSON, privacy formatter) on the root logger at DEBUG, plus caplog."""
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    stream = io.StringIO()
    handler = configure_logging("DEBUG", stream=stream)
    caplog.set_level(logging.DEBUG)
    caplog.handler.setFormatter(PrivacyJsonFormatter())
    yield stream, caplog
    root.removeHandler(handler)
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


@pytest.fixture
def app_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    settings = load_settings(
        clients_file=app_clients_file(tmp_path, [FHIR_BASE]),
        public_base_url=PUBLIC_BASE,
        storage_enabled=True,
        database_url=f"sqlite:///{tmp_path}/audit.db",
        patient_hash_secret="log-privacy-test-secret-0123456789",
    )
    return settings


def _patient() -> dict[str, Any]:
    resource = patient(birth_date=BIRTH_DATE, pid=PATIENT_ID)
    resource["name"] = [{"given": [GIVEN], "family": FAMILY}]
    resource["identifier"] = [{"system": "urn:oid:1.2.3.4", "value": MRN}]
    return resource


def _hook_body(hook: str, *, full_prefetch: bool = True) -> dict[str, Any]:
    today = datetime.now(UTC).date()
    order = draft("1292", "baclofen 10 MG Oral Tablet", rid=MEDREQ_ID, dose=10, frequency=3)
    order["subject"] = {"reference": f"Patient/{PATIENT_ID}"}
    context: dict[str, Any] = {"userId": "Practitioner/sentinel-user", "patientId": PATIENT_ID}
    if hook != "patient-view":
        context["draftOrders"] = {"resourceType": "Bundle", "entry": [{"resource": order}]}
        if hook == "order-select":
            context["selections"] = [f"MedicationRequest/{MEDREQ_ID}"]
    body: dict[str, Any] = {
        "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
        "hook": hook,
        "fhirServer": FHIR_BASE,
        "fhirAuthorization": {
            "access_token": ACCESS_TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "cds-service",
        },
        "context": context,
    }
    if full_prefetch:
        body["prefetch"] = {
            "patient": _patient(),
            "medications": searchset(
                [medication_request("1292", "baclofen 10 MG Oral Tablet", rid=MEDREQ_ID + "-active", dose=10)]
            ),
            "potassium": searchset([potassium(3.1, str(today - timedelta(days=2)), oid=OBS_ID, pid=PATIENT_ID)]),
            "magnesium": searchset([magnesium(1.4, str(today - timedelta(days=2)), pid=PATIENT_ID)]),
            "conditions": searchset([condition("K74.60", "Cirrhosis of liver", cid=COND_ID, pid=PATIENT_ID)]),
        }
    return body


def _fhir_server(request: httpx.Request) -> httpx.Response:
    """A FHIR server answering with sentinel-laden resources, a failure and a redirect."""
    path = request.url.path
    if "/Patient/" in path:
        return httpx.Response(200, json=_patient())
    if path.endswith("/Condition"):
        return httpx.Response(500, text=f"internal error for patient {FAMILY} {MRN}")
    if path.endswith("/MedicationRequest"):
        return httpx.Response(302, headers={"Location": f"https://elsewhere.example/{PATIENT_ID}"})
    today = datetime.now(UTC).date()
    return httpx.Response(200, json=searchset([potassium(5.9, str(today), oid=OBS_ID, pid=PATIENT_ID)]))


def _post(client: TestClient, path: str, payload: Any, tokens: list[str], *, token: str | None = None) -> Any:
    token = token if token is not None else app_token(path)
    tokens.append(token)
    content = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return client.post(
        path, content=content, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    )


def _drive_every_endpoint(app: TestClient) -> tuple[list[str], list[httpx.Response], list[httpx.Response]]:
    tokens: list[str] = []
    responses: list[httpx.Response] = []
    sign = f"/cds-services/{SERVICE_IDS['order-sign']}"

    responses.append(app.get("/health"))
    token = app_token("/cds-services")
    tokens.append(token)
    responses.append(app.get("/cds-services", headers={"Authorization": f"Bearer {token}"}))
    for hook, service_id in SERVICE_IDS.items():
        responses.append(_post(app, f"/cds-services/{service_id}", _hook_body(hook), tokens))
    assert all(r.status_code == 200 for r in responses), [r.text[:300] for r in responses]

    with respx.mock(assert_all_called=False) as fhir:
        fhir.route(host="fhir.example.org").mock(side_effect=_fhir_server)
        fetched = _post(app, sign, _hook_body("order-sign", full_prefetch=False), tokens)
        assert fhir.calls.call_count >= 3  # the FHIR fetch path really ran
    assert fetched.status_code == 200, fetched.text
    responses.append(fetched)

    card_uuid = responses[2].json()["cards"][0]["uuid"] if responses[2].json()["cards"] else "no-card"
    feedback = {
        "feedback": [
            {
                "card": card_uuid,
                "outcome": "overridden",
                "outcomeTimestamp": datetime.now(UTC).isoformat(),
                "overrideReason": {"reason": {"code": "other", "display": f"{FAMILY} {MRN}"}, "userComment": GIVEN},
            },
            {"card": PATIENT_ID, "outcome": "accepted", "outcomeTimestamp": datetime.now(UTC).isoformat()},
        ]
    }
    select_id = SERVICE_IDS["order-select"]
    responses.append(_post(app, f"/cds-services/{select_id}/feedback", feedback, tokens))

    errors: list[httpx.Response] = []
    truncated = json.dumps(_hook_body("order-sign")).encode()[:-40]
    errors.append(_post(app, sign, truncated, tokens))  # malformed JSON
    wrong_types = _hook_body("order-sign")
    wrong_types["context"]["patientId"] = {"name": FAMILY, "mrn": MRN}
    wrong_types["context"]["draftOrders"] = f"{GIVEN} {BIRTH_DATE}"
    errors.append(_post(app, sign, wrong_types, tokens))  # validation error quoting input
    errors.append(_post(app, "/cds-services/no-such-service", _hook_body("order-sign"), tokens))  # unknown service
    errors.append(app.post(sign, json=_hook_body("order-sign")))  # no token
    forged = mint(ec_key("attacker"), {"iss": "https://ehr.example.org", "sub": MRN, "name": FAMILY}, kid="app-ehr")
    errors.append(_post(app, sign, _hook_body("order-sign"), tokens, token=forged))  # bad signature
    expired = app_token(sign, exp=int((datetime.now(UTC) - timedelta(hours=1)).timestamp()))
    errors.append(_post(app, sign, _hook_body("order-sign"), tokens, token=expired))
    replayed = tokens[3]
    errors.append(
        _post(app, f"/cds-services/{SERVICE_IDS['order-select']}", _hook_body("order-select"), tokens, token=replayed)
    )
    assert [r.status_code for r in errors] == [400, 400, 404, 401, 401, 401, 401], [r.text[:200] for r in errors]
    assert all(r.headers.get("WWW-Authenticate", "").startswith("Bearer") for r in errors[3:])
    return tokens, responses, errors


def test_no_sentinel_reaches_logs_or_error_bodies(
    app_settings: Any, captured: tuple[io.StringIO, pytest.LogCaptureFixture]
) -> None:
    stream, caplog = captured
    # Leaving the block shuts the app down, flushing the audit writer, so its lines are captured.
    with TestClient(create_app(app_settings), base_url=PUBLIC_BASE) as app:
        tokens, responses, errors = _drive_every_endpoint(app)

    secrets = SENTINELS + tokens + [t.split(".")[2] for t in tokens]
    output = stream.getvalue()
    lines = output.splitlines()
    assert len(lines) >= 7 and "client authentication failed" in output  # the capture works
    for secret in secrets:
        assert secret not in output, f"{secret[:24]} in production log output"
        assert secret not in caplog.text, f"{secret[:24]} in caplog"
        for record in caplog.records:
            assert secret not in record.getMessage(), f"{secret[:24]} logged by {record.name}"
        for response in [*errors, responses[-1]]:
            assert secret not in response.text, f"{secret[:24]} echoed in an error body"
    for line in lines:
        assert set(json.loads(line)) <= ALLOWED_LOG_FIELDS | {"ts", "level", "logger", "msg", "exc"}


# --------------------------------------------------------------------------- outage and overload paths


def test_no_sentinel_in_outage_overload_and_spool_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, captured: tuple[io.StringIO, pytest.LogCaptureFixture]
) -> None:
    """The lines added by the hardening work (replay-store and audit-database outages, the audit
    spool and its replay, load shedding, hostile FHIR answers) carry no patient data or token,
    and the spool on disk holds the patient only as its pseudonym."""
    from tests.support.hostile_fhir import hostile_fhir

    stream, caplog = captured
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    spool = tmp_path / "spool"
    with hostile_fhir(huge_bytes=4 << 20, trickle_seconds=2.0) as fake:
        base = fake.base("gzip")
        settings = load_settings(
            clients_file=app_clients_file(tmp_path, [base, fake.base("deep"), fake.base("nextout")]),
            public_base_url=PUBLIC_BASE,
            database_url="postgresql+psycopg://postgres@127.0.0.1:9/postgres",  # down: spool and replay outage
            replay_outage="memory",
            audit_spool_dir=spool,
            patient_hash_secret="log-privacy-test-secret-0123456789",
            fhir_max_response_bytes=1 << 20,
            max_concurrent_hook_calls=1,
        )
        tokens: list[str] = []
        with TestClient(create_app(settings), base_url=PUBLIC_BASE) as app:
            sign = f"/cds-services/{SERVICE_IDS['order-sign']}"
            for server in (base, fake.base("deep"), fake.base("nextout")):
                body = _hook_body("order-sign", full_prefetch=False)
                body["fhirServer"] = server
                assert _post(app, sign, body, tokens).status_code == 200
            assert _post(app, sign, _hook_body("order-sign"), tokens).status_code == 200
            app.app.state.recorder.flush(timeout=20)
            shedding = next(m for m in _middlewares(app.app) if type(m).__name__ == "Edge")
            shedding.in_flight = 1  # as if another call were in progress: the next one is shed
            assert _post(app, sign, _hook_body("order-sign"), tokens).status_code == 503
            shedding.in_flight = 0
        strict = load_settings(
            clients_file=app_clients_file(tmp_path, [FHIR_BASE]),
            public_base_url=PUBLIC_BASE,
            database_url="postgresql+psycopg://postgres@127.0.0.1:9/postgres",
            audit_spool_dir=spool,
            patient_hash_secret="log-privacy-test-secret-0123456789",
        )
        with TestClient(create_app(strict), base_url=PUBLIC_BASE) as app:  # replay outage: reject (503)
            assert _post(app, sign, _hook_body("order-sign"), tokens).status_code == 503
    output = stream.getvalue()
    assert "JWT replay store" in output and "audit database unavailable" in output and "overloaded" in output
    spooled = "".join(p.read_text() for p in spool.glob("*.jsonl"))
    assert spooled, "the audit rows should be waiting in the spool"
    for secret in SENTINELS + tokens + [t.split(".")[2] for t in tokens]:
        assert secret not in output, f"{secret[:24]} in production log output"
        assert secret not in caplog.text, f"{secret[:24]} in caplog"
        assert secret not in spooled, f"{secret[:24]} in the audit spool"
    for line in output.splitlines():
        assert set(json.loads(line)) <= ALLOWED_LOG_FIELDS | {"ts", "level", "logger", "msg", "exc"}


def _middlewares(app: Any) -> list[Any]:
    """The built middleware stack of a started app, outermost first."""
    found = []
    layer = app.middleware_stack
    while layer is not None:
        found.append(layer)
        layer = getattr(layer, "app", None)
    return found
