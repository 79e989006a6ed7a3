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
from urllib.parse import quote

from cds_service.cdshooks import HookRequest
from cds_service.facts.build import DraftOrders, unresolved_medication_references
from cds_service.facts.model import DataGap
from cds_service.protocol.fhir_client import FetchError, FhirFetcher, PartialFetch, next_link, outcome_text
from cds_service.protocol.services import PREFETCH_MEANING, PREFETCH_TEMPLATES

log = logging.getLogger("cds_service.prefetch")


@dataclass
class ResolvedData:
    prefetch: dict[str, Any | None]
    extra_resources: list[dict[str, Any]] = field(default_factory=list)
    gaps: list[DataGap] = field(default_factory=list)
    fetched_keys: list[str] = field(default_factory=list)
    unobtainable: bool = False  # nothing at all could be had: the edge answers 412


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


def _sorted_keys(sent: dict[str, Any]) -> tuple[dict[str, Any | None], list[DataGap], list[str]]:
    """The prefetch as sent: (usable values, gaps for OperationOutcomes, keys absent)."""
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
    return resolved, gaps, missing


def _first_pages(resolved: dict[str, Any | None]) -> list[str]:
    """Keys whose Bundle is the first page of a longer search."""
    return [
        k for k, v in resolved.items() if isinstance(v, dict) and v.get("resourceType") == "Bundle" and next_link(v)
    ]


def resolve_without_fetching(
    request: HookRequest, drafts: DraftOrders, *, can_fetch: bool, refusal: str | None = None
) -> ResolvedData | None:
    """What `resolve_prefetch` answers when it needs no FHIR request (a complete prefetch, or no server
    that may be asked), computed without awaiting anything, so that a typical call's CPU work is one
    step; None when something is to be fetched (`can_fetch`: a fetcher would be given)."""
    resolved, gaps, missing = _sorted_keys(request.prefetch or {})
    if missing and not can_fetch and not resolved and not gaps:
        return ResolvedData(prefetch={}, unobtainable=True)
    first_pages = _first_pages(resolved)
    if can_fetch and (missing or first_pages):
        return None
    if not can_fetch:
        for key in missing:
            gaps.append(DataGap(PREFETCH_MEANING[key], refusal or "not sent by the EHR and no FHIR server to ask", key))
        for key in first_pages:
            # the EHR sent the first page of a longer search: what is on the others is unknown
            reason = refusal or "no FHIR server to ask"
            gaps.append(DataGap(PREFETCH_MEANING[key], f"only the first page was read: {reason}", key))
    if unresolved_medication_references(resolved, drafts):
        if can_fetch:
            return None
        gaps.append(DataGap("medications given by reference", refusal or "the Medication could not be fetched", None))
    return ResolvedData(prefetch=resolved, gaps=gaps)


async def resolve_prefetch(
    request: HookRequest,
    drafts: DraftOrders,
    *,
    fetcher: FhirFetcher | None,
    refusal: str | None = None,
) -> ResolvedData:
    """Assemble the data for the facts layer; `fetcher` is None when no FHIR server may be called.

    `refusal` explains why no fetcher is available (no fhirServer, or not allowlisted) and is
    used as the gap reason. All FHIR work ends by `fetcher.deadline`: what has not arrived by
    then becomes a gap, and the call goes on with what it has.
    """
    ready = resolve_without_fetching(request, drafts, can_fetch=fetcher is not None, refusal=refusal)
    if ready is not None:
        return ready
    assert fetcher is not None  # without one, everything is answered above
    resolved, gaps, missing = _sorted_keys(request.prefetch or {})

    async def fetch_key(key: str) -> None:
        assert fetcher is not None
        url = render_template(PREFETCH_TEMPLATES[key], request.context)
        if url is None:
            gaps.append(DataGap(PREFETCH_MEANING[key], "the request context lacks a value the query needs", key))
            return
        try:
            resolved[key] = await fetcher.search_all(fetcher.base_url + url)
        except PartialFetch as exc:
            resolved[key] = exc.bundle
            gaps.append(DataGap(PREFETCH_MEANING[key], _partial_reason(exc), key))
        except FetchError as exc:
            gaps.append(DataGap(PREFETCH_MEANING[key], exc.reason, key))

    async def follow_key(key: str) -> None:
        assert fetcher is not None
        try:
            resolved[key] = await fetcher.follow_pages(resolved[key])  # type: ignore[arg-type]
        except PartialFetch as exc:
            resolved[key] = exc.bundle
            gaps.append(DataGap(PREFETCH_MEANING[key], _partial_reason(exc), key))
        except FetchError as exc:
            gaps.append(DataGap(PREFETCH_MEANING[key], f"only the first page was read: {exc.reason}", key))

    jobs: dict[str, Any] = {k: fetch_key(k) for k in missing}
    jobs |= {k: follow_key(k) for k in _first_pages(resolved)}
    if jobs:
        late = await _until_deadline(jobs, fetcher.deadline)
        for key in late:
            reason = (
                _late_reason(fetcher) if key in missing else f"only the first page was read: {_late_reason(fetcher)}"
            )
            gaps.append(DataGap(PREFETCH_MEANING[key], reason, key))

    extra: list[dict[str, Any]] = []
    references = unresolved_medication_references(resolved, drafts)
    if references:
        extra = await _fetch_medications(fetcher, references, gaps)
    fetched = list(missing)
    return ResolvedData(prefetch=resolved, extra_resources=extra, gaps=gaps, fetched_keys=fetched)


async def _until_deadline(jobs: dict[str, Any], deadline: float | None) -> list[str]:
    """Run the jobs concurrently until `deadline`; cancel the rest and return their keys."""
    tasks = {asyncio.ensure_future(job): key for key, job in jobs.items()}
    timeout = None if deadline is None else max(0.0, deadline - asyncio.get_running_loop().time())
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    for task in done:
        task.result()  # a bug in a job is a bug: let it surface
    return [tasks[t] for t in pending]


def _late_reason(fetcher: FhirFetcher) -> str:
    return "the FHIR server did not answer within the time allowed for this call"  # the deadline


def _partial_reason(exc: PartialFetch) -> str:
    return f"only the first {exc.pages} page(s) were read: {exc.reason}"


async def _fetch_medications(fetcher: FhirFetcher, references: list[str], gaps: list[DataGap]) -> list[dict[str, Any]]:
    unique = list(dict.fromkeys(references))[:50]
    results: dict[str, dict[str, Any] | None] = {}

    async def one(reference: str) -> None:
        url = reference if reference.startswith(("http://", "https://")) else fetcher.base_url + reference
        try:
            results[reference] = await fetcher.get_json(url)
        except FetchError as exc:
            gaps.append(DataGap("a medication given by reference", exc.reason, None))

    late = await _until_deadline({r: one(r) for r in unique}, fetcher.deadline)
    if late:
        gaps.append(DataGap("a medication given by reference", _late_reason(fetcher), None))
    return [r for r in results.values() if isinstance(r, dict) and r.get("resourceType") == "Medication"]
