"""Feedback endpoint (CDS Hooks 2.0 §feedback): what clinicians did with each card.

`POST /cds-services/{id}/feedback` takes `{"feedback": [...]}` in the spec's form and in the
dialects real clients send (Epic's plural `overrideReasons` and `extension` reasons, the
sandbox's `reason` without `display`). A batch is stored all or nothing: every item must name a
card this service issued (per the audit trail) and, when accepted, suggestions that card carried.
Re-sending an identical item is harmless (stored once). The free-text `userComment` is not stored:
it may name the patient; only the fact that one was written is kept.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError

from cds_service.auth import AuthenticatedClient
from cds_service.cards import RULES
from cds_service.cdshooks import FeedbackItem, FeedbackRequest
from cds_service.protocol import openapi
from cds_service.protocol.deps import authenticated_client
from cds_service.protocol.errors import ClientError, validation_issues
from cds_service.protocol.parsing import parse_json_body
from cds_service.protocol.services import SERVICES
from cds_service.storage import FeedbackEntry, FeedbackResult, StorageDisabled, StorageUnavailable

log = logging.getLogger("cds_service.feedback")

router = APIRouter()

EPIC_EXTENSION = "com.epic.cdshooks.feedback.overrideReason."
EPIC_REASON_SYSTEM = "com.epic.cdshooks.feedback.overrideReason.reasonCategory"

# Displays of the override reasons our own cards offer, for clients that echo only the code.
KNOWN_REASON_DISPLAYS: dict[str, str] = {o.code: o.display for rule in RULES for o in rule.overrides}


@router.post("/cds-services/{service_id}/feedback", summary="Card feedback (CDS Hooks 2.0)", **openapi.FEEDBACK)
async def receive_feedback(
    service_id: str, request: Request, client: Annotated[AuthenticatedClient, Depends(authenticated_client)]
) -> Response:
    if service_id not in SERVICES:
        raise ClientError(404, [(f"no CDS service '{service_id[:80]}' here", None)], "not-found")
    settings = request.app.state.settings
    data = parse_json_body(await request.body(), max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth)
    if not isinstance(data, dict):
        raise ClientError(400, [("request body must be a JSON object with a 'feedback' array", None)])
    try:
        parsed = FeedbackRequest.model_validate(data)
    except ValidationError as exc:
        raise ClientError(400, validation_issues(exc)) from None
    entries = [to_entry(index, item) for index, item in enumerate(parsed.feedback)]

    recorder = request.app.state.recorder
    try:
        rule_set = request.app.state.rule_sets.get(client.iss, request.app.state.site_rule_set)
        result: FeedbackResult = await recorder.record_feedback(
            service_id, entries, client.iss, suppression_days=rule_set.override_suppression_days
        )
    except StorageDisabled:
        raise ClientError(
            404, [("feedback is not collected: storage is disabled on this service", None)], "not-supported"
        ) from None
    except StorageUnavailable:
        raise ClientError(503, [("feedback store temporarily unavailable; retry later", None)], "transient") from None
    if result.problems:
        problems = result.problems[:20]
        status = 404 if all(p.not_found for p in result.problems) else 400
        raise ClientError(
            status,
            [(f"feedback[{p.index}].{p.field}: {p.message}", f"feedback[{p.index}].{p.field}") for p in problems],
            "not-found" if status == 404 else "invalid",
        )
    log.info(
        "feedback stored",
        extra={"service": service_id, "count": result.stored, "client": client.iss},
    )
    body = {"received": len(entries), "stored": result.stored, "duplicates": result.duplicates}
    return Response(content=orjson.dumps(body), media_type="application/json")


def to_entry(index: int, item: FeedbackItem) -> FeedbackEntry:
    """One validated item in the storage form; a timestamp that is not ISO 8601 is a 400."""
    where = f"feedback[{index}].outcomeTimestamp"
    outcome_at = _parse_timestamp(item.outcomeTimestamp, where)
    code = system = display = None
    has_comment = False
    reason = item.overrideReason if item.outcome == "overridden" else None
    if reason is not None:
        has_comment = bool(reason.userComment and reason.userComment.strip())
        if reason.reason is not None:
            code, system, display = reason.reason.code, reason.reason.system, reason.reason.display
        elif reason.extension:
            code, display = _epic_reason(reason.extension)
            system = EPIC_REASON_SYSTEM if code else None
        if code and not display:
            display = KNOWN_REASON_DISPLAYS.get(code)
    accepted = tuple(s.id for s in item.acceptedSuggestions or ()) if item.outcome == "accepted" else ()
    return FeedbackEntry(
        card_uuid=item.card,
        outcome=item.outcome,
        outcome_at=outcome_at,
        accepted_suggestions=accepted,
        reason_code=_clip(code, 200),
        reason_system=_clip(system, 500),
        reason_display=_clip(display, 500),
        has_comment=has_comment,
        index=index,
    )


def _epic_reason(extension: dict[str, Any]) -> tuple[str | None, str | None]:
    category = extension.get(EPIC_EXTENSION + "reasonCategory")
    display = extension.get(EPIC_EXTENSION + "reasonDisplay") or extension.get(EPIC_EXTENSION + "reasonTitle")
    code = str(category) if category not in (None, "") else None
    if code is None and display:
        code = str(display)  # a reason with a name but no category still counts as that reason
    return code, (str(display) if display else None)


def _parse_timestamp(value: str, where: str) -> datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ClientError(400, [(f"{where}: not an ISO 8601 date-time", where)]) from None
    if "T" not in text and " " not in text:
        raise ClientError(400, [(f"{where}: a date-time is required, not only a date", where)])
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)  # the spec says UTC
    return parsed.astimezone(UTC)


def _clip(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else value
