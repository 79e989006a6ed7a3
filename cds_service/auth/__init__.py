"""Who is calling: CDS client authentication (JWT per CDS Hooks 2.0) and what each client may do.

The edge calls `Authenticator.authenticate(request)` on every protected route and gets an
`AuthenticatedClient`, or an `AuthError` that becomes a 401. The client decides which FHIR
servers may be contacted on its behalf (`may_call`) and the topic-code form of its cards.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from cds_service.settings import Settings


class AuthError(Exception):
    """Authentication failed; `reason` is short, safe to return and log (never the token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AuthenticatedClient:
    iss: str
    sub: str | None = None
    fhir_servers: tuple[str, ...] = ()
    topic_code_style: str = "hyphenated"  # "hyphenated" | "epic" (alphanumeric)
    any_fhir_server: bool = False  # --dev only
    extras: dict[str, str] = field(default_factory=dict)

    def may_call(self, fhir_server: str) -> bool:
        """True when `fhir_server` is one of this client's configured base URLs (exact, no trailing /)."""
        if self.any_fhir_server:
            return True
        wanted = fhir_server.rstrip("/")
        return any(wanted == allowed.rstrip("/") for allowed in self.fhir_servers)


DEV_CLIENT = AuthenticatedClient(iss="dev-mode", any_fhir_server=True)


class Authenticator:
    """Placeholder until JWT verification lands: dev mode admits all, otherwise nobody."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    async def authenticate(self, request: Request) -> AuthenticatedClient:
        if self.settings.dev:
            return DEV_CLIENT
        raise AuthError("no trusted clients configured")

    async def aclose(self) -> None:
        return None
