"""The peer: HealthChain's CDS Hooks service (pinned in bench/peer.py) answering our order-select service
id, run by bench/peer.py in a virtual environment of its own (never imported by ours).

`BENCH_PEER_MODE=noop`: the handler returns no cards (what the framework costs: request model,
routing, response model). `BENCH_PEER_MODE=validate`: the handler also validates every prefetch
resource with fhir.resources (R4B, as our facts layer does), counting the ones that fail, and
returns no cards. HealthChain's API as of 0.16: `CDSHooksService.hook(hook_type, id=...)` registers a
POST route `<base_path>/cds-services/<id>` taking a `CDSRequest`; the app is a `HealthChainAPI`
(FastAPI) with `register_service`.
"""

from __future__ import annotations

import os
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from healthchain.gateway import CDSHooksService, HealthChainAPI
from healthchain.gateway.cds import CDSHooksConfig
from healthchain.models import CDSRequest, CDSResponse
from pydantic import ValidationError

MODE = os.environ.get("BENCH_PEER_MODE", "noop")
invalid = 0


def _validate(resource: Any) -> None:
    global invalid
    if not isinstance(resource, dict) or "resourceType" not in resource:
        return
    try:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    except (ValidationError, KeyError, ValueError):
        invalid += 1


def validate_prefetch(prefetch: dict[str, Any] | None) -> None:
    """Each resource on its own (a malformed one must not hide the others, as in our service)."""
    for value in (prefetch or {}).values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            for entry in value.get("entry") or []:
                _validate(entry.get("resource") if isinstance(entry, dict) else None)
        else:
            _validate(value)


cds = CDSHooksService(config=CDSHooksConfig(base_path=""), use_events=False)


@cds.hook("order-select", id="muscle-spasm-order-select")
def order_select(request: CDSRequest) -> CDSResponse:
    if MODE == "validate":
        validate_prefetch(request.prefetch)
    return CDSResponse(cards=[])


app = HealthChainAPI(title="peer", enable_events=False, enable_cors=False)
app.register_service(cds)
