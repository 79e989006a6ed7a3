"""Authentication errors shared by every part of `cds_service.auth`."""

from __future__ import annotations


class AuthError(Exception):
    """Authentication failed; `reason` is short, safe to return and log (never the token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthUnavailable(AuthError):
    """The token could not be checked now (the JWT replay store is down): a 503, not a bad credential."""


class ClientsConfigError(ValueError):
    """The trusted-clients file is unusable; raised at startup so a typo never weakens trust."""
