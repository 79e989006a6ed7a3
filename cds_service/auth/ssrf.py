"""Which URLs the service may call on a client's behalf, and how (no redirects, bounded time).

A CDS request names the FHIR server to read from (`fhirServer`) and, when prefetch is missing,
the service fetches from it with the bearer token the EHR handed over. Without an allowlist any
caller could make the service request internal URLs (SSRF) or send the token elsewhere. These
helpers are the single definition of "same server" and "acceptable scheme" for that check.
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

import httpx

from cds_service.settings import Settings

_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback IP literals (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _split(url: str) -> SplitResult | None:
    if not isinstance(url, str) or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        return None  # urlsplit drops tabs and newlines silently; the HTTP client would not
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts


def is_acceptable_fhir_url(url: str, *, allow_http_loopback: bool) -> bool:
    """https with a host, no credentials in the URL; plain http only to loopback when allowed."""
    parts = _split(url)
    if parts is None or parts.username is not None or parts.password is not None:
        return False
    scheme = parts.scheme.lower()
    if scheme == "https":
        return True
    return scheme == "http" and allow_http_loopback and is_loopback_host(parts.hostname or "")


def normalize_base_url(url: str) -> str | None:
    """Canonical form for comparing base URLs: lower-case scheme/host, no default port,
    no trailing slash, no query or fragment. None when `url` is not an absolute http(s) URL."""
    parts = _split(url)
    if parts is None or parts.scheme.lower() not in _DEFAULT_PORTS:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    return f"{scheme}://{netloc}{parts.path.rstrip('/')}"


def same_base_url(url: str, base: str) -> bool:
    """True when `url` and `base` name the same FHIR base (exact, after normalization)."""
    left, right = normalize_base_url(url), normalize_base_url(base)
    return left is not None and left == right


def is_under_base_url(url: str, base: str) -> bool:
    """True when `url` (e.g. a paging `next` link) stays on `base`: same origin and path prefix.

    A FHIR server on the allowlist could still return a `next` link to another host; the
    fetcher must check every follow-up URL with this before sending the access token to it.
    """
    parts = _split(url)
    root = normalize_base_url(base)
    if parts is None or root is None or parts.username is not None or parts.password is not None:
        return False
    if any(segment in (".", "..") for segment in unquote(parts.path).split("/")):
        return False  # `base/../elsewhere` would leave the base once the server resolves it
    here = normalize_base_url(f"{parts.scheme}://{parts.netloc}{parts.path}")
    return here is not None and (here == root or here.startswith(root + "/"))


def fhir_http_client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for the `httpx.AsyncClient` that fetches from FHIR servers.

    Redirects are never followed (a 3xx could point at any host and would carry the token);
    every phase of a request is bounded by `fhir_timeout_seconds`; connections are pooled but
    capped so one slow server cannot take every socket.
    """
    timeout = settings.fhir_timeout_seconds
    return {
        "follow_redirects": False,
        "timeout": httpx.Timeout(timeout, connect=min(timeout, 2.0)),
        "limits": httpx.Limits(max_connections=100, max_keepalive_connections=20),
        "headers": {"Accept": "application/fhir+json"},
    }
