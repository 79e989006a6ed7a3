"""Who is calling: CDS client authentication (JWT per CDS Hooks 2.0) and what each client may do.

The edge calls `Authenticator.authenticate(request)` on every protected route and gets an
`AuthenticatedClient`, or an `AuthError` that becomes a 401. The client decides which FHIR
servers may be contacted on its behalf (`may_call`) and the topic-code form of its cards.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from fastapi import Request

from cds_service.auth.clients import ClientEntry, load_clients
from cds_service.auth.errors import AuthError, AuthUnavailable, ClientsConfigError
from cds_service.auth.jwks import JwksStore
from cds_service.auth.replay import InMemoryReplayCache, ReplayCache
from cds_service.auth.ssrf import fhir_http_client_options, is_acceptable_fhir_url, same_base_url
from cds_service.auth.verifier import TokenVerifier
from cds_service.cards.suggestions import MEDICATION_ONLY, SuggestionStyle
from cds_service.settings import Settings

__all__ = [
    "DEV_CLIENT",
    "AuthError",
    "AuthUnavailable",
    "AuthenticatedClient",
    "Authenticator",
    "ClientsConfigError",
    "InMemoryReplayCache",
    "ReplayCache",
    "fhir_http_client_options",
]

log = logging.getLogger("cds_service.auth")

MAX_TOKEN_LENGTH = 16 * 1024
_BEARER = re.compile(r"^Bearer +([A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*) *$", re.IGNORECASE)


@dataclass(frozen=True)
class AuthenticatedClient:
    iss: str
    sub: str | None = None
    fhir_servers: tuple[str, ...] = ()
    topic_code_style: str = "hyphenated"  # "hyphenated" | "epic" (alphanumeric)
    any_fhir_server: bool = False  # --dev only
    extras: dict[str, str] = field(default_factory=dict)
    tenant: str | None = None
    allow_http_loopback: bool = False  # tests and local demos against a FHIR server on 127.0.0.1
    suggestions: SuggestionStyle = MEDICATION_ONLY  # how it applies a suggestion (clients file)

    def may_call(self, fhir_server: str) -> bool:
        """True when the service may contact `fhir_server` for this client.

        The scheme must be https (plain http only to loopback when allowed), the URL must carry
        no credentials, and, outside dev mode, it must be one of this client's configured base
        URLs (compared after normalizing case, default port and trailing slash; no prefixes).
        """
        if not isinstance(fhir_server, str) or not is_acceptable_fhir_url(
            fhir_server, allow_http_loopback=self.allow_http_loopback or self.any_fhir_server
        ):
            return False
        if self.any_fhir_server:
            return True
        return any(same_base_url(fhir_server, allowed) for allowed in self.fhir_servers)


DEV_CLIENT = AuthenticatedClient(iss="dev-mode", any_fhir_server=True, allow_http_loopback=True)


def _bearer_token(request: Request) -> str:
    header = request.headers.get("authorization")
    if not header:
        raise AuthError("missing bearer token")
    if len(header) > MAX_TOKEN_LENGTH:
        raise AuthError("malformed token")
    match = _BEARER.match(header.strip())
    if match is None:
        raise AuthError("malformed token")
    return match.group(1)


def called_url(request: Request, public_base_url: str | None) -> str:
    """The URL the client called, as it saw it: the JWT `aud` must equal this.

    Behind a reverse proxy the scheme and host seen here are the proxy's, so the configured
    public base URL replaces them.
    """
    if public_base_url:
        return public_base_url.rstrip("/") + request.url.path
    return f"{request.url.scheme}://{request.url.netloc}{request.url.path}"


def _is_discovery(request: Request) -> bool:
    return request.method in ("GET", "HEAD") and request.url.path.rstrip("/").endswith("/cds-services")


class Authenticator:
    """Authenticates CDS clients against the trusted-clients file (`settings.clients_file`).

    `replay_cache` should be shared by every worker and instance (the SQL one when storage is
    on); the in-memory default is correct only for a single process. `clock` and `http_client`
    exist for tests (recorded tokens, mocked key servers).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        replay_cache: ReplayCache | None = None,
        clock: Callable[[], datetime] | None = None,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings
        self._clients: dict[str, ClientEntry] = {}
        if settings.clients_file is not None:
            self._clients = load_clients(settings.clients_file, allow_http_loopback=settings.allow_http_fhir_loopback)
        if replay_cache is None:
            replay_cache = InMemoryReplayCache(clock=clock) if clock else InMemoryReplayCache()
            if settings.workers > 1 and not settings.dev:
                log.warning("in-memory JWT replay cache with several workers: replays across workers pass")
        if not settings.dev and not settings.public_base_url:
            log.warning("public_base_url is not set: JWT aud is checked against the Host header")
        self._injected_http = http_client
        self._http_by_loop: dict[int, httpx.AsyncClient] = {}
        self._jwks = JwksStore(
            self._http,
            cache_seconds=settings.jwks_cache_seconds,
            min_refresh_seconds=settings.jwks_min_refresh_seconds,
        )
        verifier_kwargs = {"clock": clock} if clock is not None else {}
        self._verifier = TokenVerifier(
            self._clients,
            self._jwks,
            replay_cache,
            algorithms=settings.jwt_algorithms,
            clock_skew_seconds=settings.jwt_clock_skew_seconds,
            max_lifetime_seconds=settings.jwt_max_lifetime_seconds,
            **verifier_kwargs,
        )

    @property
    def clients(self) -> dict[str, ClientEntry]:
        return dict(self._clients)

    async def authenticate(self, request: Request) -> AuthenticatedClient:
        """The verified client behind `request`, or `AuthError` (logged with its reason only)."""
        if self.settings.dev:
            return DEV_CLIENT
        if not self.settings.auth_discovery and _is_discovery(request):
            return AuthenticatedClient(iss="anonymous-discovery", topic_code_style=self.settings.topic_code_style)
        try:
            if not self._clients:
                raise AuthError("no trusted clients configured")
            token = _bearer_token(request)
            verified = await self._verifier.verify(token, called_url(request, self.settings.public_base_url))
        except AuthError as exc:
            # The edge logs the failure (reason and path) at WARNING; this is for tracing only.
            log.debug("client authentication failed", extra={"reason": exc.reason})
            raise
        entry = verified.client
        log.debug(
            "client authenticated",
            extra={"iss": entry.iss, "tenant": entry.tenant, "jti": verified.claims.get("jti")},
        )
        sub = verified.claims.get("sub")
        return AuthenticatedClient(
            iss=entry.iss,
            sub=sub if isinstance(sub, str) else None,
            fhir_servers=entry.fhir_servers,
            topic_code_style=entry.topic_code_style or self.settings.topic_code_style,
            tenant=entry.tenant,
            allow_http_loopback=self.settings.allow_http_fhir_loopback,
            extras={"name": entry.name} if entry.name else {},
            suggestions=entry.suggestions,
        )

    def _http(self) -> httpx.AsyncClient:
        """The JWKS HTTP client of the running event loop (an httpx pool cannot cross loops)."""
        if self._injected_http is not None:
            return self._injected_http
        loop_id = id(asyncio.get_running_loop())
        client = self._http_by_loop.get(loop_id)
        if client is None:
            client = httpx.AsyncClient(follow_redirects=False, timeout=httpx.Timeout(5.0, connect=2.0))
            self._http_by_loop[loop_id] = client
        return client

    async def aclose(self) -> None:
        """Close the JWKS client of this loop (an injected client belongs to its owner)."""
        client = self._http_by_loop.pop(id(asyncio.get_running_loop()), None)
        if client is not None:
            await client.aclose()
