"""Structured JSON logs with a request id, and nothing else than what we chose to log.

Every record is rendered from an allowlist of fields (see `ALLOWED_FIELDS`); `extra` fields
not on the list are dropped, so a careless `extra={"patient": ...}` cannot leak into the logs.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

ALLOWED_FIELDS = frozenset(
    {
        "service", "hook", "hook_instance", "status", "cards", "topics", "fetched", "gaps", "skipped",
        "latency_ms", "reason", "path", "method", "count", "where", "topic", "client", "dropped",
        "queue", "workers", "host", "port", "dev", "database", "error_type", "duration_ms",
    }
)  # fmt: skip
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            payload["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key in _STANDARD or key.startswith("_"):
                continue
            if key in ALLOWED_FIELDS:
                payload[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The exception type and where it happened; never its message (it may hold data).
            payload["error_type"] = record.exc_info[0].__name__
            tb = record.exc_info[2]
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None:
                payload["at"] = f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
        return orjson.dumps(payload, default=str).decode()


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
