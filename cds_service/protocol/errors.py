"""Client errors as OperationOutcome bodies that say what is wrong and where.

Bodies never echo request values: a validation message names the field path and the rule it
broke, not the (possibly patient-identifying) value that broke it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

FHIR_JSON = "application/fhir+json"


class ClientError(Exception):
    """A request the service refuses, with the HTTP status and OperationOutcome issues to return."""

    def __init__(self, status: int, issues: Sequence[tuple[str, str | None]], code: str = "invalid") -> None:
        super().__init__("; ".join(message for message, _ in issues))
        self.status = status
        self.issues = list(issues)
        self.code = code

    def __reduce__(self) -> tuple[type[ClientError], tuple[int, list[tuple[str, str | None]], str]]:
        return (ClientError, (self.status, self.issues, self.code))  # crosses to and from worker processes


def operation_outcome(issues: Iterable[tuple[str, str | None]], code: str = "invalid") -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for message, where in issues:
        issue: dict[str, Any] = {"severity": "error", "code": code, "diagnostics": message}
        if where:
            issue["expression"] = [where]
        out.append(issue)
    return {"resourceType": "OperationOutcome", "issue": out}


def outcome_response(status: int, issues: Sequence[tuple[str, str | None]], code: str = "invalid") -> Response:
    return Response(
        content=orjson.dumps(operation_outcome(issues, code)),
        status_code=status,
        media_type=FHIR_JSON,
    )


def validation_issues(error: ValidationError | RequestValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """Pydantic errors as (message, path) without the offending input values."""
    issues: list[tuple[str, str]] = []
    for item in error.errors(include_input=False, include_url=False):
        parts = [str(p) for p in item.get("loc", ()) if p not in ("body",)]
        path = ".".join(([prefix] if prefix else []) + parts)
        message = item.get("msg", "invalid value")
        issues.append((f"{path or 'request'}: {message}", path or None))
    return issues[:20]


async def _request_validation_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    return outcome_response(400, validation_issues(exc))


async def _client_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ClientError)
    return outcome_response(exc.status, exc.issues, exc.code)


async def _http_exception_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    code = {401: "login", 403: "forbidden", 404: "not-found", 405: "not-supported", 413: "too-costly"}.get(
        exc.status_code, "processing"
    )
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    response = outcome_response(exc.status_code, [(detail, None)], code)
    response.headers.update(headers)
    return response


def install_error_handlers(app: Any) -> None:
    app.add_exception_handler(RequestValidationError, _request_validation_handler)
    app.add_exception_handler(ClientError, _client_error_handler)
    app.add_exception_handler(StarletteHTTPException, _http_exception_handler)
