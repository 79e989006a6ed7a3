"""Client JWT authentication (CDS Hooks 2.0 "Trusting CDS Clients"): the attack table and the
tokens real clients send. `Authenticator` is driven directly with Starlette requests."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
import respx
from cryptography.hazmat.primitives import serialization

from cds_service.auth import AuthenticatedClient, Authenticator, AuthError
from cds_service.settings import Settings
from tests.support.auth import (
    EHR_ISS,
    EHR_JKU,
    FHIR_BASE,
    NOW,
    SERVICE_PATH,
    SERVICE_URL,
    KeyPair,
    claims,
    ec_key,
    make_request,
    mint,
    rsa_key,
    write_clients,
    write_jwks,
)

pytestmark = pytest.mark.asyncio

PINNED_ISS = "https://pinned-client.example.org"
PINNED_JKU = "https://pinned-client.example.org/jwks.json"
EPIC_ISS = "https://epic.example-health.org/api/FHIR/R4"
EPIC_JKU = "https://epic.example-health.org/api/epic/2019/Security/Open/PublicKeys/530013/530013"
EPIC_CLIENT_ID = "0f3c1f8e-client-id"
EPIC_AUD = "https://cds.example-health.org/cds-services"
EVIL_JKU = "https://attacker.example.net/jwks.json"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    return ".".join((_b64(json.dumps(header).encode()), _b64(json.dumps(payload).encode()), _b64(signature)))


def _hs256_with_public_key(payload: dict[str, Any]) -> str:
    """The classic key-confusion forgery: HMAC keyed with the (public) PEM of the client key."""
    pem = (
        ec_key("ehr-ec")
        .private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": "ehr-ec", "jku": EHR_JKU}
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(payload).encode())}"
    signature = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def _impostor_key() -> KeyPair:
    """The attacker's private key presented under the victim client's `kid`."""
    return KeyPair(kid="ehr-ec", alg="ES384", private_key=ec_key("attacker").private_key)


@pytest.fixture
def clients_file(tmp_path: Path) -> Path:
    pinned = write_jwks(tmp_path, "pinned-jwks.json", ec_key("pinned-ec").jwks())
    return write_clients(
        tmp_path,
        {"iss": EHR_ISS, "jwks_url": [EHR_JKU], "fhir_servers": [FHIR_BASE]},
        {"iss": PINNED_ISS, "jwks_url": [PINNED_JKU], "jwks_file": pinned},
        {
            "iss": EPIC_ISS,
            "jwks_url": [EPIC_JKU],
            "sub": EPIC_CLIENT_ID,
            "tenant": "example-health",
            "aud": [EPIC_AUD],
            "topic_code_style": "epic",
            "fhir_servers": [EPIC_ISS],
        },
    )


@pytest.fixture
def key_server() -> respx.MockRouter:
    """The client key servers; RSA key published without `alg`, as several EHRs do."""
    with respx.mock(assert_all_called=False) as router:
        ehr_keys = {"keys": [ec_key("ehr-ec").public_jwk(), rsa_key("ehr-rsa").public_jwk(with_alg=False)]}
        router.get(EHR_JKU).mock(return_value=httpx.Response(200, json=ehr_keys))
        router.get(EPIC_JKU).mock(return_value=httpx.Response(200, json=rsa_key("epic-rsa").jwks()))
        router.get(EVIL_JKU).mock(return_value=httpx.Response(200, json=ec_key("attacker").jwks()))
        router.get(PINNED_JKU).mock(return_value=httpx.Response(200, json=ec_key("pinned-ec").jwks()))
        yield router


@pytest_asyncio.fixture
async def authenticator(
    clients_file: Path, key_server: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Authenticator]:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    settings = Settings(clients_file=clients_file, public_base_url=None, jwks_min_refresh_seconds=60)
    auth = Authenticator(settings, clock=lambda: NOW)
    yield auth
    await auth.aclose()


async def _reason(auth: Authenticator, request: Any) -> str:
    with pytest.raises(AuthError) as failure:
        await auth.authenticate(request)
    return failure.value.reason


def _ehr_token(**over: Any) -> str:
    return mint(ec_key("ehr-ec"), claims(**over), jku=EHR_JKU)


# Each attack: (name, builder of the request, reason expected in the 401).
ATTACKS: list[tuple[str, Callable[[], Any], str]] = [
    ("missing header", lambda: make_request(), "missing bearer token"),
    ("not a bearer scheme", lambda: make_request(authorization="Basic dXNlcjpwYXNz"), "malformed token"),
    ("malformed token", lambda: make_request(token="not.a-jwt.at-all"), "malformed token"),
    ("garbage segments", lambda: make_request(token="eyJhbGciOi.e30.xyz"), "malformed token"),
    (
        "alg none",
        lambda: make_request(token=_unsigned({"alg": "none", "typ": "JWT", "kid": "ehr-ec"}, claims())),
        "algorithm not allowed",
    ),
    (
        "HS256 signed with the public key",
        lambda: make_request(token=_hs256_with_public_key(claims())),
        "algorithm not allowed",
    ),
    (
        "wrong signature (attacker key, victim kid)",
        lambda: make_request(token=mint(_impostor_key(), claims(), jku=EHR_JKU)),
        "invalid signature",
    ),
    (
        "signature of another token spliced in",
        lambda: make_request(token=".".join([*_ehr_token().split(".")[:2], _ehr_token(sub="x").split(".")[2]])),
        "invalid signature",
    ),
    ("unknown kid", lambda: make_request(token=mint(ec_key("rotated-away"), claims(), jku=EHR_JKU)), "unknown key id"),
    ("missing kid", lambda: make_request(token=mint(ec_key("ehr-ec"), claims(), kid=None, jku=EHR_JKU)), "missing kid"),
    (
        "jku not allowlisted",
        lambda: make_request(token=mint(ec_key("attacker"), claims(), jku=EVIL_JKU)),
        "jku not allowed",
    ),
    ("expired", lambda: make_request(token=_ehr_token(now=NOW - timedelta(minutes=10))), "token expired"),
    (
        "not yet valid (nbf)",
        lambda: make_request(token=_ehr_token(nbf=int((NOW + timedelta(minutes=5)).timestamp()))),
        "token not yet valid",
    ),
    (
        "issued in the future",
        lambda: make_request(token=_ehr_token(now=NOW + timedelta(minutes=5))),
        "token issued in the future",
    ),
    ("lifetime too long", lambda: make_request(token=_ehr_token(lifetime=24 * 3600)), "token lifetime too long"),
    (
        "wrong aud",
        lambda: make_request(token=_ehr_token(aud="https://other-service.example.org/cds-services/x")),
        "wrong audience",
    ),
    (
        "aud of another endpoint of ours",
        lambda: make_request(token=_ehr_token(aud="https://cds.example.org/cds-services")),
        "wrong audience",
    ),
    ("missing aud", lambda: make_request(token=_ehr_token(aud=None)), "missing claim aud"),
    (
        "missing exp",
        lambda: make_request(token=mint(ec_key("ehr-ec"), {**claims(), "exp": None}, jku=EHR_JKU)),
        "missing claim exp",
    ),
    ("missing jti", lambda: make_request(token=_ehr_token(jti="")), "missing claim jti"),
    (
        "unknown iss",
        lambda: make_request(token=mint(ec_key("ehr-ec"), claims(iss="https://unknown.example.org"))),
        "unknown issuer",
    ),
    (
        "wrong typ",
        lambda: make_request(token=mint(ec_key("ehr-ec"), claims(), typ="at+jwt", jku=EHR_JKU)),
        "unexpected token type",
    ),
    (
        "ES256 not configured",
        lambda: make_request(token=_unsigned({"alg": "ES256", "kid": "ehr-ec"}, claims(), b"x" * 64)),
        "algorithm not allowed",
    ),
    (
        "key of the wrong type for alg (RS384 header, EC key)",
        lambda: make_request(token=_unsigned({"alg": "RS384", "kid": "ehr-ec", "jku": EHR_JKU}, claims(), b"x" * 256)),
        "key does not match algorithm",
    ),
    (
        "Epic client without sub",
        lambda: make_request(
            token=mint(rsa_key("epic-rsa"), claims(iss=EPIC_ISS, tenant="example-health"), jku=EPIC_JKU)
        ),
        "wrong subject",
    ),
    (
        "Epic client, wrong tenant",
        lambda: make_request(
            token=mint(rsa_key("epic-rsa"), claims(iss=EPIC_ISS, sub=EPIC_CLIENT_ID, tenant="other"), jku=EPIC_JKU)
        ),
        "wrong tenant",
    ),
    (
        "another client's jku",
        lambda: make_request(token=mint(rsa_key("epic-rsa"), claims(), jku=EPIC_JKU)),
        "jku not allowed",
    ),
    (
        "pinned client: kid not pinned is never fetched",
        lambda: make_request(token=mint(ec_key("attacker"), claims(iss=PINNED_ISS), jku=PINNED_JKU)),
        "unknown key id",
    ),
]


@pytest.mark.parametrize(("name", "build", "reason"), ATTACKS, ids=[a[0] for a in ATTACKS])
async def test_attack_is_rejected_with_its_reason(
    authenticator: Authenticator, key_server: respx.MockRouter, name: str, build: Callable[[], Any], reason: str
) -> None:
    assert await _reason(authenticator, build()) == reason


async def test_jku_outside_the_allowlist_is_never_fetched(
    authenticator: Authenticator, key_server: respx.MockRouter
) -> None:
    request = make_request(token=mint(ec_key("attacker"), claims(), jku=EVIL_JKU))
    assert await _reason(authenticator, request) == "jku not allowed"
    assert key_server.calls.call_count == 0  # not the attacker's URL, nor any other


async def test_pinned_keys_make_no_network_request(authenticator: Authenticator, key_server: respx.MockRouter) -> None:
    for key in ("pinned-ec", "attacker"):
        request = make_request(token=mint(ec_key(key), claims(iss=PINNED_ISS), jku=PINNED_JKU))
        with contextlib.suppress(AuthError):
            await authenticator.authenticate(request)
    assert key_server.calls.call_count == 0


async def test_replayed_jti_is_rejected(authenticator: Authenticator) -> None:
    token = _ehr_token()
    client = await authenticator.authenticate(make_request(token=token))
    assert client.iss == EHR_ISS
    assert await _reason(authenticator, make_request(token=token)) == "token replayed"


async def test_rejected_token_does_not_burn_its_jti(authenticator: Authenticator) -> None:
    """A token failing a later check (aud) must not block the genuine one with the same jti."""
    payload = claims()
    wrong_aud = mint(ec_key("ehr-ec"), {**payload, "aud": "https://elsewhere.example.org/x"}, jku=EHR_JKU)
    assert await _reason(authenticator, make_request(token=wrong_aud)) == "wrong audience"
    assert (await authenticator.authenticate(make_request(token=mint(ec_key("ehr-ec"), payload, jku=EHR_JKU)))).iss


async def test_valid_es384_token_from_remote_jwks(authenticator: Authenticator, key_server: respx.MockRouter) -> None:
    client = await authenticator.authenticate(make_request(token=_ehr_token()))
    assert client.iss == EHR_ISS
    assert client.may_call(FHIR_BASE)
    assert not client.may_call("https://other-fhir.example.org/r4")
    assert client.topic_code_style == "hyphenated"
    # Second call: the key set is cached.
    await authenticator.authenticate(make_request(token=_ehr_token()))
    assert key_server.routes[0].call_count == 1


async def test_valid_rs384_token_with_key_published_without_alg(authenticator: Authenticator) -> None:
    token = mint(rsa_key("ehr-rsa"), claims(), jku=EHR_JKU)
    assert (await authenticator.authenticate(make_request(token=token))).iss == EHR_ISS


async def test_valid_token_without_jku_uses_configured_key_url(authenticator: Authenticator) -> None:
    token = mint(ec_key("ehr-ec"), claims())
    assert (await authenticator.authenticate(make_request(token=token))).iss == EHR_ISS


async def test_valid_es384_token_from_pinned_key(authenticator: Authenticator) -> None:
    token = mint(ec_key("pinned-ec"), claims(iss=PINNED_ISS), jku=PINNED_JKU)
    assert (await authenticator.authenticate(make_request(token=token))).iss == PINNED_ISS


async def test_aud_may_be_an_array_and_differ_in_trailing_slash(authenticator: Authenticator) -> None:
    token = _ehr_token(aud=["https://someone-else.example.org", SERVICE_URL + "/"])
    assert (await authenticator.authenticate(make_request(token=token))).iss == EHR_ISS


async def test_expiry_tolerates_the_configured_clock_skew(authenticator: Authenticator) -> None:
    token = _ehr_token(now=NOW - timedelta(seconds=300 + 20))  # expired 20 s ago, skew is 30 s
    assert (await authenticator.authenticate(make_request(token=token))).iss == EHR_ISS


async def test_epic_shaped_token(authenticator: Authenticator) -> None:
    """RS384, jku on Epic's host, sub = client id, nbf = iat - 5 min, 15 min lifetime,
    and an `aud` the organization typed in (the service base, not the exact URL called)."""
    issued = int(NOW.timestamp())
    payload = claims(
        iss=EPIC_ISS, aud=EPIC_AUD, sub=EPIC_CLIENT_ID, tenant="example-health", nbf=issued - 300, lifetime=900
    )
    client = await authenticator.authenticate(make_request(token=mint(rsa_key("epic-rsa"), payload, jku=EPIC_JKU)))
    assert isinstance(client, AuthenticatedClient)
    assert (client.iss, client.sub, client.tenant) == (EPIC_ISS, EPIC_CLIENT_ID, "example-health")
    assert client.topic_code_style == "epic"
    assert client.may_call(EPIC_ISS + "/")


async def test_public_base_url_replaces_scheme_and_host(
    clients_file: Path, key_server: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    settings = Settings(clients_file=clients_file, public_base_url="https://cds.example.org/")
    auth = Authenticator(settings, clock=lambda: NOW)
    behind_proxy = make_request(token=_ehr_token(), host="10.0.0.5:8080", scheme="http")
    assert (await auth.authenticate(behind_proxy)).iss == EHR_ISS
    # Without the setting, the same token at the internal address is for another audience.
    direct = Authenticator(Settings(clients_file=clients_file), clock=lambda: NOW)
    assert await _reason(direct, make_request(token=_ehr_token(), host="10.0.0.5:8080", scheme="http")) == (
        "wrong audience"
    )
    await auth.aclose()
    await direct.aclose()


async def test_discovery_without_auth_when_configured(clients_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    open_discovery = Authenticator(Settings(clients_file=clients_file, auth_discovery=False))
    client = await open_discovery.authenticate(make_request("/cds-services", method="GET"))
    assert client.fhir_servers == () and not client.may_call(FHIR_BASE)
    assert await _reason(open_discovery, make_request(SERVICE_PATH)) == "missing bearer token"
    closed = Authenticator(Settings(clients_file=clients_file))
    assert await _reason(closed, make_request("/cds-services", method="GET")) == "missing bearer token"


async def test_no_clients_file_rejects_everyone_outside_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    nobody = Authenticator(Settings(clients_file=None))
    assert await _reason(nobody, make_request(token=_ehr_token())) == "no trusted clients configured"
    dev = await Authenticator(Settings(dev=True)).authenticate(make_request())
    assert dev.may_call("http://127.0.0.1:8103") and dev.may_call("https://any.example.org/fhir")


@pytest.mark.parametrize("bad", [["ES384", "none"], ["HS256"], ["RS384", "hs512"]])
async def test_forbidden_algorithms_refuse_to_start(clients_file: Path, bad: list[str]) -> None:
    with pytest.raises(ValueError, match="must not include"):
        Authenticator(Settings(clients_file=clients_file, jwt_algorithms=bad))


async def test_key_server_down_is_a_401_not_a_500(clients_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDS_CONFIG_FILE", raising=False)
    with respx.mock() as router:
        router.get(EHR_JKU).mock(side_effect=httpx.ConnectTimeout("down"))
        auth = Authenticator(Settings(clients_file=clients_file), clock=lambda: NOW)
        assert await _reason(auth, make_request(token=_ehr_token())) == "key set unavailable"
        await auth.aclose()
