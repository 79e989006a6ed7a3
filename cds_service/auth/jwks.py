"""Remote JWKS retrieval for client token verification: allowlisted URLs, cached, rate-limited.

Keys are fetched only from URLs the clients file lists for an issuer (the caller checks the
`jku` against that list before asking). A key set is reused for `jwks_cache_seconds`; an
unknown `kid` triggers a refetch (key rotation) at most once per `jwks_min_refresh_seconds`
per URL, so a stream of forged `kid`s cannot turn the service into a traffic amplifier.
If the key host is down, keys already known keep working until the host answers again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

log = logging.getLogger("cds_service.auth.jwks")

MAX_JWKS_BYTES = 256 * 1024
MAX_KEYS = 100


class JwksUnavailable(Exception):
    """The key set could not be obtained and nothing usable is cached."""


@dataclass
class _CachedKeySet:
    keys: dict[str, dict[str, Any]] = field(default_factory=dict)
    fetched_at: float | None = None  # last successful fetch
    attempted_at: float | None = None  # last attempt, successful or not


def index_keys(document: Any) -> dict[str, dict[str, Any]]:
    """Keys of a JWKS document by `kid`; keys without a `kid` cannot be selected and are skipped.

    A `kid` that appears twice is ambiguous, so neither copy is used.
    """
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise ValueError("not a JWKS document")
    by_kid: dict[str, dict[str, Any]] = {}
    duplicated: set[str] = set()
    for key in keys[:MAX_KEYS]:
        if not isinstance(key, dict) or not isinstance(key.get("kid"), str):
            continue
        kid = key["kid"]
        if kid in by_kid:
            duplicated.add(kid)
        by_kid[kid] = key
    for kid in duplicated:
        del by_kid[kid]
    return by_kid


class JwksStore:
    """Per-URL cache of remote key sets; `http` returns the client for the running event loop."""

    def __init__(
        self,
        http: Callable[[], httpx.AsyncClient],
        *,
        cache_seconds: float,
        min_refresh_seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._cache_seconds = cache_seconds
        self._min_refresh_seconds = min_refresh_seconds
        self._monotonic = monotonic
        self._entries: dict[str, _CachedKeySet] = {}
        self._locks: dict[tuple[int, str], asyncio.Lock] = {}

    async def find_key(self, url: str, kid: str) -> dict[str, Any] | None:
        """The JWK with `kid` from the key set at `url` (which the caller has allowlisted).

        Returns None when the key set does not contain `kid`; raises `JwksUnavailable` when
        the key set cannot be fetched and no cached copy holds `kid`.
        """
        entry = self._entries.get(url)
        if entry is not None and self._is_fresh(entry) and kid in entry.keys:
            return entry.keys[kid]
        lock = self._locks.setdefault((id(asyncio.get_running_loop()), url), asyncio.Lock())
        async with lock:  # one fetch per URL at a time; late arrivals reuse its result
            entry = self._entries.setdefault(url, _CachedKeySet())
            if self._is_fresh(entry) and kid in entry.keys:
                return entry.keys[kid]
            if self._may_attempt(entry):
                await self._refresh(url, entry)
            if kid in entry.keys:
                return entry.keys[kid]
            if entry.fetched_at is None:
                raise JwksUnavailable(url)
            return None

    def _is_fresh(self, entry: _CachedKeySet) -> bool:
        return entry.fetched_at is not None and self._monotonic() - entry.fetched_at < self._cache_seconds

    def _may_attempt(self, entry: _CachedKeySet) -> bool:
        """At most one fetch per URL per `min_refresh_seconds`, successful or not."""
        return entry.attempted_at is None or self._monotonic() - entry.attempted_at >= self._min_refresh_seconds

    async def _refresh(self, url: str, entry: _CachedKeySet) -> None:
        entry.attempted_at = self._monotonic()
        try:
            keys = index_keys(await self._download(url))
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("JWKS fetch failed", extra={"jwks_url": url, "error_type": type(exc).__name__})
            return
        entry.keys = keys
        entry.fetched_at = self._monotonic()
        log.info("JWKS refreshed", extra={"jwks_url": url, "count": len(keys)})

    async def _download(self, url: str) -> Any:
        async with self._http().stream(
            "GET", url, headers={"Accept": "application/json, application/jwk-set+json"}
        ) as response:
            if response.status_code != 200:
                raise ValueError(f"JWKS answered HTTP {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError("JWKS document too large")
        return json.loads(bytes(body))
