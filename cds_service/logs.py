"""Logging for the whole service: one JSON line per record, a field allowlist, secrets redacted.

Every log line leaves the process through `PrivacyJsonFormatter`, installed on the root logger
by `configure_logging`. It writes one JSON object per line holding the standard fields, the
request id, the message with bearer tokens/JWTs redacted, and only those `extra` fields named in
`ALLOWED_LOG_FIELDS`; anything else a caller attaches (a patient, a request body, a token) is
dropped. Exception messages are withheld (they often quote the offending input, e.g. pydantic
validation errors): only the exception type and the code locations are kept.

Names, identifiers and birth dates cannot be recognized by pattern, so the allowlist is what
keeps them out; `tests/test_log_privacy.py` drives every endpoint with sentinel values to
prove it.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import traceback
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TextIO

# Extra fields a log call may carry. Each is operational (ids of our own services and rules,
# counts, timings, short reasons) or names a configured peer; none can hold patient data.
ALLOWED_LOG_FIELDS: frozenset[str] = frozenset(
    {
        "service_id",
        "hook",
        "hook_instance",
        "topic",
        "topics",
        "rule",
        "prefetch_key",
        "prefetch_keys",
        "status",
        "status_code",
        "method",
        "path",
        "route",
        "duration_ms",
        "count",
        "cards",
        "reason",
        "error_type",
        "iss",
        "tenant",
        "jti",
        "kid",
        "client",
        "jwks_url",
        "fhir_host",
        "request_id",
        "event",
        "outcome",
        "attempt",
        "pages",
        "resources",
        "limit",
        # the edge's operational fields
        "service",
        "fetched",
        "gaps",
        "skipped",
        "latency_ms",
        "where",
        "dropped",
        "queue",
        "workers",
        "host",
        "port",
    }
)

_STANDARD_RECORD_FIELDS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}

_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A JWT (JWS compact form): base64url JSON header `{"` → `eyJ`, three dot-separated parts.
    (re.compile(r"eyJ[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*\.[A-Za-z0-9_\-]*"), "[redacted-jwt]"),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=\-]+"), r"\1 [redacted]"),
    (re.compile(r"(?i)(\"?access_token\"?\s*[:=]\s*\"?)[^\"&\s,}]+"), r"\1[redacted]"),
)
MAX_FIELD_CHARS = 500

# Libraries that log full request URLs (FHIR URLs carry patient ids) at INFO/DEBUG.
_URL_LOGGING_LIBRARIES = ("httpx", "httpcore", "hpack")


def redact_secrets(text: str) -> str:
    """Replace anything shaped like a bearer token, JWT or `access_token` value."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def _safe_value(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple | set | frozenset):
        return [_safe_value(v) for v in list(value)[:50]]
    return redact_secrets(str(value))[:MAX_FIELD_CHARS]


def _exception_summary(exc_info: Any) -> str:
    """Exception types and code locations of the chain, never the messages."""
    if not exc_info or exc_info[1] is None:
        return ""
    summary = traceback.TracebackException(*exc_info, capture_locals=False)
    parts: list[str] = []
    current: traceback.TracebackException | None = summary
    while current is not None:
        name = getattr(current, "exc_type_str", None) or getattr(current.exc_type, "__qualname__", "Exception")
        parts.append("".join(current.stack.format()) + f"{name}: <message withheld>")
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    return "\n--- caused by/during ---\n".join(reversed(parts))


def sanitized_fields(record: logging.LogRecord, context: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What may leave the process for `record`: the allowlist applied, secrets redacted.

    `context` adds per-request fields (e.g. a request id from a contextvar); they pass the
    same allowlist as `extra` fields.
    """
    try:
        message = record.getMessage()
    except Exception:  # a bad format string must not lose the line, nor leak its args
        message = str(record.msg)
    fields: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "msg": redact_secrets(message)[: MAX_FIELD_CHARS * 4],
    }
    for key, value in [*(context or {}).items(), *record.__dict__.items()]:
        if key in ALLOWED_LOG_FIELDS and key not in _STANDARD_RECORD_FIELDS and value is not None:
            fields[key] = _safe_value(value)
    if record.exc_info:
        fields["exc"] = _exception_summary(record.exc_info)
    return fields


class PrivacyJsonFormatter(logging.Formatter):
    """One JSON object per line, built only from `sanitized_fields`."""

    def __init__(self, context: Callable[[], Mapping[str, Any]] | None = None) -> None:
        super().__init__()
        self._context = context

    def format(self, record: logging.LogRecord) -> str:
        context = self._context() if self._context is not None else None
        return json.dumps(sanitized_fields(record, context), ensure_ascii=False, default=str)


class QuietUrlLoggersFilter(logging.Filter):
    """Drops INFO/DEBUG lines of HTTP libraries, which print whole request URLs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        return not any(record.name == lib or record.name.startswith(lib + ".") for lib in _URL_LOGGING_LIBRARIES)


request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def _request_context() -> dict[str, Any]:
    request_id = request_id_var.get()
    return {"request_id": request_id} if request_id else {}


def configure_logging(
    level: str | int = "INFO",
    stream: TextIO | None = None,
    context: Callable[[], Mapping[str, Any]] = _request_context,
) -> logging.Handler:
    """Route every logger (uvicorn's included) through one privacy-enforcing JSON handler.

    Idempotent: a handler installed by an earlier call is replaced. Run uvicorn with
    `log_config=None` (or call this after it configured logging) so its loggers propagate here.
    `context` supplies per-request fields (by default the request id of the call being served).
    """
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_cds_privacy_handler", False):
            root.removeHandler(existing)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(PrivacyJsonFormatter(context))
    handler.addFilter(QuietUrlLoggersFilter())
    handler._cds_privacy_handler = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level if isinstance(level, int) else level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "fastapi"):
        library_logger = logging.getLogger(name)
        library_logger.handlers.clear()
        library_logger.propagate = True
    for name in _URL_LOGGING_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration plugin otherwise
    return handler
