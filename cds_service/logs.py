"""Request-scoped log context and the one call that configures logging for the service.

The privacy rules (field allowlist, token redaction, no exception messages) live in
`cds_service.auth.logfilter`; this module only adds the request id to every line.
"""

from __future__ import annotations

import contextvars
import logging
from typing import Any

from cds_service.auth.logfilter import configure_logging as _configure_privacy_logging

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)


def _request_context() -> dict[str, Any]:
    request_id = request_id_var.get()
    return {"request_id": request_id} if request_id else {}


def configure_logging(level: str = "INFO") -> None:
    _configure_privacy_logging(level, context=_request_context)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # one line per migration plugin otherwise
