"""FastAPI dependencies shared by the routes: the authenticated CDS client, the public base URL."""

from __future__ import annotations

import base64
import binascii
import hmac
import logging

from fastapi import HTTPException, Request

from cds_service.auth import AuthenticatedClient, AuthError, AuthUnavailable
from cds_service.observability import metrics
from cds_service.protocol.warm_up import WARM_UP_CLIENT, is_warm_up

log = logging.getLogger("cds_service.auth")

UNAUTHORIZED = "unauthorized: a valid client JWT is required (the reason is in the service's log)"
UNAVAILABLE = "the client JWT cannot be checked now (a dependency is down); retry after the time in Retry-After"
RETRY_AFTER_SECONDS = "5"


async def authenticated_client(request: Request) -> AuthenticatedClient:
    """The verified caller, or 401 with a short reason (never the token)."""
    if is_warm_up(request.scope):  # the instance's own start-up call, before it listens
        return WARM_UP_CLIENT
    try:
        return await request.app.state.authenticator.authenticate(request)
    except AuthUnavailable as exc:
        # The credentials may be fine: a 401 invalid_token would send the EHR's team after its keys.
        log.warning("client authentication unavailable", extra={"reason": exc.reason, "path": request.url.path})
        metrics.jwt_rejected(exc.reason)
        raise HTTPException(status_code=503, detail=UNAVAILABLE, headers={"Retry-After": RETRY_AFTER_SECONDS}) from None
    except AuthError as exc:
        log.warning("client authentication failed", extra={"reason": exc.reason, "path": request.url.path})
        metrics.jwt_rejected(exc.reason)
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


def presents_admin_token(header: str, token: str) -> bool:
    """`Authorization` carries the admin token: as a Bearer token, or as a Basic-auth password (browsers)."""
    scheme, _, value = header.partition(" ")
    value = value.strip()
    if scheme.lower() == "bearer":
        return hmac.compare_digest(value.encode(), token.encode())
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        _, _, password = decoded.partition(":")
        return hmac.compare_digest(password.encode(), token.encode())
    return False
