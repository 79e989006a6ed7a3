"""What the OpenAPI document says about the CDS endpoints' bodies and answers.

The routes read their bodies themselves (size and depth limits first, then the CDS Hooks models,
with 400 OperationOutcomes that say which field is wrong), so FastAPI cannot infer a request
schema from their signatures. These declarations publish the very models the routes validate
with (`cds_service.cdshooks`), so that clients, and fuzzers such as schemathesis, can reach the
hook bodies, and list every status a route answers with.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from cds_service.cdshooks import CONTEXT_MODELS, FeedbackRequest, HookRequest, HookResponse


class OutcomeIssue(BaseModel):
    severity: Literal["error"]
    code: str
    diagnostics: str
    expression: list[str] | None = None


class OperationOutcome(BaseModel):
    """Every refusal's body (FHIR R4 OperationOutcome): which field, which rule; never the value."""

    resourceType: Literal["OperationOutcome"]
    issue: list[OutcomeIssue] = Field(min_length=1)


class FeedbackStored(BaseModel):
    received: int
    stored: int
    duplicates: int


MODELS: tuple[type[BaseModel], ...] = (HookRequest, HookResponse, FeedbackRequest, OperationOutcome, FeedbackStored)


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _outcome(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/fhir+json": {"schema": _ref(OperationOutcome)}}}


def _body(model: type[BaseModel]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": _ref(model)}}}}


_COMMON: dict[int | str, dict[str, Any]] = {
    400: _outcome("Not JSON, nesting too deep, or a field breaks the CDS Hooks model (OperationOutcome says where)"),
    401: _outcome("No valid client JWT (the same body whatever failed; the reason is logged)"),
    404: _outcome("No such service (or, for feedback, a card this service did not issue to the caller)"),
    413: _outcome("Body larger than CDS_MAX_BODY_BYTES"),
    503: _outcome("Overloaded or a dependency is down; retry after Retry-After"),
}

HOOK_CALL: dict[str, Any] = {
    "openapi_extra": _body(HookRequest),
    "responses": {
        200: {"description": "Cards", "content": {"application/json": {"schema": _ref(HookResponse)}}},
        **_COMMON,
        412: _outcome("No prefetch was sent and the FHIR server may not be called"),
    },
}

FEEDBACK: dict[str, Any] = {
    "openapi_extra": _body(FeedbackRequest),
    "responses": {
        200: {"description": "Stored", "content": {"application/json": {"schema": _ref(FeedbackStored)}}},
        **_COMMON,
    },
}


SECURITY_SCHEME = "cdsClientJwt"
_BEARER_JWT = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "The CDS client's JWT (CDS Hooks 2.0, section Trusting CDS Clients): signed with a key of "
    "the client's JWKS, `aud` this service's URL, a `jti` used once. Not required in --dev.",
}


def _secure(document: dict[str, Any]) -> None:
    """Every /cds-services operation (and /analytics) takes a bearer token: declared, with its 401;
    every path that names something answers 404 when there is no such thing."""
    document["components"].setdefault("securitySchemes", {})[SECURITY_SCHEME] = _BEARER_JWT
    for path, operations in document.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if "{" in path:
                responses.setdefault("404", _outcome("Nothing by that name here"))
            if path.startswith(("/cds-services", "/analytics")):  # /analytics: or the admin token
                operation["security"] = [{SECURITY_SCHEME: []}]
                responses.setdefault("401", _COMMON[401])


def _per_hook_contexts(schemas: dict[str, Any]) -> None:
    """`context` of a hook request, as each hook defines it (the route checks it against `hook`)."""
    for model in CONTEXT_MODELS.values():
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
        for name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas[model.__name__] = schema
    context = schemas["HookRequest"]["properties"]["context"]
    schemas["HookRequest"]["properties"]["context"] = {
        "title": context.get("title", "Context"),
        "description": "The hook's context: "
        + ", ".join(f"{hook} → {model.__name__}" for hook, model in CONTEXT_MODELS.items()),
        "anyOf": [_ref(model) for model in CONTEXT_MODELS.values()],
    }


def add_component_schemas(document: dict[str, Any]) -> dict[str, Any]:
    """Put the models (and the models they use) into `components.schemas` of `document`."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for model in MODELS:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="validation")
        for name, definition in schema.pop("$defs", {}).items():
            schemas.setdefault(name, definition)
        schemas[model.__name__] = schema
    _per_hook_contexts(schemas)
    _secure(document)
    # Request validation errors are answered 400 with an OperationOutcome (errors.py), never 422.
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None:
                responses.setdefault("400", _outcome("A parameter breaks its rule (OperationOutcome says which)"))
    if not any("HTTPValidationError" in str(op) for ops in document.get("paths", {}).values() for op in ops.values()):
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
    return document
