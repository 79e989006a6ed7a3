"""Condition resources → `ConditionFact`s of the categories the rules know, current ones only.

The one place that decides whether a condition counts: its clinical status is active, recurrence or
relapse, or it has no clinical status and no `abatement[x]` in the past (FHIR invariant con-4: an
abated condition is not active); and its verification status is neither refuted nor entered-in-error
(entered-in-error conditions are not listed anywhere, not even as the reason of an order). Rules
never filter conditions again. A recent myocardial infarction is a category only within 28 days of
onset (an ICD-10 I21/I22 code without an onset counts as recent: those codes are for the first four
weeks).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from cds_service.facts import terminology
from cds_service.facts.dates import parse_datetime
from cds_service.facts.fhir_index import FhirIndex, concept_parts, reference_of, status_code
from cds_service.facts.fhir_json import UnusableResource, validate
from cds_service.facts.model import ConditionCategory, ConditionFact, Provenance, SkippedResource

CURRENT_CLINICAL_STATUSES = frozenset({"active", "recurrence", "relapse"})
NOT_TRUE_VERIFICATION_STATUSES = frozenset({"refuted", "entered-in-error"})
RECENT_MI_DAYS = 28


_ABATEMENT_FIELDS = ("abatementDateTime", "abatementAge", "abatementPeriod", "abatementRange", "abatementString")


def is_current(clinical_status: str | None, verification_status: str | None, *, abated: bool = False) -> bool:
    """Whether a condition with these statuses counts as the patient's condition now.

    A clinical status of active/recurrence/relapse decides; without one, a condition abated in the past
    (`abated`) is not current.
    """
    if (verification_status or "").lower() in NOT_TRUE_VERIFICATION_STATUSES:
        return False
    if clinical_status is not None:
        return clinical_status.lower() in CURRENT_CLINICAL_STATUSES
    return not abated


def abated_before(raw: Mapping[str, Any], now: datetime) -> bool:
    """Whether a Condition's `abatement[x]` lies in the past: a dateTime or period start at or before now;
    an age, range or text (no date to compare) counts as past."""
    for name in _ABATEMENT_FIELDS:
        value = raw.get(name)
        if value is None or value == "" or value == {}:
            continue
        if name == "abatementDateTime":
            when = parse_datetime(value)
            return when is None or when <= now
        if name == "abatementPeriod" and isinstance(value, Mapping):
            when = parse_datetime(value.get("start")) or parse_datetime(value.get("end"))
            return when is None or when <= now
        return True
    return False


def condition_is_usable(raw: Mapping[str, Any], now: datetime) -> bool:
    """The same filter for a Condition read as an order's reason (reasonReference)."""
    return is_current(
        status_code(raw.get("clinicalStatus")),
        status_code(raw.get("verificationStatus")),
        abated=abated_before(raw, now),
    )


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
        if not is_current(clinical, verification, abated=abated_before(raw, now)):
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
                # read defensively from the raw resource: a malformed stage must not cost the condition
                stage=_stage_text(raw.get("stage")),
            )
        )
    return tuple(out)


def _stage_text(stages: Any) -> str:
    """The texts of `Condition.stage[].summary` (text, else codings' displays), joined; "" when none."""
    texts: list[str] = []
    for stage in stages if isinstance(stages, list) else []:
        if isinstance(stage, Mapping):
            codings, shown = concept_parts(stage.get("summary"))
            texts.extend(shown or [code for _, code in codings])
    return "; ".join(t for t in texts if t)[:200]
