"""The SMART app's drawing data: one patient's course computed from the service's own facts.

`course_drawing` takes the FHIR resources the app read (a Bundle) and gives what the app draws;
the app itself does no clinical arithmetic, so the picture and the cards can never disagree. HTTP
lives in `protocol/smart_app.py`; this package reads facts and thresholds only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.drawing.course import interacting, labs, relaxants
from cds_service.drawing.summary import summary_lines
from cds_service.facts.build import build_facts
from cds_service.facts.fhir_index import string_or_none
from cds_service.facts.series import lab_series


def _split(bundle: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """(the record, the draft orders, the patient id): MedicationRequests with status `draft` are the
    orders being written, judged as an order-sign call judges them."""
    record: list[Any] = []
    drafts: list[Any] = []
    patient_id = None
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            record.append(entry)
            continue
        if resource.get("resourceType") == "MedicationRequest" and resource.get("status") == "draft":
            drafts.append(entry)
        else:
            record.append(entry)
        if resource.get("resourceType") == "Patient" and patient_id is None:
            patient_id = string_or_none(resource.get("id"))
    return ({"resourceType": "Bundle", "type": "collection", "entry": record},
            {"resourceType": "Bundle", "type": "collection", "entry": drafts}, patient_id)  # fmt: skip


def course_drawing(
    bundle: Mapping[str, Any], now: datetime, t: Thresholds = DEFAULT_THRESHOLDS, focus: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Doses with their envelope, labs with their bands, interacting drugs, and the summary in words."""
    record, drafts, patient_id = _split(bundle)
    hook = "order-sign" if drafts["entry"] else "patient-view"
    context: dict[str, Any] = {"patientId": patient_id}
    if drafts["entry"]:
        context["draftOrders"] = drafts
    prefetch = {"record": record}
    facts = build_facts(hook, context, prefetch, now)
    drawing: dict[str, Any] = {
        "now": now.isoformat(),
        "patient": {"age_years": facts.age_years},
        "focus": dict(focus or {}),
        "relaxants": relaxants(facts, t, (focus or {}).get("order")),
        "labs": labs(lab_series(prefetch, now), t),
        "interacting": interacting(facts),
        "skipped": [{"where": s.where, "reason": s.reason} for s in facts.skipped][:50],
    }
    drawing["summary"] = summary_lines(drawing)
    return drawing


__all__ = ["course_drawing"]
