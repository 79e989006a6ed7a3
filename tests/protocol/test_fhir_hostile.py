"""A FHIR server that trickles, floods, bombs or answers nonsense costs a hook call a bounded
time and a bounded number of bytes, and the clinician still gets the checks that could run plus
a `data-unavailable` card naming what was not checked (findings 4, 5, 8 and 11 of the hardening
issue). The servers are real sockets on loopback (tests/hostile_fhir.py), not mocks: timeouts
and byte counting are exercised as in production.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cds_service.app import create_app
from cds_service.settings import load_settings
from tests.support.fhir import draft, hook_request
from tests.support.hostile_fhir import HostileFhir, hostile_fhir
from tests.support.http import not_checked_text

SIGN = "muscle-spasm-order-sign"
DEADLINE = 1.0
CAP = 1 << 20  # 1 MiB per FHIR response in these tests


@pytest.fixture(scope="module")
def server() -> Iterator[HostileFhir]:
    with hostile_fhir(huge_bytes=48 << 20, trickle_seconds=8.0) as fake:
        yield fake


@pytest.fixture(scope="module")
def app() -> Iterator[TestClient]:
    settings = load_settings(
        dev=True,
        storage_enabled=False,
        fhir_deadline_seconds=DEADLINE,
        fhir_timeout_seconds=3.0,
        fhir_max_response_bytes=CAP,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _baclofen(fhir_server: str, omit: tuple[str, ...] = ("medications", "conditions")) -> dict[str, Any]:
    return hook_request(
        "order-sign",
        drafts=[draft("197381", "baclofen 10 MG Oral Tablet", dose=20, frequency=3)],
        fhir_server=fhir_server,
        omit=omit,
    )


def _call(app: TestClient, body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    response = app.post(f"/cds-services/{SIGN}", json=body)
    return response.status_code, response.json(), time.monotonic() - started


def _gap_text(body: dict[str, Any]) -> str:
    """The data-unavailable card, or its line in the baclofen card when the missing datum is only information
    for that order (issue 19)."""
    return not_checked_text(body)


def test_a_trickling_server_is_cut_off_at_the_call_deadline(app: TestClient, server: HostileFhir) -> None:
    """Finding 5: one byte every 0.25 s never trips a per-read timeout; the call deadline does."""
    status, body, elapsed = _call(app, _baclofen(server.base("trickle")))
    assert status == 200
    assert elapsed < DEADLINE + 1.0, f"answered after {elapsed:.1f} s"
    assert "within" in _gap_text(body)
    # the checks that needed no FHIR data still ran
    assert any(c["source"]["topic"]["code"] == "baclofen-titration" for c in body["cards"])


def test_a_huge_response_is_abandoned_at_the_byte_cap(app: TestClient, server: HostileFhir) -> None:
    """Finding 4: a 48 MB body is not read past the cap (the server could not even send it)."""
    status, body, _ = _call(app, _baclofen(server.base("huge"), omit=("conditions",)))
    assert status == 200
    assert "larger than" in _gap_text(body)
    assert server.sent.get("huge", 0) < 16 * CAP, f"{server.sent.get('huge', 0)} bytes were sent"


def test_a_gzip_bomb_is_refused_while_decompressing(app: TestClient, server: HostileFhir) -> None:
    """Finding 4: ~48 kB on the wire that would expand to 48 MB is refused past the cap."""
    status, body, _ = _call(app, _baclofen(server.base("gzip"), omit=("conditions",)))
    assert status == 200
    assert "larger than" in _gap_text(body)


def test_a_bundle_whose_entry_and_link_are_numbers_is_a_gap_not_a_500(app: TestClient, server: HostileFhir) -> None:
    """Finding 8: `entry: 5` (and `link: 5`) from a FHIR server raised TypeError."""
    status, body, _ = _call(app, _baclofen(server.base("entry5")))
    assert status == 200, body
    assert "medications" in _gap_text(body)


def test_json_nested_100k_deep_is_a_gap_not_a_500(app: TestClient, server: HostileFhir) -> None:
    """Finding 8: the stdlib JSON parser raised RecursionError."""
    status, body, _ = _call(app, _baclofen(server.base("deep"), omit=("conditions",)))
    assert status == 200, body
    assert "conditions" in _gap_text(body)


def test_a_refused_next_link_keeps_the_first_page(app: TestClient, server: HostileFhir) -> None:
    """Finding 11: a `next` link to another host threw the whole key away, first page included."""
    status, body, _ = _call(app, _baclofen(server.base("nextout"), omit=("conditions",)))
    assert status == 200
    text = _gap_text(body)
    assert "only the first" in text and "not followed" in text, text


def test_prefetch_bundle_with_a_numeric_link_and_a_fhir_server(app: TestClient, server: HostileFhir) -> None:
    """Finding 8: prefetch `link: 5` with a fhirServer present raised TypeError (paging check)."""
    body = _baclofen(server.base("ok"), omit=())
    body["prefetch"]["medications"]["link"] = 5
    status, answer, _ = _call(app, body)
    assert status == 200, answer


@pytest.mark.parametrize("bad", ["http://127.0.0.1:9/r\t4", "http://127.0.0.1:9/r4\n", "http://[::1/r4", "http:// x"])
def test_a_fhir_server_url_with_control_characters_is_refused_not_a_500(app: TestClient, bad: str) -> None:
    """Finding 8: a tab in `fhirServer` raised httpx.InvalidURL."""
    status, body, _ = _call(app, _baclofen(bad))
    assert status == 200, body
    assert "not contacted" in _gap_text(body) or "could not be reached" in _gap_text(body)
