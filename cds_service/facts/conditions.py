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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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


_PAST = datetime.min.replace(tzinfo=UTC)  # abated at an unknown time: in the past, whatever the clock


def abatement_instant(raw: Mapping[str, Any]) -> datetime | None:
    """When a Condition's `abatement[x]` says it ended: a dateTime or period start (else end); an
    unreadable date, an age, a range or a text give `_PAST` (no date to compare, counts as past); None
    when it has no abatement. Clock-free, so it can be read once per content (facts/reuse.py)."""
    for name in _ABATEMENT_FIELDS:
        value = raw.get(name)
        if value is None or value == "" or value == {}:
            continue
        if name == "abatementDateTime":
            return parse_datetime(value) or _PAST
        if name == "abatementPeriod" and isinstance(value, Mapping):
            return parse_datetime(value.get("start")) or parse_datetime(value.get("end")) or _PAST
        return _PAST
    return None


def abated_before(raw: Mapping[str, Any], now: datetime) -> bool:
    """Whether a Condition's `abatement[x]` lies in the past: a dateTime or period start at or before now;
    an age, range or text (no date to compare) counts as past."""
    when = abatement_instant(raw)
    return when is not None and when <= now


def condition_is_usable(raw: Mapping[str, Any], now: datetime) -> bool:
    """The same filter for a Condition read as an order's reason (reasonReference)."""
    return is_current(
        status_code(raw.get("clinicalStatus")),
        status_code(raw.get("verificationStatus")),
        abated=abated_before(raw, now),
    )


@dataclass(frozen=True, slots=True)
class ConditionReading:
    """A Condition of a category the rules know, read without the clock: whether it counts now, and
    whether a myocardial infarction is still recent, are decided per call (`current_conditions`)."""

    where: str
    ref: str | None
    categories: frozenset[ConditionCategory]
    matched: tuple[str | None, str] | None
    display: str
    clinical: str | None
    verification: str | None
    abated_at: datetime | None
    unusable: str | None  # why validation refused it (reported only if it counts now)
    onset: datetime | None
    recorded: datetime | None
    stage: str
    icd_mi: bool  # an ICD-10 I21/I22 code: recent without an onset


def condition_readings(conditions: Iterable[tuple[str, dict[str, Any]]]) -> list[ConditionReading]:
    """The (where, Condition) pairs of a category the rules know, read; the others are left out."""
    out: list[ConditionReading] = []
    for where, raw in conditions:
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
        unusable = onset = recorded = None
        try:
            resource = validate(raw)
        except UnusableResource as exc:
            unusable = str(exc)[:200]
        else:
            period = resource.get("onsetPeriod")
            onset = parse_datetime(resource.get("onsetDateTime")) or (
                parse_datetime(period.get("start")) if isinstance(period, dict) else None
            )
            recorded = parse_datetime(resource.get("recordedDate"))
        out.append(
            ConditionReading(
                where=where,
                ref=reference_of(raw),
                categories=frozenset(categories),
                matched=matched,
                display=texts[0] if texts else (matched[1] if matched else ""),
                clinical=status_code(raw.get("clinicalStatus")),
                verification=status_code(raw.get("verificationStatus")),
                abated_at=abatement_instant(raw),
                unusable=unusable,
                onset=onset,
                recorded=recorded,
                # read defensively from the raw resource: a malformed stage must not cost the condition
                stage=_stage_text(raw.get("stage")),
                icd_mi=any(
                    s in terminology.ICD10_SYSTEMS and c.replace(".", "").upper()[:3] in ("I21", "I22")
                    for s, c in codings
                ),
            )
        )
    return out


def current_conditions(
    now: datetime,
    index: FhirIndex,
    skipped: list[SkippedResource],
    readings: Sequence[ConditionReading] | None = None,
) -> tuple[ConditionFact, ...]:
    """The conditions that count at `now`, from the index's Conditions (or their `readings`, in the
    index's order)."""
    if readings is None:
        readings = condition_readings(index.by_type.get("Condition", []))
    out: list[ConditionFact] = []
    seen: set[str] = set()
    for reading in readings:
        abated = reading.abated_at is not None and reading.abated_at <= now
        if not is_current(reading.clinical, reading.verification, abated=abated):
            continue
        ref = reading.ref
        if ref is not None:
            if ref in seen:
                continue
            seen.add(ref)
        if reading.unusable is not None:
            skipped.append(SkippedResource(reading.where, ref, reading.unusable))
            continue
        categories = set(reading.categories)
        if ConditionCategory.RECENT_MI in categories:
            onset = reading.onset
            recent = (onset is not None and now - onset <= timedelta(days=RECENT_MI_DAYS)) or (
                onset is None and reading.icd_mi
            )
            if not recent:
                categories.discard(ConditionCategory.RECENT_MI)
            if not categories:
                continue
        out.append(
            ConditionFact(
                categories=frozenset(categories),
                code=reading.matched[1] if reading.matched else None,
                system=reading.matched[0] if reading.matched else None,
                display=reading.display,
                clinical_status=reading.clinical,
                verification_status=reading.verification,
                onset=reading.onset,
                recorded=reading.recorded,
                provenance=Provenance(ref or reading.where, "code"),
                stage=reading.stage,
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
