"""A dev/test bridge that makes the SMART Health IT launcher answer the CDS Hooks sandbox's launch API.

Never part of the service, never in CI: it stands in for the part of an EHR that the CDS Hooks sandbox
expects of a "SMART-enabled FHIR server". For each `smart` link on a card the sandbox POSTs
`<fhirServer>/_services/smart/Launch` with `{launchUrl, parameters: {patient, appContext, ...}}`,
expects `{launch_id}`, and opens `<launchUrl>?launch=<launch_id>&iss=<fhirServer>`; without that API it
greys the link out. The SMART Health IT launcher (github.com/smart-on-fhir/smart-launcher-v2) has a real
authorization server and a FHIR proxy that checks its tokens, but no such API: its EHR launches carry
their context in the `launch` value itself (base64url JSON of its launch options).

The bridge sits in front of the launcher, on an origin of its own, and:

- answers `POST /v/r4/fhir/_services/smart/Launch` with a fresh opaque `launch_id`, remembering the
  launcher launch code for the patient (a provider EHR launch, the prescriber as user, no encounter,
  PKCE required, redirects allowed only under the launch URL's folder) and the card's `appContext`;
- forwards everything else to the launcher (FHIR reads, `/metadata`, `.well-known/smart-configuration`,
  authorize, token, its login pages) with `X-Forwarded-Host`, so the launcher names the bridge in its
  discovery and checks `aud` against the bridge: `iss`, `aud` and the FHIR base stay one URL;
- on `authorize`, swaps its `launch_id` for the launcher's code and notes the request's `state`; when the
  launcher redirects back with a `code` for that `state`, notes the code; on `token`, adds the card's
  `appContext` to the launcher's token response (the launcher keeps no context beyond patient,
  encounter and user), as the EHR's authorization server does for SMART App Launch 2.0.

    .venv/bin/python scripts/smart_launch_bridge.py --launcher http://127.0.0.1:9009 --port 9010 \\
        --provider trial-prescriber
    # sandbox: fhirServiceUrl=http://127.0.0.1:9010/v/r4/fhir
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FHIR_BASE = "/v/r4/fhir"  # the launcher's R4 FHIR base (its auth server is /v/r4/auth)
LAUNCH_API = f"{FHIR_BASE}/_services/smart/Launch"
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length", "host",
     "content-encoding", "proxy-authorization", "proxy-authenticate"}
)  # fmt: skip
MAX_LAUNCHES = 1000  # each card answer registers its links: a bounded memory, oldest forgotten first


def launcher_code(patient: str, provider: str, redirect_prefix: str) -> str:
    """The launcher's own launch value (src/isomorphic/codec.ts `encode`): a provider EHR launch for one
    patient and one provider, encounter "NONE" (no picker), PKCE "always", public client."""
    options = [
        0,  # launch_type: provider-ehr
        patient,
        provider,
        "NONE",  # encounter
        1 if provider else 0,  # skip_login: the EHR user is known
        0,  # skip_auth
        0,  # sim_ehr
        "",  # scope: whatever the app asks for
        redirect_prefix,  # redirect_uris: only the app the card linked to
        "",  # client_id
        "",  # client_secret
        "",  # auth_error
        "",  # jwks_url
        "",  # jwks
        0,  # client_type: public
        2,  # pkce: always
        "",  # fhir_server: the launcher's configured R4 server
    ]
    return base64.urlsafe_b64encode(json.dumps(options).encode()).decode().rstrip("=")


@dataclass
class Launches:
    """What the bridge remembers between the sandbox's POST and the app's token request."""

    codes: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # launch_id -> (code, appContext)
    by_state: dict[str, str | None] = field(default_factory=dict)  # authorize `state` -> appContext
    by_code: dict[str, str | None] = field(default_factory=dict)  # authorization code -> appContext
    log: list[str] = field(default_factory=list)  # what happened, for the trial's report (no tokens)

    def remember(self, table: dict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        while len(table) > MAX_LAUNCHES:
            table.pop(next(iter(table)))


def describe(app_context: str | None) -> str:
    """appContext for a log line: its topic and order, how many draft orders (not their content)."""
    try:
        value = json.loads(app_context or "null")
    except ValueError:
        return f"{len(app_context or '')} characters (not JSON)"
    if not isinstance(value, dict):
        return "none" if value is None else type(value).__name__
    drafts = value.get("draftOrders") or []
    return f"topic {value.get('topic')}, order {value.get('order')}, {len(drafts)} draft order(s)"


def closing(client: httpx.AsyncClient) -> Any:
    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        yield
        await client.aclose()

    return lifespan


def create_bridge(launcher: str, provider: str = "") -> Starlette:
    launcher = launcher.rstrip("/")
    launches = Launches()
    client = httpx.AsyncClient(base_url=launcher, timeout=60, follow_redirects=False)

    def cors(request: Request) -> dict[str, str]:
        origin = request.headers.get("origin")
        if not origin:
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Accept, Authorization, Content-Type",
            "Vary": "Origin",
        }

    async def launch_api(request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status_code=204, headers=cors(request))
        try:
            body = await request.json()
            launch_url = str(body["launchUrl"])
            parameters = body.get("parameters") or {}
            patient = str(parameters["patient"])
        except (ValueError, KeyError, TypeError):
            message = "expected JSON {launchUrl, parameters: {patient, appContext?}}"
            return JSONResponse({"error": message}, status_code=400, headers=cors(request))
        parts = urlsplit(launch_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or not patient:
            return JSONResponse({"error": "launchUrl must be absolute, patient non-empty"}, 400, cors(request))
        app_context = parameters.get("appContext")
        if app_context is not None and not isinstance(app_context, str):
            app_context = json.dumps(app_context)
        redirect_prefix = urljoin(launch_url, "./")
        launch_id = secrets.token_urlsafe(16)
        launches.remember(launches.codes, launch_id, (launcher_code(patient, provider, redirect_prefix), app_context))
        launches.log.append(f"launch registered: patient {patient}, app {launch_url}, {describe(app_context)}")
        return JSONResponse({"launch_id": launch_id}, headers=cors(request))

    async def forward(request: Request) -> Response:
        path = request.url.path
        query = list(parse_qsl(request.url.query, keep_blank_values=True))
        body = await request.body()
        is_authorize = path.endswith("/auth/authorize")
        form: dict[str, list[str]] = {}
        if is_authorize and request.method == "POST":
            form = parse_qs(body.decode())
        params = {k: v[-1] for k, v in form.items()} or dict(query)
        if is_authorize and params.get("launch") in launches.codes:
            code, app_context = launches.codes[params["launch"]]
            if "state" in params:
                launches.remember(launches.by_state, params["state"], app_context)
            if form:
                form["launch"] = [code]
                body = urlencode(form, doseq=True).encode()
            else:
                query = [(k, code if k == "launch" else v) for k, v in query]
            pkce = params.get("code_challenge_method", "no PKCE")
            launches.log.append(
                f"authorize ({pkce}, state {'present' if 'state' in params else 'absent'}, aud {params.get('aud')}):"
                " the bridge's launch_id swapped for the launcher's launch code"
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        headers["x-forwarded-host"] = request.headers.get("host", "")
        headers["x-forwarded-proto"] = request.url.scheme
        upstream = await client.request(request.method, path, params=query, content=body, headers=headers)
        out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
        content = upstream.content
        location = upstream.headers.get("location", "")
        if is_authorize and location:
            answer = parse_qs(urlsplit(location).query)
            state, code = answer.get("state", [None])[0], answer.get("code", [None])[0]
            if code and state in launches.by_state:
                launches.remember(launches.by_code, code, launches.by_state.pop(state))
                back_to = urlunsplit((*urlsplit(location)[:3], "", ""))
                launches.log.append(f"authorize: code issued, redirect to {back_to}")
        if path.endswith("/auth/token") and upstream.status_code == 200:
            code = parse_qs(body.decode()).get("code", [None])[0]
            if code in launches.by_code:
                token_response = upstream.json()
                app_context = launches.by_code.pop(code)
                if app_context is not None:
                    token_response["appContext"] = app_context
                content = json.dumps(token_response).encode()
                granted = f"patient {token_response.get('patient')}, scope '{token_response.get('scope')}'"
                launches.log.append(f"token: issued for {granted}, appContext: {describe(app_context)}")
        return Response(content, status_code=upstream.status_code, headers=out_headers)

    methods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"]
    app = Starlette(
        routes=[
            Route(LAUNCH_API, launch_api, methods=["POST", "OPTIONS"]),
            Route("/{path:path}", forward, methods=methods),
        ],
        lifespan=closing(client),
    )
    app.state.launches = launches
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launcher", required=True, help="the launcher's base URL, e.g. http://127.0.0.1:9009")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--provider", default="", help="the Practitioner id the EHR user logs in as")
    args = parser.parse_args()
    import uvicorn

    uvicorn.run(create_bridge(args.launcher, args.provider), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
