"""Routes for operators and orchestrators: liveness, readiness, Prometheus metrics.

`/health` (routes.py) stays what it was: 200 while the process serves, with the audit trail's state.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from cds_service.observability import exposition
from cds_service.protocol.deps import presents_admin_token
from cds_service.protocol.errors import ClientError

router = APIRouter()


def _json(payload: object, status: int = 200) -> Response:
    return Response(content=orjson.dumps(payload), status_code=status, media_type="application/json")


@router.get("/health/live", summary="Liveness: the process answers (never depends on the database or FHIR)")
async def live() -> Response:
    return _json({"status": "live"})


@router.get(
    "/health/ready",
    summary="Readiness: warmed up, not draining, required dependencies up (503 otherwise)",
    responses={503: {"description": "draining after SIGTERM, or a required dependency is down"}},
)
async def ready(request: Request) -> Response:
    """200 when this instance should get hook calls. 503 while draining (after SIGTERM) or while a
    required dependency is down: the JWT replay store under `CDS_REPLAY_OUTAGE=reject`, or the
    audit database when there is no spool. An audit database outage with a spool is not one
    (rows wait on disk; `/health` says degraded)."""
    readiness = request.app.state.readiness
    is_ready, body = readiness.report()
    response = _json(body, 200 if is_ready else 503)
    if readiness.draining:
        response.headers["Connection"] = "close"
    return response


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus exposition, for the admin token only (`CDS_ADMIN_TOKEN`, Bearer). Without a token
    configured the route does not exist here: use `CDS_METRICS_PORT` (a bind of its own)."""
    token = request.app.state.settings.admin_token
    if not token:
        raise ClientError(404, [("metrics are served on CDS_METRICS_PORT, or here with CDS_ADMIN_TOKEN", None)],
                          "not-found")  # fmt: skip
    if not presents_admin_token(request.headers.get("authorization", ""), token):
        return Response(
            content=b"unauthorized: the admin token is required",
            status_code=401,
            media_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    request.app.state.metrics_sync()
    body, content_type = exposition.render()
    return Response(content=body, media_type=content_type)
