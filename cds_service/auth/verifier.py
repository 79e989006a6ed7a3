"""Verification of one CDS Hooks client JWT (CDS Hooks 2.0 "Trusting CDS Clients").

Order matters: everything that can be decided without a network call or a signature check
(header, algorithm, issuer, `jku` allowlist) is decided first, the replay cache is written
last, so a forged token can neither trigger a fetch from an arbitrary URL nor burn a `jti`.
Time comes from an injected clock so recorded tokens can be verified in tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt

from cds_service.auth.clients import ClientEntry
from cds_service.auth.errors import AuthError, AuthUnavailable
from cds_service.auth.jwks import JwksStore, JwksUnavailable
from cds_service.auth.replay import ReplayCache
from cds_service.auth.ssrf import normalize_base_url

FORBIDDEN_ALGORITHMS = {"none"}
_EC_CURVES = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
MAX_JTI_LENGTH = 256


def check_algorithms(algorithms: Collection[str]) -> tuple[str, ...]:
    """The configured algorithms, refusing `none` and the HMAC family (a public key is no secret)."""
    bad = [a for a in algorithms if a.lower() in FORBIDDEN_ALGORITHMS or a.upper().startswith("HS")]
    if bad:
        raise ValueError(f"jwt_algorithms must not include {bad}: only asymmetric signatures are safe")
    if not algorithms:
        raise ValueError("jwt_algorithms is empty")
    return tuple(algorithms)


@dataclass(frozen=True)
class VerifiedToken:
    client: ClientEntry
    claims: dict[str, Any]
    kid: str


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _numeric_date(claims: Mapping[str, Any], name: str) -> float:
    value = claims.get(name)
    if value is None:
        raise AuthError(f"missing claim {name}")
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise AuthError(f"malformed claim {name}")
    return float(value)


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    if aud is None:
        raise AuthError("missing claim aud")
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise AuthError("malformed claim aud")
    return values


def _same_audience(claimed: str, accepted: str) -> bool:
    """Exact match, or the same URL up to scheme/host case, default port and trailing slash
    (never with a query or fragment added)."""
    if claimed == accepted:
        return True
    if "?" in claimed or "#" in claimed:
        return False  # normalization drops them, and `…/cds-services?x` is not the URL called
    left, right = normalize_base_url(claimed), normalize_base_url(accepted)
    return left is not None and left == right


def _key_for_algorithm(jwk: Mapping[str, Any], alg: str) -> jwt.PyJWK:
    """A PyJWK bound to `alg`, only if the key is meant for it (type, curve, declared alg, use)."""
    declared = jwk.get("alg")
    if declared is not None and declared != alg:
        raise AuthError("key does not match algorithm")
    if jwk.get("use") not in (None, "sig"):
        raise AuthError("key not for signatures")
    kty = jwk.get("kty")
    if alg.startswith(("RS", "PS")) and kty != "RSA":
        raise AuthError("key does not match algorithm")
    if alg.startswith("ES") and (kty != "EC" or jwk.get("crv") != _EC_CURVES.get(alg)):
        raise AuthError("key does not match algorithm")
    if alg.startswith("Ed") and kty != "OKP":
        raise AuthError("key does not match algorithm")
    try:
        return jwt.PyJWK(dict(jwk), algorithm=alg)
    except jwt.PyJWTError as exc:
        raise AuthError("unusable key") from exc


class TokenVerifier:
    """Checks a bearer JWT against the trusted clients; returns the client and claims."""

    def __init__(
        self,
        clients: Mapping[str, ClientEntry],
        jwks: JwksStore,
        replay_cache: ReplayCache,
        *,
        algorithms: Collection[str],
        clock_skew_seconds: float,
        max_lifetime_seconds: float,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self._clients = dict(clients)
        self._jwks = jwks
        self._replay = replay_cache
        self._algorithms = check_algorithms(algorithms)
        self._skew = clock_skew_seconds
        self._max_lifetime = max_lifetime_seconds
        self._clock = clock

    async def verify(self, token: str, called_url: str) -> VerifiedToken:
        """Verify `token` presented on a request to `called_url` (the public URL, for `aud`)."""
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise AuthError("malformed token") from exc
        if not isinstance(unverified, dict):
            raise AuthError("malformed token")

        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise AuthError("algorithm not allowed")
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.upper() != "JWT"):
            raise AuthError("unexpected token type")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise AuthError("missing kid")
        if header.get("crit") is not None:
            raise AuthError("unsupported critical header")

        client = self._clients.get(unverified.get("iss")) if isinstance(unverified.get("iss"), str) else None
        if client is None:
            raise AuthError("unknown issuer")
        jku = header.get("jku")
        if jku is not None and (not isinstance(jku, str) or jku not in client.jwks_urls):
            raise AuthError("jku not allowed")

        jwk = await self._find_key(client, kid, jku)
        key = _key_for_algorithm(jwk, alg)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=[alg],
                options={
                    "verify_signature": True,
                    "enforce_minimum_key_length": True,
                    # Claims are checked below against the injected clock and our own rules.
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_sub": False,
                    "verify_jti": False,
                },
            )
        except jwt.InvalidSignatureError as exc:
            raise AuthError("invalid signature") from exc
        except jwt.PyJWTError as exc:
            raise AuthError("invalid token") from exc

        expires_at = self._check_claims(claims, client, called_url)
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI_LENGTH:
            raise AuthError("missing claim jti" if not jti else "malformed claim jti")
        try:
            fresh = await self._replay.check_and_store(jti, client.iss, expires_at)
        except Exception as exc:  # a replay store outage must fail closed, not open (503: retry later)
            raise AuthUnavailable("replay check unavailable") from exc
        if not fresh:
            raise AuthError("token replayed")
        return VerifiedToken(client=client, claims=claims, kid=kid)

    async def _find_key(self, client: ClientEntry, kid: str, jku: str | None) -> Mapping[str, Any]:
        if client.keys_pinned:
            for key in client.pinned_keys:
                if key.get("kid") == kid:
                    return key
            raise AuthError("unknown key id")
        for url in (jku,) if jku is not None else client.jwks_urls:
            try:
                key = await self._jwks.find_key(url, kid)
            except JwksUnavailable as exc:
                if jku is not None or len(client.jwks_urls) == 1:
                    raise AuthError("key set unavailable") from exc
                continue
            if key is not None:
                return key
        raise AuthError("unknown key id")

    def _check_claims(self, claims: Mapping[str, Any], client: ClientEntry, called_url: str) -> datetime:
        """Time, audience, subject and tenant checks; returns when the `jti` may be forgotten."""
        if claims.get("iss") != client.iss:  # the signed payload, not just the unverified peek
            raise AuthError("unknown issuer")
        now = self._clock().timestamp()
        exp = _numeric_date(claims, "exp")
        iat = _numeric_date(claims, "iat")
        if exp <= now - self._skew:
            raise AuthError("token expired")
        if iat > now + self._skew:
            raise AuthError("token issued in the future")
        if "nbf" in claims and _numeric_date(claims, "nbf") > now + self._skew:
            raise AuthError("token not yet valid")
        if exp - iat > self._max_lifetime:
            raise AuthError("token lifetime too long")

        accepted = (called_url, *client.aud)
        if not any(_same_audience(a, b) for a in _audiences(claims) for b in accepted):
            raise AuthError("wrong audience")
        if client.sub is not None and claims.get("sub") != client.sub:
            raise AuthError("wrong subject")
        if client.tenant is not None and claims.get("tenant") != client.tenant:
            raise AuthError("wrong tenant")
        return datetime.fromtimestamp(exp + self._skew, UTC)
