"""The FHIR client of the protocol edge: requests to the client's `fhirServer` only (its base URL,
never elsewhere), each bounded in time and size (`read_capped` stops a gzip bomb at the cap), JSON
parsed with the same nesting cap as request bodies, search pages followed up to a bound. Split from
`prefetch.py`, which decides what to fetch; this module decides how."""

from __future__ import annotations

import asyncio
import time
import zlib
from typing import Any
from urllib.parse import urljoin

import httpx
import orjson

from cds_service.auth.ssrf import is_under_base_url
from cds_service.observability import metrics
from cds_service.protocol.parsing import json_depth

FHIR_ACCEPT = "application/fhir+json, application/json;q=0.9"


class FetchError(Exception):
    """A FHIR request that gave no data; `kind` is its metrics outcome (timeout, refused: 401/403,
    too_large, error)."""

    def __init__(self, reason: str, kind: str = "error") -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def outcome_text(resource: dict[str, Any]) -> str:
    """A short, data-free description of an OperationOutcome (codes and severities only)."""
    issues = resource.get("issue") or []
    parts = []
    for issue in issues[:3] if isinstance(issues, list) else []:
        if isinstance(issue, dict):
            parts.append(f"{issue.get('severity', '?')} {issue.get('code', '?')}")
    return "the EHR reported an error (OperationOutcome: " + (", ".join(parts) or "no detail") + ")"


class FhirFetcher:
    """Reads from one FHIR server with the request's bearer token; bounded and concurrent.

    Bounds: each response is read as a stream and abandoned past `max_response_bytes`, counted
    both on the wire and after decompression (a gzip bomb is refused while it inflates, never
    held whole); JSON nested deeper than `max_depth` is refused (the stdlib parser would recurse
    until RecursionError); every request ends by `deadline` (a `loop.time()` value shared by all
    the requests of one hook call), so a server trickling bytes cannot hold the call.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        access_token: str | None,
        *,
        timeout: float,
        max_pages: int,
        max_resources: int,
        max_response_bytes: int = 16 * 1024 * 1024,
        max_depth: int = 64,
        deadline: float | None = None,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/") + "/"
        self.headers = {"Accept": FHIR_ACCEPT, "Accept-Encoding": "gzip, deflate"}
        if access_token:
            self.headers["Authorization"] = f"Bearer {access_token}"
        self.timeout = timeout
        self.max_pages = max_pages
        self.max_resources = max_resources
        self.max_response_bytes = max_response_bytes
        self.max_depth = max_depth
        self.deadline = deadline
        self.resources_fetched = 0

    def owns(self, url: str) -> bool:
        """Only URLs under this server's base (no dot segments) are ever requested."""
        return is_under_base_url(url, self.base_url)

    def _request_timeout(self) -> float:
        if self.deadline is None:
            return self.timeout
        remaining = self.deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise FetchError("the FHIR server did not answer within the time allowed for this call", "timeout")
        return min(self.timeout, remaining)

    async def get_json(self, url: str) -> dict[str, Any] | None:
        """GET one URL on this server; None for 404/410; FetchError otherwise."""
        if not self.owns(url):
            raise FetchError("a reference points outside the FHIR server; not followed")
        timeout = self._request_timeout()
        started = time.perf_counter()
        outcome = "error"
        try:
            try:
                async with asyncio.timeout(timeout):  # the whole exchange, not each read
                    body = await self._get_body(url, timeout)
            except TimeoutError:
                raise FetchError(f"the FHIR server did not answer within {timeout:g} s", "timeout") from None
            except httpx.TimeoutException:
                raise FetchError(f"the FHIR server did not answer within {timeout:g} s", "timeout") from None
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                raise FetchError(f"the FHIR server could not be reached ({type(exc).__name__})") from None
            if body is None:
                outcome = "ok"  # 404/410: an answer (no such data)
                return None
            data = parse_fhir_json(body, self.max_depth)
            if not isinstance(data, dict):
                raise FetchError("the FHIR server answered with something other than a resource")
            outcome = "ok"
            return data
        except FetchError as exc:
            outcome = exc.kind
            raise
        except asyncio.CancelledError:  # the call's deadline passed while this request was out
            outcome = "timeout"
            raise
        finally:
            metrics.fhir_fetched(outcome, time.perf_counter() - started)

    async def _get_body(self, url: str, timeout: float) -> bytes | None:
        async with self.http.stream("GET", url, headers=self.headers, timeout=timeout) as response:
            if response.status_code in (404, 410):
                return None
            if response.status_code in (401, 403):
                raise FetchError(f"the FHIR server refused access ({response.status_code})", "refused")
            if response.is_redirect:
                raise FetchError(f"the FHIR server redirected ({response.status_code}); redirects are not followed")
            if response.status_code >= 400:
                raise FetchError(f"the FHIR server answered {response.status_code}")
            return await read_capped(response, self.max_response_bytes)

    async def search_all(self, url: str) -> dict[str, Any] | None:
        """A search, with `next` pages merged into one Bundle (bounded by pages and resources)."""
        first = await self.get_json(url)
        if first is None or first.get("resourceType") != "Bundle":
            return first
        return await self.follow_pages(first)

    async def follow_pages(self, bundle: dict[str, Any]) -> dict[str, Any]:
        """`bundle` with its `next` pages merged in. A page that fails raises `PartialFetch`
        carrying what was read so far: the first pages are data too."""
        entries = _entries(bundle)
        page = bundle
        pages = 1
        failure: FetchError | None = None
        while pages < self.max_pages:
            next_url = next_link(page)
            if not next_url or len(entries) >= self.max_resources:
                break
            try:
                page = await self.get_json(urljoin(self.base_url, next_url)) or {}
            except FetchError as exc:
                failure = exc
                break
            entries.extend(_entries(page))
            pages += 1
        if len(entries) > self.max_resources:
            entries = entries[: self.max_resources]
        self.resources_fetched += len(entries)
        merged = dict(bundle)
        merged["entry"] = entries
        merged.pop("link", None)
        if failure is not None:
            raise PartialFetch(failure.reason, merged, pages)
        return merged


class PartialFetch(FetchError):
    """Paging stopped early: `bundle` holds the pages read before the failure."""

    def __init__(self, reason: str, bundle: dict[str, Any], pages: int) -> None:
        super().__init__(reason)
        self.bundle = bundle
        self.pages = pages


async def read_capped(response: httpx.Response, cap: int) -> bytes:
    """The body of `response`, refusing more than `cap` bytes on the wire or once decoded.

    Decoding is done here, not by httpx: its decoder inflates a whole chunk at once (a 64 kB
    gzip chunk can become 64 MB), while `zlib`'s `max_length` lets us stop at the cap.
    """
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise FetchError(f"the FHIR server's answer is larger than {cap} bytes; not read", "too_large")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        inflater: Any = zlib.decompressobj(47)  # 47: zlib or gzip header, detected
    elif encoding in ("identity", ""):
        inflater = None
    else:
        raise FetchError(f"the FHIR server used an unsupported content encoding ({encoding[:20]})")
    body = bytearray()
    wire = 0
    too_large = FetchError(f"the FHIR server's answer is larger than {cap} bytes; abandoned", "too_large")
    async for chunk in response.aiter_raw():
        wire += len(chunk)
        if wire > cap:
            raise too_large
        if inflater is None:
            body += chunk
        else:
            data = chunk
            while data:
                try:
                    body += inflater.decompress(data, cap + 1 - len(body))
                except zlib.error:
                    raise FetchError("the FHIR server's compressed answer is corrupt") from None
                if len(body) > cap:
                    raise too_large
                data = inflater.unconsumed_tail
        if len(body) > cap:
            raise too_large
    return bytes(body)


def parse_fhir_json(body: bytes, max_depth: int) -> Any:
    """JSON from a FHIR server: orjson (which stops at 1,024 levels instead of recursing into a
    RecursionError), then the same nesting cap as request bodies."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise FetchError("the FHIR server answered with invalid JSON") from None
    if json_depth(data, max_depth) > max_depth:
        raise FetchError(f"the FHIR server answered with JSON nested deeper than {max_depth} levels")
    return data


def _entries(bundle: dict[str, Any]) -> list[Any]:
    entries = bundle.get("entry")
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise FetchError("the FHIR server answered with a Bundle whose entry is not a list")
    return list(entries)


def next_link(bundle: dict[str, Any]) -> str | None:
    links = bundle.get("link")
    if not isinstance(links, list):
        return None
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next" and isinstance(link.get("url"), str):
            return str(link["url"])
    return None
