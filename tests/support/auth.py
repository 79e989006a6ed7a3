"""Helpers for the authentication tests: keys generated per test run, tokens, requests, clients.

No private key is committed: EC P-384 and RSA keys are generated on first use and cached for
the session. Tokens are minted with PyJWT exactly as a CDS client (sandbox, Epic) would.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from starlette.requests import Request

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
SERVICE_HOST = "cds.example.org"
SERVICE_PATH = "/cds-services/muscle-spasm-order-select"
SERVICE_URL = f"https://{SERVICE_HOST}{SERVICE_PATH}"

SANDBOX_ISS = "https://sandbox.cds-hooks.org"
EHR_ISS = "https://ehr.example.org/fhir/r4"
EHR_JKU = "https://ehr.example.org/keys/jwks.json"
FHIR_BASE = "https://ehr.example.org/fhir/r4"


@dataclass(frozen=True)
class KeyPair:
    kid: str
    alg: str
    private_key: Any

    def public_jwk(self, *, with_alg: bool = True) -> dict[str, Any]:
        public = self.private_key.public_key()
        algorithm = ECAlgorithm if self.alg.startswith("ES") else RSAAlgorithm
        jwk = algorithm.to_jwk(public, as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig"})
        if with_alg:
            jwk["alg"] = self.alg
        return jwk

    def jwks(self, *, with_alg: bool = True) -> dict[str, Any]:
        return {"keys": [self.public_jwk(with_alg=with_alg)]}


@cache
def ec_key(kid: str = "ec-key-1") -> KeyPair:
    return KeyPair(kid=kid, alg="ES384", private_key=ec.generate_private_key(ec.SECP384R1()))


@cache
def rsa_key(kid: str = "rsa-key-1") -> KeyPair:
    return KeyPair(kid=kid, alg="RS384", private_key=rsa.generate_private_key(65537, 2048))


def claims(
    iss: str = EHR_ISS, aud: str | list[str] = SERVICE_URL, now: datetime = NOW, lifetime: int = 300, **extra: Any
) -> dict[str, Any]:
    issued = int(now.timestamp())
    body: dict[str, Any] = {"iss": iss, "aud": aud, "iat": issued, "exp": issued + lifetime}
    body["jti"] = str(uuid.uuid4())
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def mint(key: KeyPair, payload: dict[str, Any], **header: Any) -> str:
    headers = {"typ": "JWT", "kid": key.kid, **header}
    headers = {k: v for k, v in headers.items() if v is not None}
    return jwt.encode(payload, key.private_key, algorithm=key.alg, headers=headers)


def make_request(
    path: str = SERVICE_PATH,
    *,
    token: str | None = None,
    authorization: str | None = None,
    method: str = "POST",
    host: str = SERVICE_HOST,
    scheme: str = "https",
) -> Request:
    headers = [(b"host", host.encode())]
    if authorization is None and token is not None:
        authorization = f"Bearer {token}"
    if authorization is not None:
        headers.append((b"authorization", authorization.encode()))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": scheme,
        "query_string": b"",
        "headers": headers,
        "server": (host, 443 if scheme == "https" else 80),
        "client": ("192.0.2.10", 50000),
    }
    return Request(scope)


def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"unsupported TOML value {value!r}")


def write_clients(directory: Path, *entries: dict[str, Any]) -> Path:
    """A clients file with one [[client]] table per entry (values: str or list of str)."""
    lines: list[str] = []
    for entry in entries:
        lines.append("[[client]]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in entry.items())
        lines.append("")
    path = directory / "clients.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_jwks(directory: Path, name: str, document: dict[str, Any]) -> str:
    (directory / name).write_text(json.dumps(document), encoding="utf-8")
    return name


PUBLIC_BASE = "https://cds.example.org"
APP_ISS = "https://ehr.example.org"


def app_clients_file(directory: Path, fhir_servers: list[str], **entry: Any) -> Path:
    """One trusted EHR with a pinned ES384 key (no key server needed) and the given FHIR bases;
    `entry` adds keys to its table (`suggestions="whole-resource"`)."""
    keys = write_jwks(directory, "ehr-jwks.json", ec_key("app-ehr").jwks())
    return write_clients(directory, {"iss": APP_ISS, "jwks_file": keys, "fhir_servers": fhir_servers, **entry})


def app_token(path: str, **extra: Any) -> str:
    """A fresh token for a call to `path` on the app under test (real clock: the app's)."""
    payload = claims(iss=APP_ISS, aud=PUBLIC_BASE + path, now=datetime.now(UTC), **extra)
    return mint(ec_key("app-ehr"), payload)


def auth_header(path: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {app_token(path)}"}


FHIR_BASE = "https://fhir.example.org/r4"


def hospital_app(
    directory: Path,
    fhir_servers: tuple[str, ...] = (FHIR_BASE,),
    *,
    entry: dict[str, Any] | None = None,
    signed: bool = False,
    **settings: Any,
) -> Any:
    """The app as a hospital runs it, as a TestClient (use it in a `with`): client JWTs required from
    one trusted EHR (`app_token`; `signed`: every request carries a fresh one for its path, as the
    EHR sends it), behind `PUBLIC_BASE`; `entry` adds keys to the EHR's clients-file table;
    `settings` set the rest (storage off unless given)."""
    from cds_service.app import create_app
    from cds_service.settings import load_settings

    values: dict[str, Any] = {"storage_enabled": False, **settings}
    clients_file = app_clients_file(directory, list(fhir_servers), **(entry or {}))
    app = create_app(load_settings(clients_file=clients_file, public_base_url=PUBLIC_BASE, **values))
    return (SignedClient if signed else TestClient)(app, base_url=PUBLIC_BASE)


class SignedClient(TestClient):
    """A TestClient whose every request carries a fresh token of the trusted EHR for the path it calls."""

    def request(self, method: str, url: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("Authorization", f"Bearer {app_token(httpx.URL(str(url)).path)}")
        return super().request(method, url, headers=headers, **kwargs)
