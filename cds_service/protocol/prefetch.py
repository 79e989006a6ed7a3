"""Prefetch as the spec defines it, and fetching what the client did not send.

Per CDS Hooks 2.0 a prefetch key that is **absent** was not satisfied, so the service fetches it
from `fhirServer`; a key whose value is **null** means "no data" and is not re-fetched; a value
that is an OperationOutcome reports the client's failure (a data gap, not data). All missing
queries run concurrently, each with a timeout, following `next` links up to a bound. A failure
never becomes silence: it becomes a `DataGap` that the engine turns into a card.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urljoin

import httpx

from cds_service.auth.ssrf import is_under_base_url
from cds_service.cdshooks import HookRequest
from cds_service.facts.build import DraftOrders, unresolved_medication_references
from cds_service.facts.model import DataGap
from cds_service.protocol.services import PREFETCH_MEANING, PREFETCH_TEMPLATES

log = logging.getLogger("cds_service.prefetch")

FHIR_ACCEPT = "application/fhir+json, application/json;q=0.9"


@dataclass
class ResolvedData:
    prefetch: dict[str, Any | None]
    extra_resources: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[DataGap] = field(default_factory=list)
    fetched_keys: list[str] = field(default_factory=list)
    unobtainable: bool = False  # nothing at all could be had: the edge answers 412


class FetchError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def render_template(template: str, context: dict[str, Any]) -> str | None:
    """Fill `{{context.x}}` tokens (URL-encoded); None when a token has no value."""
    out = template
    while "{{" in out:
        start = out.index("{{")
        end = out.index("}}", start)
        token = out[start + 2 : end].strip()
        value: Any = None
        if token.startswith("context."):
            value = context.get(token.removeprefix("context."))
        elif token == "userPractitionerId":
            user = str(context.get("userId", ""))
            value = user.split("/", 1)[1] if user.startswith("Practitioner/") else None
        if value is None or isinstance(value, dict | list):
            return None
        text = str(value)
        if token == "context.patientId" and text.startswith("Patient/"):
            text = text.removeprefix("Patient/")
        out = out[:start] + quote(text, safe="") + out[end + 2 :]
    return out


def outcome_text(resource: dict[str, Any]) -> str:
    """A short, data-free description of an OperationOutcome (codes and severities only)."""
    issues = resource.get("issue") or []
    parts = []
    for issue in issues[:3] if isinstance(issues, list) else []:
        if isinstance(issue, dict):
            parts.append(f"{issue.get('severity', '?')} {issue.get('code', '?')}")
    return "the EHR reported an error (OperationOutcome: " + (", ".join(parts) or "no detail") + ")"


class FhirFetcher:
    """Reads from one FHIR server with the request's bearer token; bounded and concurrent."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        access_token: str | None,
        *,
        timeout: float,
        max_pages: int,
        max_resources: int,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/") + "/"
        self.headers = {"Accept": FHIR_ACCEPT}
        if access_token:
            self.headers["Authorization"] = f"Bearer {access_token}"
        self.timeout = timeout
        self.max_pages = max_pages
        self.max_resources = max_resources
        self.resources_fetched = 0

    def owns(self, url: str) -> bool:
        """Only URLs under this server's base (no dot segments) are ever requested."""
        return is_under_base_url(url, self.base_url)

    async def get_json(self, url: str) -> dict[str, Any] | None:
        """GET one URL on this server; None for 404/410; FetchError otherwise."""
        if not self.owns(url):
            raise FetchError("a reference points outside the FHIR server; not followed")
        try:
            response = await self.http.get(url, headers=self.headers, timeout=self.timeout)
        except httpx.TimeoutException:
            raise FetchError(f"the FHIR server did not answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"the FHIR server could not be reached ({type(exc).__name__})") from None
        if response.status_code in (404, 410):
            return None
        if response.status_code in (401, 403):
            raise FetchError(f"the FHIR server refused access ({response.status_code})")
        if response.is_redirect:
            raise FetchError(f"the FHIR server redirected ({response.status_code}); redirects are not followed")
        if response.status_code >= 400:
            raise FetchError(f"the FHIR server answered {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise FetchError("the FHIR server answered with invalid JSON") from None
        if not isinstance(data, dict):
            raise FetchError("the FHIR server answered with something other than a resource")
        return data

    async def search_all(self, url: str) -> dict[str, Any] | None:
        """A search, with `next` pages merged into one Bundle (bounded by pages and resources)."""
        first = await self.get_json(url)
        if first is None or first.get("resourceType") != "Bundle":
            return first
        return await self.follow_pages(first)

    async def follow_pages(self, bundle: dict[str, Any]) -> dict[str, Any]:
        entries = list(bundle.get("entry") or [])
        page = bundle
        pages = 1
        while pages < self.max_pages:
            next_url = _next_link(page)
            if not next_url or len(entries) >= self.max_resources:
                break
            page = await self.get_json(urljoin(self.base_url, next_url)) or {}
            entries.extend(page.get("entry") or [])
            pages += 1
        if len(entries) > self.max_resources:
            entries = entries[: self.max_resources]
        self.resources_fetched += len(entries)
        merged = dict(bundle)
        merged["entry"] = entries
        merged.pop("link", None)
        return merged


def _next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None


async def resolve_prefetch(
    request: HookRequest,
    drafts: DraftOrders,
    *,
    fetcher: FhirFetcher | None,
    refusal: str | None = None,
) -> ResolvedData:
    """Assemble the data for the facts layer; `fetcher` is None when no FHIR server may be called.

    `refusal` explains why no fetcher is available (no fhirServer, or not allowlisted) and is
    used as the gap reason.
    """
    sent = request.prefetch or {}
    resolved: dict[str, Any | None] = {}
    gaps: list[DataGap] = []
    missing: list[str] = []
    for key in PREFETCH_TEMPLATES:
        if key not in sent:
            missing.append(key)
            continue
        value = sent[key]
        if isinstance(value, dict) and value.get("resourceType") == "OperationOutcome":
            gaps.append(DataGap(PREFETCH_MEANING[key], outcome_text(value), key))
            continue
        resolved[key] = value

    if missing and fetcher is None and not resolved and not gaps:
        return ResolvedData(prefetch={}, unobtainable=True)

    async def fetch_key(key: str) -> None:
        assert fetcher is not None
        url = render_template(PREFETCH_TEMPLATES[key], request.context)
        if url is None:
            gaps.append(DataGap(PREFETCH_MEANING[key], "the request context lacks a value the query needs", key))
            return
        try:
            resolved[key] = await fetcher.search_all(fetcher.base_url + url)
        except FetchError as exc:
            gaps.append(DataGap(PREFETCH_MEANING[key], exc.reason, key))

    async def follow_key(key: str) -> None:
        assert fetcher is not None
        try:
            resolved[key] = await fetcher.follow_pages(resolved[key])  # type: ignore[arg-type]
        except FetchError as exc:
            gaps.append(DataGap(PREFETCH_MEANING[key], f"only the first page was read: {exc.reason}", key))

    if fetcher is None:
        for key in missing:
            gaps.append(DataGap(PREFETCH_MEANING[key], refusal or "not sent by the EHR and no FHIR server to ask", key))
        tasks = []
    else:
        tasks = [fetch_key(k) for k in missing]
        tasks += [
            follow_key(k)
            for k, v in list(resolved.items())
            if isinstance(v, dict) and v.get("resourceType") == "Bundle" and _next_link(v)
        ]
    fetched = list(missing) if fetcher is not None else []
    if tasks:
        await asyncio.gather(*tasks)

    extra: list[dict[str, Any]] = []
    references = unresolved_medication_references(resolved, drafts)
    if references:
        if fetcher is None:
            gaps.append(
                DataGap("medications given by reference", refusal or "the Medication could not be fetched", None)
            )
        else:
            extra = await _fetch_medications(fetcher, references, gaps)
    return ResolvedData(prefetch=resolved, extra_resources=extra, gaps=gaps, fetched_keys=fetched)


async def _fetch_medications(fetcher: FhirFetcher, references: list[str], gaps: list[DataGap]) -> list[dict[str, Any]]:
    unique = list(dict.fromkeys(references))[:50]

    async def one(reference: str) -> dict[str, Any] | None:
        url = reference if reference.startswith(("http://", "https://")) else fetcher.base_url + reference
        try:
            return await fetcher.get_json(url)
        except FetchError as exc:
            gaps.append(DataGap("a medication given by reference", exc.reason, None))
            return None

    results = await asyncio.gather(*(one(r) for r in unique))
    return [r for r in results if isinstance(r, dict) and r.get("resourceType") == "Medication"]
