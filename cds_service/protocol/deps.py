"""FastAPI dependencies shared by the routes: the authenticated CDS client, the public base URL."""

from __future__ import annotations

import logging

from fastapi import HTTPException, Request

from cds_service.auth import AuthenticatedClient, AuthError

log = logging.getLogger("cds_service.auth")

UNAUTHORIZED = "unauthorized: a valid client JWT is required (the reason is in the service's log)"


async def authenticated_client(request: Request) -> AuthenticatedClient:
    """The verified caller, or 401 with a short reason (never the token)."""
    try:
        return await request.app.state.authenticator.authenticate(request)
    except AuthError as exc:
        log.warning("client authentication failed", extra={"reason": exc.reason, "path": request.url.path})
        # The body is the same whatever failed: whether an issuer or key id is known is for the
        # operator's log, not for whoever probes the service.
        raise HTTPException(
            status_code=401,
            detail=UNAUTHORIZED,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        ) from None


def public_base_url(request: Request) -> str:
    """The service's public base URL: configured (behind a proxy) or as the request saw it."""
    configured = request.app.state.settings.public_base_url
    return (configured or str(request.base_url)).rstrip("/")
