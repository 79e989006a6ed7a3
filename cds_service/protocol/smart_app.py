"""The SMART on FHIR app's edge: its static files at /app/, its configuration, the drawing-data
endpoint, the `smart` link on cards, and what discovery tells an EHR to register.

The app is a public client (SMART App Launch 2.0, PKCE) that reads the patient's data from the
EHR's FHIR server with the EHR's token, which stays in the browser's memory. It posts the resources
it read to `POST /app/api/course` and draws the answer: the service computes the drawing from its
own facts (`cds_service.drawing`), so the picture and the cards cannot disagree.

That endpoint is a pure function of the request body and the public rule configuration: nothing is
stored, nothing of the body is logged, and its answer discloses nothing the caller did not send. It
is bounded (body size, JSON depth, resource count, same-origin browsers only) rather than
authenticated: the app holds no credential of the service's, and a token for the EHR's FHIR server
must never reach a server that does not need it.

Every /app/ response carries a Content-Security-Policy: scripts, styles and images only from the
service itself, and connections only to the service, the FHIR servers of the clients file and the
origins in `CDS_SMART_APP_ORIGINS` (the EHRs' FHIR and authorization servers); in dev mode, any
loopback origin as well.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from cds_service.cdshooks import Card, Link
from cds_service.drawing import course_drawing
from cds_service.protocol.errors import ClientError
from cds_service.protocol.parsing import parse_json_body
from cds_service.protocol.services import PREFETCH_TEMPLATES
from cds_service.ruleset import RuleSet
from cds_service.settings import Settings

router = APIRouter()

APP_PATH = "/app"
LAUNCH_PATH = f"{APP_PATH}/launch.html"
REDIRECT_PATH = f"{APP_PATH}/"
# SMART v2 scopes; the app asks for the v1 `.read` forms when the server does not list "permission-v2".
SCOPES = (
    "launch launch/patient openid fhirUser patient/MedicationRequest.rs patient/Observation.rs "
    "patient/Condition.rs patient/Patient.rs"
)
# Cards about dosing, labs and combinations link to the app (with the order and topic).
LINKED_TOPICS = frozenset(
    {
        "baclofen-titration", "baclofen-withdrawal", "treatment-escalation", "max-daily-dose", "renal-dosing",
        "cyclobenzaprine-duration", "cyclobenzaprine-hepatic", "pediatric-caution", "electrolyte-potassium",
        "electrolyte-magnesium", "electrolyte-monitoring", "electrolyte-correction", "serotonergic-combination",
        "sedation-risk", "tizanidine-interaction",
    }
)  # fmt: skip
MAX_RESOURCES = 5000
# An EHR stores and passes `appContext` through its authorization server: kept small.
MAX_APP_CONTEXT_CHARS = 6000


def app_queries() -> dict[str, str]:
    """The FHIR searches the app runs: the service's own prefetch queries (`{{context.patientId}}` for
    the patient), with a course's worth of lab results and the draft orders the EHR keeps."""
    queries = {}
    for key, query in PREFETCH_TEMPLATES.items():
        query = query.replace("_count=10&", "_count=100&").removesuffix("_count=10") + (
            "_count=100" if query.endswith("_count=10") else ""
        )
        queries[key] = query.replace(
            "status=active,on-hold,completed,stopped",
            "status=active,on-hold,completed,stopped,draft&_include=MedicationRequest:medication",
        )
    return queries


_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
}
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")


# The launch URL EHRs register is the app's one page: it starts the launch when it has `iss`, and
# completes it at the redirect URI (the same page at /app/) when it has `code` and `state`.
_PAGE_ALIASES = {"launch.html": "index.html"}


def _app_file(name: str) -> bytes | None:
    if not _FILE_NAME.match(name) or ".." in name:
        return None
    name = _PAGE_ALIASES.get(name, name)
    target = resources.files("cds_service") / "web" / "app" / name
    return target.read_bytes() if target.is_file() else None


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


def connect_origins(request: Request) -> list[str]:
    """Where the app may connect besides the service: configured FHIR and authorization servers."""
    settings: Settings = request.app.state.settings
    origins: list[str] = []
    for url in settings.smart_app_origins:
        if (origin := _origin(url)) and origin not in origins:
            origins.append(origin)
    for entry in request.app.state.authenticator.clients.values():
        for url in entry.fhir_servers:
            if (origin := _origin(url)) and origin not in origins:
                origins.append(origin)
    if settings.dev:
        origins += ["http://127.0.0.1:*", "http://localhost:*"]
    return origins


def content_security_policy(request: Request) -> str:
    connect = " ".join(["'self'", *connect_origins(request)])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {connect}; base-uri 'none'; form-action 'self'; object-src 'none'"
    )


def _headers(request: Request) -> dict[str, str]:
    return {
        "Content-Security-Policy": content_security_policy(request),
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
    }


@router.get(APP_PATH, include_in_schema=False)
async def app_root() -> RedirectResponse:
    return RedirectResponse(REDIRECT_PATH, status_code=308)


@router.get(f"{APP_PATH}/config.json", include_in_schema=False)
async def app_config(request: Request) -> Response:
    """The client id the app presents (per FHIR server when the EHRs registered it differently)."""
    settings: Settings = request.app.state.settings
    body = {
        "clientId": settings.smart_app_client_id,
        "clientIds": settings.smart_app_client_ids,
        "scope": SCOPES,
        "queries": app_queries(),
    }
    return Response(orjson.dumps(body), media_type="application/json", headers=_headers(request))


@router.get(f"{APP_PATH}/", include_in_schema=False)
@router.get(f"{APP_PATH}/{{name}}", include_in_schema=False)
async def app_file(request: Request, name: str = "index.html") -> Response:
    content = _app_file(name)
    if content is None:
        raise ClientError(404, [(f"no file {name[:80]!r} in the SMART app", None)], "not-found")
    suffix = name[name.rfind(".") :] if "." in name else ""
    media_type = _CONTENT_TYPES.get(suffix, "application/octet-stream")
    return Response(content, media_type=media_type, headers=_headers(request))


def _refuse_cross_site(request: Request) -> None:
    """Only the app itself (same origin) may post: a browser says where a request comes from."""
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site is not None and site not in ("same-origin", "none"):
        raise ClientError(403, [("only the SMART app served by this service may call this endpoint", None)], "security")
    if origin is not None and origin.rstrip("/") != str(request.base_url).rstrip("/"):
        raise ClientError(403, [(f"origin {origin[:100]} is not this service", None)], "security")


def _bundle(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise ClientError(400, [("the body must be a FHIR Bundle of the patient's resources", "Bundle")])
    entries = data.get("entry", [])
    if not isinstance(entries, list):
        raise ClientError(400, [("Bundle.entry must be a list", "Bundle.entry")])
    if len(entries) > MAX_RESOURCES:
        message = f"{len(entries)} resources; the limit is {MAX_RESOURCES}"
        raise ClientError(413, [(message, "Bundle.entry")], "too-costly")
    return data


def _focus(request: Request) -> dict[str, str]:
    """The launching card's order and topic (its `appContext`, sent in the `X-App-Context` header, not
    the URL, so that no proxy log holds an order id): the envelope drawn is that order's."""
    try:
        context = orjson.loads(request.headers.get("x-app-context", "{}")[:1000])
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(context, dict):
        return {}
    return {
        key: value for key in ("order", "topic") if isinstance(value := context.get(key), str) and len(value) <= 200
    }


def _course_outcome(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/fhir+json": {"schema": {"type": "object"}}}}


# The document states what the endpoint takes (a Bundle; its resources are read as the hooks read
# prefetch, malformed ones skipped) and each refusal, so that a client generated from it is right.
_COURSE_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["resourceType"],
                    "properties": {
                        "resourceType": {"type": "string", "enum": ["Bundle"]},
                        "entry": {"type": "array", "maxItems": MAX_RESOURCES, "items": {"type": "object"}},
                    },
                }
            }
        },
    },
}
_COURSE_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _course_outcome("Not JSON, nesting too deep, or not a Bundle (OperationOutcome says where)"),
    403: _course_outcome("Posted from another site: only the app this service serves may call it"),
    413: _course_outcome("Body larger than CDS_MAX_BODY_BYTES, or more resources than the app reads"),
}


@router.post(
    f"{APP_PATH}/api/course",
    summary="The SMART app's drawing data, from the service's facts",
    openapi_extra=_COURSE_OPENAPI,
    responses=_COURSE_RESPONSES,
)
async def course(request: Request) -> Response:
    """Doses with the judged envelope, K/Mg/eGFR with the bands in force and interacting drugs, for the
    resources the app read (a Bundle). Nothing is stored or logged."""
    _refuse_cross_site(request)
    settings: Settings = request.app.state.settings
    body = await request.body()
    data = parse_json_body(body, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth)
    bundle = _bundle(data)
    rule_set: RuleSet = request.app.state.site_rule_set
    drawing = await request.app.state.cpu.run(
        course_drawing, bundle, datetime.now(UTC), rule_set.thresholds, _focus(request)
    )
    return Response(orjson.dumps(drawing), media_type="application/json", headers={"Cache-Control": "no-store"})


# ------------------------------------------------------------------ cards and discovery


def add_app_link(card: Card, base_url: str, drafts: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """A `smart` link to the app on a card about dosing, labs or combinations (the caller checks
    `CDS_SMART_APP_LINKS`). `appContext` carries the card's topic and first order, and the draft orders
    the card is about (`draftOrders`, as the EHR sent them): an order being written is often on no
    FHIR server yet (the CDS Hooks sandbox keeps it in the browser), and the app should draw the order
    the card judged. Past `MAX_APP_CONTEXT_CHARS` the drafts are left out (the app draws the record)."""
    topic = card.source.topic.code if card.source.topic is not None else None
    if topic not in LINKED_TOPICS:
        return
    about: tuple[str, ...] = getattr(card, "about", ())
    context: dict[str, Any] = {"topic": topic}
    if about:
        context["order"] = about[0]
    app_context = orjson.dumps(context).decode()
    ordered = [dict(drafts[reference]) for reference in about if drafts and reference in drafts]
    if ordered:
        with_drafts = orjson.dumps({**context, "draftOrders": ordered}).decode()
        if len(with_drafts) <= MAX_APP_CONTEXT_CHARS:
            app_context = with_drafts
    link = Link(
        label="See the course: doses, plan and labs (SMART app)",
        url=f"{base_url.rstrip('/')}{LAUNCH_PATH}",
        type="smart",
        appContext=app_context,
    )
    card.links = [*(card.links or []), link]


def registration(base_url: str) -> dict[str, Any]:
    """What an EHR registers for the app (shown in discovery's `extension`)."""
    base = base_url.rstrip("/")
    return {
        "launchUrl": f"{base}{LAUNCH_PATH}",
        "redirectUri": f"{base}{REDIRECT_PATH}",
        "scope": SCOPES,
        "clientType": "public (PKCE S256, no secret)",
    }


__all__ = ["LINKED_TOPICS", "SCOPES", "add_app_link", "content_security_policy", "registration", "router"]
