"""Condition resources → `ConditionFact`s of the categories the rules know, current ones only.

The one place that decides whether a condition counts: its clinical status is active, recurrence or
relapse (or not given), and its verification status is neither refuted nor entered-in-error. Rules
never filter conditions again. A recent myocardial infarction is a category only within 28 days of
onset (an ICD-10 I21/I22 code without an onset counts as recent: those codes are for the first four
weeks).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cds_service.facts import terminology
from cds_service.facts.dates import parse_datetime
from cds_service.facts.fhir_index import FhirIndex, concept_parts, reference_of, status_code
from cds_service.facts.fhir_json import UnusableResource, validate
from cds_service.facts.model import ConditionCategory, ConditionFact, Provenance, SkippedResource

CURRENT_CLINICAL_STATUSES = frozenset({"active", "recurrence", "relapse"})
NOT_TRUE_VERIFICATION_STATUSES = frozenset({"refuted", "entered-in-error"})
RECENT_MI_DAYS = 28


def is_current(clinical_status: str | None, verification_status: str | None) -> bool:
    """Whether a condition with these statuses counts as the patient's condition now."""
    if clinical_status is not None and clinical_status.lower() not in CURRENT_CLINICAL_STATUSES:
        return False
    return (verification_status or "").lower() not in NOT_TRUE_VERIFICATION_STATUSES


def current_conditions(now: datetime, index: FhirIndex, skipped: list[SkippedResource]) -> tuple[ConditionFact, ...]:
    out: list[ConditionFact] = []
    seen: set[str] = set()
    for where, raw in index.by_type.get("Condition", []):
        codings, texts = concept_parts(raw.get("code"))
        categories: set[ConditionCategory] = set()
        matched: tuple[str | None, str] | None = None
        for system, code in codings:
            found = terminology.condition_categories(system, code)
            if found:
                categories |= found
                matched = matched or (system, code)
        if not categories:
            continue
        clinical = status_code(raw.get("clinicalStatus"))
        verification = status_code(raw.get("verificationStatus"))
        if not is_current(clinical, verification):
            continue
        ref = reference_of(raw)
        if ref is not None:
            if ref in seen:
                continue
            seen.add(ref)
        try:
            resource = validate(raw)
        except UnusableResource as exc:
            skipped.append(SkippedResource(where, ref, str(exc)[:200]))
            continue
        period = resource.get("onsetPeriod")
        onset = parse_datetime(resource.get("onsetDateTime")) or (
            parse_datetime(period.get("start")) if isinstance(period, dict) else None
        )
        if ConditionCategory.RECENT_MI in categories:
            is_icd = any(
                s in terminology.ICD10_SYSTEMS and c.replace(".", "").upper()[:3] in ("I21", "I22") for s, c in codings
            )
            recent = (onset is not None and now - onset <= timedelta(days=RECENT_MI_DAYS)) or (onset is None and is_icd)
            if not recent:
                categories.discard(ConditionCategory.RECENT_MI)
            if not categories:
                continue
        out.append(
            ConditionFact(
                categories=frozenset(categories),
                code=matched[1] if matched else None,
                system=matched[0] if matched else None,
                display=texts[0] if texts else (matched[1] if matched else ""),
                clinical_status=clinical,
                verification_status=verification,
                onset=onset,
                recorded=parse_datetime(resource.get("recordedDate")),
                provenance=Provenance(ref or where, "code"),
            )
        )
    return tuple(out)
