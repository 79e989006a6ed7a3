"""CDS Hooks context + prefetch (raw FHIR JSON) → `PatientFacts`.

Raw JSON is indexed by resourceType first; only the resources the rules read are validated with
fhir.resources R4B (the Patient, MedicationRequests of drugs in our tables and all drafts, their
Medications, the latest K/Mg Observations, Conditions in a category). A malformed resource is
reported as a `SkippedResource` and everything else survives.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from cds_service.facts import terminology
from cds_service.facts.dates import age_in_years, parse_datetime
from cds_service.facts.dose import Strength, daily_dose, supply_duration
from cds_service.facts.fhir_json import UnusableResource, validate
from cds_service.facts.model import (
    ConditionCategory,
    ConditionFact,
    DailyDose,
    DataGap,
    DoseChange,
    DoseHistory,
    DrugClass,
    LabKind,
    LabResult,
    MatchMethod,
    MedicationFact,
    PatientFacts,
    Provenance,
    Route,
    SkippedResource,
    SupplyDuration,
)

PREFETCH_KEYS = ("patient", "medications", "potassium", "magnesium", "conditions")

_MEDICATION_REF = re.compile(r"(Medication/[^/]+)(?:/_history/[^/]+)?$")
_REQUEST_REF = re.compile(r"(?:^|/)MedicationRequest/([^/]+)(?:/_history/[^/]+)?$")
_TEXT_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|mcg|g)(\s*/\s*ml)?\b", re.I)

LAB_OK_STATUSES = {"final", "amended", "corrected"}
CONDITION_ACTIVE = {"active", "recurrence", "relapse"}
CONDITION_EXCLUDED_VERIFICATION = {"refuted", "entered-in-error"}
RECENT_MI_DAYS = 28
HISTORY_INGREDIENTS_ORAL = ("baclofen",)

# A finished order (completed, stopped, cancelled...) whose every date lies further back than this
# can change no card: dose steps look back weeks, MAOI washout 14 days, course chains weeks. Such
# orders are not parsed at all, which keeps years of history cheap.
HISTORY_HORIZON_DAYS = 400
_LIVE_STATUSES = {"active", "on-hold", "draft", "unknown", None}


def _ended_long_ago(raw: Mapping[str, Any], cutoff_date: str) -> bool:
    """True for a finished order with no date on or after `cutoff_date` (ISO text comparison)."""
    if raw.get("status") in _LIVE_STATUSES:
        return False
    dispense = raw.get("dispenseRequest")
    validity = dispense.get("validityPeriod") if isinstance(dispense, dict) else None
    dates = [raw.get("authoredOn")]
    if isinstance(validity, dict):
        dates += [validity.get("start"), validity.get("end")]
    texts = [d for d in dates if isinstance(d, str) and d]
    # No readable date: keep it (unknown is not old).
    return bool(texts) and max(t[:10] for t in texts) < cutoff_date


# SNOMED CT route codes (Dosage.route) and words in route text.
_ROUTE_CODES = {
    "26643006": Route.ORAL,
    "72607000": Route.INTRATHECAL,
    "47625008": Route.INJECTION,
    "78421000": Route.INJECTION,
    "34206005": Route.INJECTION,
    "6064005": Route.TOPICAL,
    "45890007": Route.TOPICAL,
}
_ROUTE_WORDS = (
    (re.compile(r"intrathecal", re.I), Route.INTRATHECAL),
    (re.compile(r"\boral\b|by mouth|\bpo\b", re.I), Route.ORAL),
    (re.compile(r"intravenous|intramuscular|subcutaneous|\biv\b|\bim\b|\bsc\b|injection", re.I), Route.INJECTION),
    (re.compile(r"topical|transdermal|cutaneous", re.I), Route.TOPICAL),
)


# --- indexing ----------------------------------------------------------------------------------


@dataclass
class _Index:
    """Raw resources by type, and every Medication by each key a reference may use."""

    by_type: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    medications: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: list[SkippedResource] = field(default_factory=list)

    def add(self, where: str, resource: dict[str, Any], full_url: Any = None) -> None:
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str):
            self.skipped.append(SkippedResource(where, None, "entry without resourceType"))
            return
        self.by_type.setdefault(resource_type, []).append((where, resource))
        if resource_type == "Medication":
            self.add_medication(resource, full_url)

    def add_medication(self, resource: dict[str, Any], full_url: Any = None) -> None:
        rid = resource.get("id")
        if isinstance(rid, str) and rid:
            self.medications.setdefault(f"Medication/{rid}", resource)
        if isinstance(full_url, str) and full_url:
            self.medications.setdefault(full_url, resource)
            match = _MEDICATION_REF.search(full_url)
            if match:
                self.medications.setdefault(match.group(1), resource)

    def find_medication(self, reference: str) -> dict[str, Any] | None:
        if reference in self.medications:
            return self.medications[reference]
        match = _MEDICATION_REF.search(reference)
        if match:
            return self.medications.get(match.group(1))
        return None


def _entries(bundle: Mapping[str, Any], where: str, index: _Index) -> Iterator[tuple[str, dict[str, Any], Any]]:
    entries = bundle.get("entry")
    if entries is None:
        return
    if not isinstance(entries, list):
        index.skipped.append(SkippedResource(f"{where}.entry", None, "Bundle.entry is not a list"))
        return
    for i, entry in enumerate(entries):
        here = f"{where}.entry[{i}]"
        if not isinstance(entry, dict):
            index.skipped.append(SkippedResource(here, None, "entry is not an object"))
            continue
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            continue  # an OperationOutcome about the search, not patient data
        resource = entry.get("resource")
        if not isinstance(resource, dict):
            index.skipped.append(SkippedResource(here, None, "entry has no resource object"))
            continue
        yield here, resource, entry.get("fullUrl")


def _index_prefetch(prefetch: Mapping[str, Any | None], index: _Index) -> None:
    for key, value in prefetch.items():
        if value is None:
            continue
        where = f"prefetch.{key}"
        if not isinstance(value, dict):
            index.skipped.append(SkippedResource(where, None, "prefetch value is not a FHIR resource"))
            continue
        if value.get("resourceType") == "Bundle":
            for here, resource, full_url in _entries(value, where, index):
                index.add(here, resource, full_url)
        else:
            index.add(where, dict(value))


def _ref_of(resource: Mapping[str, Any]) -> str | None:
    rid = resource.get("id")
    rtype = resource.get("resourceType")
    return f"{rtype}/{rid}" if isinstance(rid, str) and rid and isinstance(rtype, str) else None


# --- medications -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Recognized:
    ingredients: tuple[str, ...]
    match: MatchMethod
    rxnorm_code: str | None
    product: terminology.Product | None
    display: str
    name_strength: Strength | None = None
    name_route: Route = Route.UNKNOWN
    name_conflict: tuple[str, ...] = ()


def _concept_parts(concept: Any) -> tuple[list[tuple[str | None, str]], list[str]]:
    codings: list[tuple[str | None, str]] = []
    texts: list[str] = []
    if not isinstance(concept, dict):
        return codings, texts
    for coding in concept.get("coding") or []:
        if not isinstance(coding, dict):
            continue
        code = coding.get("code")
        system = coding.get("system")
        if isinstance(code, str) and code.strip():
            codings.append((system if isinstance(system, str) else None, code.strip()))
        if isinstance(coding.get("display"), str):
            texts.append(coding["display"])
    if isinstance(concept.get("text"), str):
        texts.insert(0, concept["text"])
    return codings, texts


def _medication_concept(
    request: Mapping[str, Any], index: _Index
) -> tuple[list[tuple[str | None, str]], list[str], dict[str, Any] | None, str | None]:
    """Codings, texts, the resolved Medication (if any) and why it could not be resolved."""
    concept = request.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        codings, texts = _concept_parts(concept)
        return codings, texts, None, None
    reference = request.get("medicationReference")
    if not isinstance(reference, dict):
        return [], [], None, "no medication"
    texts = [reference["display"]] if isinstance(reference.get("display"), str) else []
    target = reference.get("reference")
    medication: dict[str, Any] | None = None
    unresolved = None
    if isinstance(target, str) and target.startswith("#"):
        for contained in request.get("contained") or []:
            if (
                isinstance(contained, dict)
                and contained.get("resourceType") == "Medication"
                and contained.get("id") == target[1:]
            ):
                medication = dict(contained)
                break
        if medication is None:
            unresolved = "contained Medication not found"
    elif isinstance(target, str) and target:
        medication = index.find_medication(target)
        if medication is None:
            unresolved = "referenced Medication not available"
    else:
        unresolved = "medicationReference without reference"
    codings: list[tuple[str | None, str]] = []
    if medication is not None:
        codings, med_texts = _concept_parts(medication.get("code"))
        texts = med_texts + texts
        for ingredient in medication.get("ingredient") or []:
            if isinstance(ingredient, dict):
                more_codings, more_texts = _concept_parts(ingredient.get("itemCodeableConcept"))
                codings += more_codings
                texts += more_texts
    return codings, texts, medication, unresolved


def _strength_from_text(text: str) -> Strength | None:
    found = _TEXT_STRENGTH.findall(text)
    if len(found) != 1:
        return None
    value, unit, per_ml = found[0]
    factor = {"mg": 1.0, "mcg": 0.001, "g": 1000.0}[unit.lower()]
    return Strength(float(value) * factor, bool(per_ml), "medication name")


def _route_from_text(text: str) -> Route:
    for pattern, route in _ROUTE_WORDS:
        if pattern.search(text):
            return route
    if re.search(r"\btablet|\bcapsule", text, re.I):
        return Route.ORAL
    return Route.UNKNOWN


def _names_not_coded(texts: Sequence[str], coded: tuple[str, ...]) -> tuple[str, ...]:
    """Ingredients the order's name or display names when none of them is what its code says.

    The code decides the checks; a disagreement (a display saying baclofen on a carisoprodol code)
    is reported, never silently resolved either way.
    """
    named: list[str] = []
    for text in texts:
        named.extend(terminology.ingredients_in_text(text))
    unique = tuple(dict.fromkeys(named))
    if not unique or set(unique) & set(coded):
        return ()
    return unique


def recognize(codings: Sequence[tuple[str | None, str]], texts: Sequence[str]) -> _Recognized:
    """Ingredients by RxNorm product code, then ingredient code, then ingredient/brand name."""
    display = next((t for t in texts if t.strip()), "")
    rxnorm = [code for system, code in codings if system is None or system in terminology.RXNORM_SYSTEMS]
    for code in rxnorm:
        product = terminology.product(code)
        if product is not None:
            conflict = _names_not_coded(texts, product.ingredient_names)
            return _Recognized(
                product.ingredient_names,
                MatchMethod.CODE,
                code,
                product,
                display or product.name,
                name_conflict=conflict,
            )
    for code in rxnorm:
        ingredient = terminology.ingredient_for_code(code)
        if ingredient is not None:
            conflict = _names_not_coded(texts, (ingredient,))
            return _Recognized(
                (ingredient,), MatchMethod.CODE, code, None, display or ingredient, name_conflict=conflict
            )
    found: list[str] = []
    for text in texts:
        found.extend(terminology.ingredients_in_text(text))
    ingredients = tuple(dict.fromkeys(found))
    if ingredients:
        strength = None
        route = Route.UNKNOWN
        for text in texts:
            if terminology.ingredients_in_text(text):
                strength = strength or (_strength_from_text(text) if len(ingredients) == 1 else None)
                if route is Route.UNKNOWN:
                    route = _route_from_text(text)
        return _Recognized(ingredients, MatchMethod.NAME, rxnorm[0] if rxnorm else None, None, display, strength, route)
    return _Recognized((), MatchMethod.NONE, rxnorm[0] if rxnorm else None, None, display)


def _medication_strength(medication: Mapping[str, Any] | None, ingredient: str) -> Strength | None:
    """Strength from Medication.ingredient.strength (a Ratio: mg per 1 tablet or per mL)."""
    if not medication:
        return None
    items = [i for i in medication.get("ingredient") or [] if isinstance(i, dict)]
    for item in items:
        _, texts = _concept_parts(item.get("itemCodeableConcept"))
        named = any(ingredient in terminology.ingredients_in_text(t) for t in texts)
        if not named and len(items) != 1:
            continue
        ratio = item.get("strength")
        if not isinstance(ratio, dict):
            continue
        from cds_service.facts.dose import MASS_TO_MG, unit_kind

        numerator = ratio.get("numerator") or {}
        denominator = ratio.get("denominator") or {}
        num_unit = str(numerator.get("code") or numerator.get("unit") or "").lower()
        try:
            value = float(numerator.get("value"))
            per = float(denominator.get("value", 1))
        except (TypeError, ValueError):
            continue
        if num_unit not in MASS_TO_MG or per <= 0:
            continue
        kind = unit_kind(denominator) if (denominator.get("code") or denominator.get("unit")) else ("unit", 1.0)
        if kind is None or kind[0] == "mass":
            continue
        return Strength(value * MASS_TO_MG[num_unit] / per, kind[0] == "ml", "Medication.ingredient.strength")
    return None


def _dosage_route(dosages: Any) -> Route:
    if not isinstance(dosages, list):
        return Route.UNKNOWN
    for dosage in dosages:
        if not isinstance(dosage, dict) or not isinstance(dosage.get("route"), dict):
            continue
        codings, texts = _concept_parts(dosage["route"])
        for _, code in codings:
            if code in _ROUTE_CODES:
                return _ROUTE_CODES[code]
        for text in texts:
            route = _route_from_text(text)
            if route is not Route.UNKNOWN:
                return route
        return Route.OTHER
    return Route.UNKNOWN


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


# The facts of a stored (non-draft) order depend only on the order and its Medication, and
# order-select sends the same history again for every edit of an order: remember them. Bounded,
# in-process; the values are what the requests themselves carried.
_STORED_ORDER_MEMO_SIZE = 8192
_STORED_ORDER_FACTS: OrderedDict[bytes, MedicationFact] = OrderedDict()


def _stored_order_key(raw: Mapping[str, Any], medication: Mapping[str, Any] | None, reference: str) -> bytes | None:
    try:
        return orjson.dumps([raw, medication, reference], option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return None


@dataclass
class _Builder:
    now: datetime
    index: _Index
    skipped: list[SkippedResource]

    def medication_fact(
        self,
        where: str,
        raw: dict[str, Any],
        *,
        is_draft: bool,
        is_selected: bool = False,
        fallback_reference: str | None = None,
    ) -> MedicationFact | None:
        reference = _ref_of(raw) or fallback_reference or where
        codings, texts, medication, unresolved = _medication_concept(raw, self.index)
        memo_key = None if is_draft else _stored_order_key(raw, medication, reference)
        if memo_key is not None and (known := _STORED_ORDER_FACTS.get(memo_key)) is not None:
            _STORED_ORDER_FACTS.move_to_end(memo_key)
            return known
        fact = self._medication_fact(where, raw, reference, codings, texts, medication, unresolved,
                                     is_draft=is_draft, is_selected=is_selected)  # fmt: skip
        if memo_key is not None and fact is not None:
            _STORED_ORDER_FACTS[memo_key] = fact
            while len(_STORED_ORDER_FACTS) > _STORED_ORDER_MEMO_SIZE:
                _STORED_ORDER_FACTS.popitem(last=False)
        return fact

    def _medication_fact(
        self,
        where: str,
        raw: dict[str, Any],
        reference: str,
        codings: list[tuple[str | None, str]],
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
        try:
            resource = validate(raw)
            if medication is not None:
                medication = validate(medication)
        except UnusableResource as exc:
            self.skipped.append(SkippedResource(where, _ref_of(raw), str(exc)[:200]))
            return None
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
            strength = _medication_strength(medication, main) or recognized.name_strength
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
        dispense = resource.get("dispenseRequest") if isinstance(resource.get("dispenseRequest"), dict) else {}
        validity = dispense.get("validityPeriod") if isinstance(dispense.get("validityPeriod"), dict) else {}
        validity_start = parse_datetime(validity.get("start"))
        validity_end = parse_datetime(validity.get("end"))
        supply = supply_duration(
            dispense,
            dose,
            validity_start=validity_start,
            validity_end=validity_end,
            dosages=dosages if isinstance(dosages, list) else None,
            reference=reference,
            strength=strength,
        )
        route = _dosage_route(dosages)
        if route in (Route.UNKNOWN, Route.OTHER) and product is not None and product.route is not Route.UNKNOWN:
            route = product.route
        if route is Route.UNKNOWN:
            route = recognized.name_route
        if route is Route.INJECTION and main == "baclofen" and product is not None:
            route = Route.INTRATHECAL
        display = recognized.display or (product.name if product else "") or "unspecified medication"
        return MedicationFact(
            reference=reference,
            resource_id=_str(raw.get("id")),
            ingredients=recognized.ingredients,
            classes=terminology.classes_for(recognized.ingredients),
            match=recognized.match,
            display=display,
            rxnorm_code=recognized.rxnorm_code,
            strength_mg=strength.mg if strength else None,
            strength_per_ml=strength.per_ml if strength else False,
            route=route,
            status=_str(raw.get("status")),
            intent=_str(raw.get("intent")),
            authored_on=parse_datetime(raw.get("authoredOn")),
            validity_start=validity_start,
            validity_end=validity_end,
            daily_dose=dose,
            supply=supply,
            is_draft=is_draft,
            is_selected=is_selected,
            provenance=provenance,
            name_conflict=recognized.name_conflict,
            raw=raw,
        )

    def _unrecognized(
        self, raw: dict[str, Any], reference: str, recognized: _Recognized, unresolved: str | None
    ) -> MedicationFact:
        """An existing order for a drug outside our tables: listed, not validated or dosed."""
        reason = "not a drug these checks use; dose not computed"
        if unresolved:
            reason = f"medication not identified ({unresolved})"
        return MedicationFact(
            reference=reference,
            resource_id=_str(raw.get("id")),
            ingredients=(),
            classes=frozenset(),
            match=MatchMethod.NONE,
            display=recognized.display or "unspecified medication",
            rxnorm_code=recognized.rxnorm_code,
            status=_str(raw.get("status")),
            intent=_str(raw.get("intent")),
            authored_on=parse_datetime(raw.get("authoredOn")),
            daily_dose=DailyDose(None, unknown_reason=reason),
            supply=SupplyDuration(None),
            provenance=Provenance(reference),
            raw=raw,
        )


# --- labs --------------------------------------------------------------------------------------

_K_UNITS = {"mmol/l": 1.0, "meq/l": 1.0, "mmol/liter": 1.0}
_MG_UNITS = {"mg/dl": 0.4114, "mmol/l": 1.0, "meq/l": 0.5, "mmol/liter": 1.0}
_K_MASS_UNITS = {"mg/dl": 0.2558}


def to_mmol_per_l(kind: LabKind, value: float, unit: str, *, mass_code: bool = False) -> float | None:
    """K: mmol/L = mEq/L (mass LOINC: mg/dL × 0.2558); Mg: mg/dL × 0.4114, mEq/L ÷ 2."""
    key = unit.strip().lower().replace(" ", "")
    table = (_K_MASS_UNITS if mass_code else _K_UNITS) if kind is LabKind.POTASSIUM else _MG_UNITS
    factor = table.get(key)
    return None if factor is None else round(value * factor, 4)


def _observation_loinc(resource: Mapping[str, Any]) -> str | None:
    """The K/Mg LOINC code of an Observation, or None (hot path: thousands per patient)."""
    concept = resource.get("code")
    if not isinstance(concept, dict):
        return None
    codings = concept.get("coding")
    if not isinstance(codings, list):
        return None
    for coding in codings:
        if not isinstance(coding, dict) or coding.get("system") not in terminology.LOINC_SYSTEMS:
            continue
        code = coding.get("code")
        if isinstance(code, str) and terminology.lab_kind(code) is not None:
            return code.strip()
    return None


def _time_values(resource: Mapping[str, Any]) -> tuple[Any, ...]:
    """An Observation's time fields in order of preference."""
    period = resource.get("effectivePeriod")
    return (
        resource.get("effectiveDateTime"),
        resource.get("effectiveInstant"),
        period.get("start") if isinstance(period, dict) else None,
        resource.get("issued"),
    )


def _observation_time(resource: Mapping[str, Any]) -> datetime | None:
    for value in _time_values(resource):
        parsed = parse_datetime(value)
        if parsed is not None:
            return parsed
    return None


def _raw_time_text(resource: Mapping[str, Any]) -> str:
    """The effective time as written, for a cheap first ordering (ISO 8601 sorts by text)."""
    return next((v for v in _time_values(resource) if isinstance(v, str) and v), "")


def _lab_candidates(index: _Index) -> dict[LabKind, list[tuple[str, str, dict[str, Any], str]]]:
    """One pass over the Observations: K and Mg results that may be used, newest text first.

    Years of history hold thousands of Observations; only their code, status and time text are
    read here, and nothing is validated.
    """
    by_kind: dict[LabKind, list[tuple[str, str, dict[str, Any], str]]] = {k: [] for k in LabKind}
    seen: set[str] = set()
    for where, resource in index.by_type.get("Observation", []):
        loinc = _observation_loinc(resource)
        kind = terminology.lab_kind(loinc) if loinc is not None else None
        if kind is None:
            continue
        status = resource.get("status")
        if status not in LAB_OK_STATUSES and status != "preliminary":
            continue
        ref = _ref_of(resource)
        if ref is not None:
            if ref in seen:
                continue
            seen.add(ref)
        by_kind[kind].append((_raw_time_text(resource), where, resource, loinc))  # type: ignore[arg-type]
    for candidates in by_kind.values():
        candidates.sort(key=lambda c: c[0], reverse=True)
    return by_kind


# Text order can differ from time order only through UTC offsets (at most ±14 h): parse every
# candidate within this window of the newest before trusting the order.
_TIME_TEXT_WINDOW = timedelta(days=2)


def _newest_first(
    candidates: list[tuple[str, str, dict[str, Any], str]],
) -> Iterator[tuple[datetime | None, str, dict[str, Any], str]]:
    """Candidates in true time order, parsing only those near the top by text order first."""
    floor = datetime.min.replace(tzinfo=UTC)
    top: list[tuple[datetime | None, str, dict[str, Any], str]] = []
    newest: datetime | None = None
    rest_from = len(candidates)
    for i, (_, where, resource, loinc) in enumerate(candidates):
        effective = _observation_time(resource)
        if newest is not None and effective is not None and effective < newest - _TIME_TEXT_WINDOW:
            rest_from = i
            break
        if effective is not None and (newest is None or effective > newest):
            newest = effective
        top.append((effective, where, resource, loinc))
    top.sort(key=lambda c: c[0] or floor, reverse=True)
    yield from top
    # Reached only when nothing near the top was usable.
    rest = [(_observation_time(r), where, r, loinc) for _, where, r, loinc in candidates[rest_from:]]
    rest.sort(key=lambda c: c[0] or floor, reverse=True)
    yield from rest


def _latest_lab(
    kind: LabKind, candidates: list[tuple[str, str, dict[str, Any], str]], skipped: list[SkippedResource]
) -> LabResult | None:
    ordered = _newest_first(candidates)
    for effective, where, raw, loinc in ordered:
        try:
            resource = validate(raw)
        except UnusableResource as exc:
            skipped.append(SkippedResource(where, _ref_of(raw), str(exc)[:200]))
            continue
        quantity = resource.get("valueQuantity")
        if not isinstance(quantity, dict) or quantity.get("value") is None:
            skipped.append(SkippedResource(where, _ref_of(raw), "no numeric valueQuantity"))
            continue
        value = float(quantity["value"])
        unit = str(quantity.get("code") or quantity.get("unit") or "")
        mass = terminology.is_potassium_mass_code(loinc)
        mmol = to_mmol_per_l(kind, value, unit, mass_code=mass)
        if mmol is None and quantity.get("unit") and quantity.get("code"):
            mmol = to_mmol_per_l(kind, value, str(quantity["unit"]), mass_code=mass)
        if mmol is None:
            reason = f"unit not convertible to mmol/L for {kind.value}" if unit else "value has no unit"
            skipped.append(SkippedResource(where, _ref_of(raw), reason))
            continue
        interpretation = None
        for concept in resource.get("interpretation") or []:
            codings, _ = _concept_parts(concept)
            if codings:
                interpretation = codings[0][1]
                break
        status = _str(resource.get("status"))
        return LabResult(
            kind=kind,
            value_mmol_l=mmol,
            value=value,
            unit=str(quantity.get("unit") or quantity.get("code") or ""),
            effective=effective,
            loinc=loinc,
            status=status,
            comparator=_str(quantity.get("comparator")),
            preliminary=status == "preliminary",
            interpretation=interpretation,
            provenance=Provenance(_ref_of(raw) or where, "valueQuantity"),
        )
    return None


# --- conditions --------------------------------------------------------------------------------


def _status_code(concept: Any) -> str | None:
    codings, texts = _concept_parts(concept)
    if codings:
        return codings[0][1]
    return texts[0].lower() if texts else None


def _conditions(now: datetime, index: _Index, skipped: list[SkippedResource]) -> tuple[ConditionFact, ...]:
    out: list[ConditionFact] = []
    seen: set[str] = set()
    for where, raw in index.by_type.get("Condition", []):
        codings, texts = _concept_parts(raw.get("code"))
        categories: set[ConditionCategory] = set()
        matched: tuple[str | None, str] | None = None
        for system, code in codings:
            found = terminology.condition_categories(system, code)
            if found:
                categories |= found
                matched = matched or (system, code)
        if not categories:
            continue
        clinical = _status_code(raw.get("clinicalStatus"))
        verification = _status_code(raw.get("verificationStatus"))
        if clinical is not None and clinical not in CONDITION_ACTIVE:
            continue
        if verification in CONDITION_EXCLUDED_VERIFICATION:
            continue
        ref = _ref_of(raw)
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
        recorded_raw = resource.get("recordedDate")
        out.append(
            ConditionFact(
                categories=frozenset(categories),
                code=matched[1] if matched else None,
                system=matched[0] if matched else None,
                display=texts[0] if texts else (matched[1] if matched else ""),
                clinical_status=clinical,
                verification_status=verification,
                onset=onset,
                recorded=parse_datetime(recorded_raw),
                provenance=Provenance(ref or where, "code"),
            )
        )
    return tuple(out)


# --- dose history ------------------------------------------------------------------------------


def dose_history(ingredient: str, medications: Sequence[MedicationFact], *, oral_only: bool) -> DoseHistory:
    """Steps of the daily dose over the patient's orders of `ingredient` (drafts excluded)."""
    orders = [
        m
        for m in medications
        if m.has(ingredient)
        and not m.is_draft
        and m.start is not None
        and (not oral_only or m.route in (Route.ORAL, Route.UNKNOWN))
    ]
    orders.sort(key=lambda m: (m.start, m.reference))
    steps: list[DoseChange] = []
    for order in orders:
        mg = order.daily_dose.mg_per_day
        if mg is None or order.start is None:
            continue
        if steps and abs(steps[-1].mg_per_day - mg) < 1e-9:
            continue
        steps.append(DoseChange(mg, order.start, order.provenance))
    active = [m for m in orders if m.status in {"active", "on-hold"}]
    current = active[-1] if active else None
    current_mg = current.daily_dose.mg_per_day if current else None
    current_since = None
    previous = None
    changed_at = None
    if current is not None and current_mg is not None:
        # Walk back over the known steps to the one that set the current dose.
        for i in range(len(steps) - 1, -1, -1):
            if abs(steps[i].mg_per_day - current_mg) < 1e-9 and steps[i].at <= current.start:  # type: ignore[operator]
                current_since = steps[i].at
                if i > 0:
                    previous = steps[i - 1].mg_per_day
                    changed_at = steps[i].at
                break
    return DoseHistory(
        ingredient=ingredient,
        current_mg_per_day=current_mg,
        current_since=current_since,
        previous_mg_per_day=previous,
        last_change_at=changed_at,
        steps=tuple(steps),
    )


# --- public entry points -----------------------------------------------------------------------


def _draft_bundle_entries(context: Mapping[str, Any], index: _Index) -> list[tuple[str, dict[str, Any]]]:
    """MedicationRequests of context.draftOrders; their Medications go into the index."""
    bundle = context.get("draftOrders")
    drafts: list[tuple[str, dict[str, Any]]] = []
    if not isinstance(bundle, dict):
        return drafts
    for where, resource, full_url in _entries(bundle, "context.draftOrders", index):
        resource_type = resource.get("resourceType")
        if resource_type == "MedicationRequest":
            drafts.append((where, resource))
        elif resource_type == "Medication":
            index.add_medication(resource, full_url)
    return drafts


def _selected_ids(context: Mapping[str, Any]) -> set[str]:
    out: set[str] = set()
    for selection in context.get("selections") or []:
        if not isinstance(selection, str):
            continue
        match = _REQUEST_REF.search(selection.strip())
        if match:
            out.add(match.group(1))
        elif "/" not in selection:
            out.add(selection.strip())
    return out


def unresolved_medication_references(context: Mapping[str, Any], prefetch: Mapping[str, Any | None]) -> list[str]:
    """`medicationReference.reference` values (as written) the edge must fetch: not contained, not a
    draftOrders entry and not in any prefetch Bundle. Reads only MedicationRequests and Medications."""
    index = _Index()
    requests: list[dict[str, Any]] = []
    for value in prefetch.values():
        if not isinstance(value, dict) or value.get("resourceType") != "Bundle":
            continue
        entries = value.get("entry")
        for entry in entries if isinstance(entries, list) else ():
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if not isinstance(resource, dict):
                continue
            resource_type = resource.get("resourceType")
            if resource_type == "MedicationRequest":
                requests.append(resource)
            elif resource_type == "Medication":
                index.add_medication(resource, entry.get("fullUrl"))
    drafts = [request for _, request in _draft_bundle_entries(context, index)]
    out: list[str] = []
    for request in drafts + requests:
        reference = request.get("medicationReference")
        if not isinstance(reference, dict):
            continue
        target = reference.get("reference")
        if not isinstance(target, str) or not target or target.startswith("#"):
            continue
        if index.find_medication(target) is None and target not in out:
            out.append(target)
    return out


def orders_need_patient_data(hook: str, context: Mapping[str, Any], now: datetime) -> bool:
    """Whether the patient's record must be read to answer this call.

    Order hooks speak about the orders in scope (the selected drafts, or all at signing). When none
    of them is a drug this service checks, there is nothing to say whatever the record holds, so
    the edge can answer at once, with no FHIR query and no "could not check" card. Anything that
    cannot be decided from the drafts alone (a Medication still to be fetched, a malformed draft)
    means yes.
    """
    if hook not in ("order-select", "order-sign"):
        return True
    if unresolved_medication_references(context, {}):
        return True
    drafts = build_facts(hook, context, {}, now)
    if drafts.skipped:
        return True
    return any(order.ingredients or order.classes or order.name_conflict for order in drafts.draft_orders)


def build_facts(
    hook: str,
    context: Mapping[str, Any],
    prefetch: Mapping[str, Any | None],
    now: datetime,
    *,
    extra_resources: Sequence[Mapping[str, Any]] = (),
    gaps: Sequence[DataGap] = (),
) -> PatientFacts:
    """All facts the rules read, from the request's context and prefetch (see module doc)."""
    now = parse_datetime(now) or now
    index = _Index()
    _index_prefetch(prefetch, index)
    for i, extra in enumerate(extra_resources):
        if isinstance(extra, dict) and extra.get("resourceType") == "Medication":
            index.add_medication(dict(extra), None)
        elif isinstance(extra, dict) and extra.get("resourceType") == "Bundle":
            for _, resource, full_url in _entries(extra, f"extra[{i}]", index):
                if resource.get("resourceType") == "Medication":
                    index.add_medication(resource, full_url)
    drafts_raw = _draft_bundle_entries(context, index) if hook in ("order-select", "order-sign") else []
    skipped: list[SkippedResource] = list(index.skipped)
    builder = _Builder(now, index, skipped)

    selected = _selected_ids(context) if hook == "order-select" else set()
    draft_orders: list[MedicationFact] = []
    other_drafts: list[MedicationFact] = []
    draft_ids: set[str] = set()
    for i, (where, raw) in enumerate(drafts_raw):
        rid = _str(raw.get("id"))
        if rid:
            draft_ids.add(rid)
        is_selected = hook == "order-select" and rid in selected
        fact = builder.medication_fact(
            where, raw, is_draft=True, is_selected=is_selected, fallback_reference=f"draftOrders.entry[{i}]"
        )
        if fact is None:
            continue
        if hook == "order-sign" or is_selected:
            draft_orders.append(fact)
        else:
            other_drafts.append(fact)

    medications: list[MedicationFact] = []
    seen: set[str] = set()
    history_cutoff = (now - timedelta(days=HISTORY_HORIZON_DAYS)).date().isoformat()
    for where, raw in index.by_type.get("MedicationRequest", []):
        rid = _str(raw.get("id"))
        # A stored order with a draft's id is the version the draft changes (a dose change or a
        # stop): keep it so rules see the step. Only a copy of the draft itself is dropped.
        if rid and ((rid in draft_ids and raw.get("status") == "draft") or rid in seen):
            continue
        if rid:
            seen.add(rid)
        if _ended_long_ago(raw, history_cutoff):
            continue
        fact = builder.medication_fact(where, raw, is_draft=False)
        if fact is not None:
            medications.append(fact)

    age = None
    sex = None
    patients = index.by_type.get("Patient", [])
    if patients:
        where, raw = patients[0]
        try:
            patient = validate(raw)
            age = age_in_years(patient.get("birthDate"), now)
            sex = _str(patient.get("gender"))
        except UnusableResource as exc:
            skipped.append(SkippedResource(where, _ref_of(raw), str(exc)[:200]))

    histories: dict[str, DoseHistory] = {}
    relaxants = {
        i for m in medications for i in m.ingredients if DrugClass.MUSCLE_RELAXANT in terminology.classes_for((i,))
    }
    for ingredient in sorted(relaxants | set(HISTORY_INGREDIENTS_ORAL)):
        histories[ingredient] = dose_history(ingredient, medications, oral_only=True)

    patient_id = _str(context.get("patientId"))
    labs = _lab_candidates(index)
    return PatientFacts(
        hook=hook,
        now=now,
        patient_id=patient_id,
        age_years=age,
        sex=sex,
        draft_orders=tuple(draft_orders),
        other_drafts=tuple(other_drafts),
        medications=tuple(medications),
        potassium=_latest_lab(LabKind.POTASSIUM, labs[LabKind.POTASSIUM], skipped),
        magnesium=_latest_lab(LabKind.MAGNESIUM, labs[LabKind.MAGNESIUM], skipped),
        conditions=_conditions(now, index, skipped),
        dose_histories=histories,
        skipped=tuple(skipped),
        gaps=tuple(gaps),
    )


__all__ = [
    "build_facts",
    "dose_history",
    "orders_need_patient_data",
    "recognize",
    "to_mmol_per_l",
    "unresolved_medication_references",
]
