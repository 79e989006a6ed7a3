"""MedicationRequests → `MedicationFact`s: what drug (RxNorm code first, then names), how much a day,
for how long, by which route.

Recognition comes first and is cheap: an existing order for a drug outside our tables is listed but
not validated or dosed. Orders the rules read are validated with fhir.resources (only the fields
read), then dosed (`dose.daily_dose`) and given a supply (`dose.supply_duration`). The facts of a
stored order are remembered (bounded) because order-select resends the same history on every edit.

An order for a drug the rules read is never skipped: when a field fails validation (a date without
a timezone, a dose "NaN", frequency 0...) or is impossible (more than 100 g a day, a period under a
minute, an authoredOn in the future beyond `CLOCK_SKEW`), the field is left out, named in
`MedicationFact.problems` (field names, never values) and the rest is read. No exception leaves this
module for any JSON shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson

from cds_service.facts import terminology
from cds_service.facts.dates import parse_datetime
from cds_service.facts.dose import IMPLAUSIBLE, Strength, daily_dose, supply_duration
from cds_service.facts.fhir_index import Coding, FhirIndex, concept_parts, reference_of, string_or_none
from cds_service.facts.fhir_json import UnusableResource, validate, validate_salvaging
from cds_service.facts.memo import BoundedMemo
from cds_service.facts.model import (
    DailyDose,
    MatchMethod,
    MedicationFact,
    Provenance,
    Route,
    SkippedResource,
    SupplyDuration,
)
from cds_service.facts.recognition import Recognized, dosage_route, medication_concept, medication_strength, recognize

# A finished order (completed, stopped, cancelled...) whose every date lies further back than this
# can change no card: dose steps look back weeks, MAOI washout 14 days, course chains weeks. Such
# orders are not parsed at all, which keeps years of history cheap.
HISTORY_HORIZON_DAYS = 400
_LIVE_STATUSES = {"active", "on-hold", "draft", "unknown", None}
# How far in the future a timestamp may lie before it is an error rather than clock skew. A date
# without a time may be "tomorrow" in the EHR's time zone (up to UTC+14).
CLOCK_SKEW = timedelta(minutes=5)
_DATE_ONLY_SKEW = timedelta(hours=14)


def in_the_future(text: Any, when: datetime | None, now: datetime) -> bool:
    """`when` (parsed from `text`) lies beyond the allowed clock skew after `now`."""
    edge = future_edge(text, when)
    return edge is not None and now < edge


def future_edge(text: Any, when: datetime | None) -> datetime | None:
    """The instant from which `when` (parsed from `text`) no longer lies in the future (skew allowed)."""
    if when is None:
        return None
    date_only = isinstance(text, str) and len(text.strip()) <= 10
    return when - (_DATE_ONLY_SKEW if date_only else CLOCK_SKEW)


def ended_long_ago(raw: Mapping[str, Any], cutoff_date: str) -> bool:
    """True for a finished order with no date on or after `cutoff_date` (ISO text comparison)."""
    status = raw.get("status")
    if not isinstance(status, str) or status in _LIVE_STATUSES:
        return False
    dispense = raw.get("dispenseRequest")
    validity = dispense.get("validityPeriod") if isinstance(dispense, dict) else None
    dates = [raw.get("authoredOn")]
    if isinstance(validity, dict):
        dates += [validity.get("start"), validity.get("end")]
    texts = [d for d in dates if isinstance(d, str) and d]
    # No readable date: keep it (unknown is not old).
    return bool(texts) and max(t[:10] for t in texts) < cutoff_date


# The facts of a stored (non-draft) order depend only on the order, its Medication and the clock,
# and order-select sends the same history again for every edit of an order: remember them, with the
# clock's edges they were read against (`_Remembered`). Bounded, in-process; the values are what
# the requests themselves carried.
@dataclass(frozen=True, slots=True)
class _Remembered:
    fact: MedicationFact
    now: datetime  # the clock the fact was read at
    edges: tuple[datetime, ...]  # instants where a comparison with the clock would answer otherwise

    def holds_at(self, now: datetime) -> bool:
        """Every comparison with the clock answers at `now` as it did when the fact was read."""
        return all((now < edge) == (self.now < edge) for edge in self.edges)


STORED_ORDER_FACTS: BoundedMemo[_Remembered] = BoundedMemo(8192)


def _stored_order_key(raw: Mapping[str, Any], medication: Mapping[str, Any] | None, reference: str) -> bytes | None:
    try:
        return orjson.dumps([raw, medication, reference], option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return None


@dataclass
class MedicationReader:
    """Builds `MedicationFact`s for one request, reporting unusable resources in `skipped`."""

    now: datetime
    index: FhirIndex
    skipped: list[SkippedResource]
    _edges: list[datetime] = field(default_factory=list)  # the clock's edges of the fact being read

    def _in_the_future(self, text: Any, when: datetime | None, ahead: timedelta = timedelta(0)) -> bool:
        """`in_the_future(text, when, now + ahead)`, its edge noted: the only way this reader reads the clock."""
        edge = future_edge(text, when)
        if edge is None:
            return False
        self._edges.append(edge - ahead)
        return self.now < edge - ahead

    def medication_fact(
        self,
        where: str,
        raw: dict[str, Any],
        *,
        is_draft: bool,
        is_selected: bool = False,
        fallback_reference: str | None = None,
    ) -> MedicationFact | None:
        reference = reference_of(raw) or fallback_reference or where
        try:
            codings, texts, medication, unresolved = medication_concept(raw, self.index)
        except Exception:  # hostile JSON must never escape the facts layer
            codings, texts, medication, unresolved = [], [], None, "medication could not be read"
        memo_key = None if is_draft else _stored_order_key(raw, medication, reference)
        if (
            memo_key is not None
            and (known := STORED_ORDER_FACTS.get(memo_key)) is not None
            and known.holds_at(self.now)
        ):
            return known.fact
        skipped_before = len(self.skipped)
        self._edges = []
        try:
            fact = self._medication_fact(where, raw, reference, codings, texts, medication, unresolved,
                                         is_draft=is_draft, is_selected=is_selected)  # fmt: skip
        except Exception:  # an in-scope order is listed with what could be read
            fact = self._fallback(where, raw, reference, codings, texts, is_draft=is_draft, is_selected=is_selected)
        # Facts that reported a skipped resource are read again (the report belongs to each call).
        if memo_key is not None and fact is not None and len(self.skipped) == skipped_before:
            STORED_ORDER_FACTS.put(memo_key, _Remembered(fact, self.now, tuple(self._edges)))
        return fact

    def _fallback(
        self,
        where: str,
        raw: dict[str, Any],
        reference: str,
        codings: list[Coding],
        texts: list[str],
        *,
        is_draft: bool,
        is_selected: bool,
    ) -> MedicationFact | None:
        """The last resort when reading failed unexpectedly: an in-scope order keeps its identity."""
        try:
            recognized = recognize(codings, texts)
        except Exception:  # recognition of hostile text
            recognized = Recognized((), MatchMethod.NONE, None, None, "")
        if not recognized.ingredients:
            self.skipped.append(SkippedResource(where, reference_of(raw), "order could not be read"))
            return None
        return MedicationFact(
            reference=reference,
            resource_id=string_or_none(raw.get("id")),
            ingredients=recognized.ingredients,
            classes=terminology.classes_for(recognized.ingredients),
            match=recognized.match,
            display=recognized.display or "unspecified medication",
            rxnorm_code=recognized.rxnorm_code,
            status=string_or_none(raw.get("status")),
            daily_dose=DailyDose(None, unknown_reason="the order could not be read"),
            is_draft=is_draft,
            is_selected=is_selected,
            provenance=Provenance(reference),
            problems=("order",),
            raw=raw,
        )

    def _medication_fact(
        self,
        where: str,
        raw: dict[str, Any],
        reference: str,
        codings: list[Coding],
        texts: list[str],
        medication: dict[str, Any] | None,
        unresolved: str | None,
        *,
        is_draft: bool,
        is_selected: bool,
    ) -> MedicationFact | None:
        recognized = recognize(codings, texts)
        if not is_draft and recognized.match is MatchMethod.NONE:
            return self._unrecognized(raw, reference, recognized, unresolved)
        in_scope = bool(recognized.ingredients)  # a drug in our tables: never skipped
        problems: list[str] = []
        try:
            resource = validate(raw)
        except UnusableResource as exc:
            if not in_scope:
                self.skipped.append(SkippedResource(where, reference_of(raw), str(exc)[:200]))
                return None
            resource, found = validate_salvaging(raw)
            problems.extend(found)
        if medication is not None:
            try:
                medication = validate(medication)
            except UnusableResource as exc:
                if not in_scope:
                    self.skipped.append(SkippedResource(where, reference_of(raw), str(exc)[:200]))
                    return None
                medication = None
                problems.append("medicationReference (the Medication could not be read)")
        main = recognized.ingredients[0] if recognized.ingredients else None
        strength = None
        combination = False
        product = recognized.product
        if product is not None and main is not None:
            first = next(i for i in product.ingredients if i.ingredient == main)
            if first.strength_mg is not None:
                strength = Strength(first.strength_mg, first.per_ml, f"RxNorm {product.rxcui}")
            combination = product.component_count > 1
        if strength is None and main is not None:
            strength = medication_strength(medication, main) or recognized.name_strength
        dosages = resource.get("dosageInstruction")
        provenance = Provenance(reference)
        if recognized.match is MatchMethod.NONE and not codings and not texts:
            dose = DailyDose(None, unknown_reason=unresolved or "no medication", source=provenance)
        else:
            dose = daily_dose(
                dosages,
                strength,
                combination=combination,
                source=Provenance(reference, "dosageInstruction"),
            )
        if dose.unknown_reason and dose.unknown_reason.startswith(IMPLAUSIBLE):
            problems.append(f"dosageInstruction ({dose.unknown_reason})")
        dosage_problems = [p for p in problems if p.startswith("dosageInstruction")]
        if dosage_problems and dose.mg_per_day is not None:
            # A dosage element could not be read: what is left is not the order's dose.
            dose = DailyDose(
                None,
                unknown_reason=f"{dosage_problems[0].split(' ')[0]} could not be read",
                as_needed=dose.as_needed,
                from_range=dose.from_range,
                source=dose.source,
            )
        elif dosage_problems and dose.unknown_reason and not dose.unknown_reason.startswith(IMPLAUSIBLE):
            dose = DailyDose(
                None,
                unknown_reason=f"{dosage_problems[0].split(' ')[0]} could not be read ({dose.unknown_reason})",
                as_needed=dose.as_needed,
                from_range=dose.from_range,
                source=dose.source,
            )
        dispense_given = resource.get("dispenseRequest")
        dispense: dict[str, Any] = dispense_given if isinstance(dispense_given, dict) else {}
        validity_given = dispense.get("validityPeriod")
        validity: dict[str, Any] = validity_given if isinstance(validity_given, dict) else {}
        validity_start = parse_datetime(validity.get("start"))
        validity_end = parse_datetime(validity.get("end"))
        supply = supply_duration(
            dispense,
            dose,
            dosages=dosages if isinstance(dosages, list) else None,
            reference=reference,
            strength=strength,
        )
        if supply.explanation.startswith(IMPLAUSIBLE):
            problems.append(f"dispenseRequest ({supply.explanation})")
        authored_text = resource.get("authoredOn")
        authored_on = parse_datetime(authored_text)
        if self._in_the_future(authored_text, authored_on):
            problems.append("authoredOn (in the future)")
            authored_on = None
        if self._in_the_future(validity.get("start"), validity_start, ahead=timedelta(days=366 * 5)):
            problems.append("dispenseRequest.validityPeriod.start (implausible)")
            validity_start = None
        route = dosage_route(dosages)
        if route in (Route.UNKNOWN, Route.OTHER) and product is not None and product.route is not Route.UNKNOWN:
            route = product.route
        if route is Route.UNKNOWN:
            route = recognized.name_route
        display = recognized.display or (product.name if product else "") or "unspecified medication"
        named_route = terminology.route_in_text(" ".join(texts)) if texts else None
        if named_route is not None and route in (Route.UNKNOWN, Route.OTHER, Route.ORAL):
            route = named_route  # Ryanodex, Revonto: IV dantrolene whatever the order's route field says
        if "intrathecal" in display.lower() or (route is Route.INJECTION and main == "baclofen"):
            route = Route.INTRATHECAL  # pump refills are named so; baclofen is injected only intrathecally
        extended_release = (product is not None and product.extended_release) or any(
            terminology.is_extended_release_text(t) for t in texts if t
        )
        return MedicationFact(
            reference=reference,
            resource_id=string_or_none(raw.get("id")),
            ingredients=recognized.ingredients,
            classes=terminology.classes_for(recognized.ingredients),
            match=recognized.match,
            display=display,
            rxnorm_code=recognized.rxnorm_code,
            strength_mg=strength.mg if strength else None,
            strength_per_ml=strength.per_ml if strength else False,
            route=route,
            status=string_or_none(resource.get("status")),
            intent=string_or_none(resource.get("intent")),
            authored_on=authored_on,
            validity_start=validity_start,
            validity_end=validity_end,
            daily_dose=dose,
            supply=supply,
            is_draft=is_draft,
            is_selected=is_selected,
            provenance=provenance,
            name_conflict=recognized.name_conflict,
            extended_release=extended_release,
            reason_codings=_reason_codings(resource.get("reasonCode")),
            reason_references=_reason_references(resource.get("reasonReference")),
            problems=tuple(dict.fromkeys(problems)),
            raw=raw,
        )

    def _unrecognized(
        self, raw: dict[str, Any], reference: str, recognized: Recognized, unresolved: str | None
    ) -> MedicationFact:
        """An existing order for a drug outside our tables: listed, not validated or dosed."""
        reason = "not a drug these checks use; dose not computed"
        if unresolved:
            reason = f"medication not identified ({unresolved})"
        authored_text = raw.get("authoredOn")
        authored_on = parse_datetime(authored_text) if isinstance(authored_text, str) else None
        if self._in_the_future(authored_text, authored_on):
            authored_on = None
        return MedicationFact(
            reference=reference,
            resource_id=string_or_none(raw.get("id")),
            ingredients=(),
            classes=frozenset(),
            match=MatchMethod.NONE,
            display=recognized.display or "unspecified medication",
            rxnorm_code=recognized.rxnorm_code,
            status=string_or_none(raw.get("status")),
            intent=string_or_none(raw.get("intent")),
            authored_on=authored_on,
            daily_dose=DailyDose(None, unknown_reason=reason),
            supply=SupplyDuration(None),
            provenance=Provenance(reference),
            raw=raw,
        )


def _reason_codings(concepts: Any) -> tuple[tuple[str | None, str, str], ...]:
    """(system, code, display) of every reasonCode coding; the concept's text names codings without one."""
    out: list[tuple[str | None, str, str]] = []
    for concept in concepts if isinstance(concepts, list) else []:
        codings, texts = concept_parts(concept)
        text = concept.get("text") if isinstance(concept, dict) and isinstance(concept.get("text"), str) else ""
        displays = {
            c.get("code"): c.get("display")
            for c in (concept.get("coding") or [] if isinstance(concept, dict) else [])
            if isinstance(c, dict) and isinstance(c.get("display"), str)
        }
        for system, code in codings:
            out.append((system, code, displays.get(code) or text or (texts[0] if texts else code)))
    return tuple(out)


def _reason_references(references: Any) -> tuple[str, ...]:
    out: list[str] = []
    for item in references if isinstance(references, list) else []:
        if isinstance(item, dict) and isinstance(item.get("reference"), str) and item["reference"].strip():
            out.append(item["reference"].strip())
    return tuple(out)
