"""What drug, strength and route a MedicationRequest names: its RxNorm code first (our tables), then
the names in its text, then the Medication it references. Split from `medications` (issue 19): the
reader there builds the facts; this module only recognizes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cds_service.facts import terminology
from cds_service.facts.dose import MASS_TO_MG, Strength, unit_kind
from cds_service.facts.fhir_index import Coding, FhirIndex, concept_parts
from cds_service.facts.model import MatchMethod, Route

_TEXT_STRENGTH = re.compile(r"(\d+(?:\.\d+)?)\s*(mg|mcg|g)(\s*/\s*ml)?\b", re.I)

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


@dataclass(frozen=True, slots=True)
class Recognized:
    ingredients: tuple[str, ...]
    match: MatchMethod
    rxnorm_code: str | None
    product: terminology.Product | None
    display: str
    name_strength: Strength | None = None
    name_route: Route = Route.UNKNOWN
    name_conflict: tuple[str, ...] = ()


def medication_concept(
    request: Mapping[str, Any], index: FhirIndex
) -> tuple[list[Coding], list[str], dict[str, Any] | None, str | None]:
    """Codings, texts, the resolved Medication (if any) and why it could not be resolved."""
    concept = request.get("medicationCodeableConcept")
    if isinstance(concept, dict):
        codings, texts = concept_parts(concept)
        return codings, texts, None, None
    reference = request.get("medicationReference")
    if not isinstance(reference, dict):
        return [], [], None, "no medication"
    texts = [reference["display"]] if isinstance(reference.get("display"), str) else []
    target = reference.get("reference")
    medication: dict[str, Any] | None = None
    unresolved = None
    if isinstance(target, str) and target.startswith("#"):
        contained_list = request.get("contained")
        if isinstance(contained_list, dict):
            contained_list = [contained_list]
        for contained in contained_list if isinstance(contained_list, list) else []:
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
    codings = []
    if medication is not None:
        codings, med_texts = concept_parts(medication.get("code"))
        texts = med_texts + texts
        ingredients = medication.get("ingredient")
        for ingredient in ingredients if isinstance(ingredients, list) else []:
            if isinstance(ingredient, dict):
                more_codings, more_texts = concept_parts(ingredient.get("itemCodeableConcept"))
                codings += more_codings
                texts += more_texts
    return codings, texts, medication, unresolved


def strength_from_text(text: str) -> Strength | None:
    found = _TEXT_STRENGTH.findall(text)
    if len(found) != 1:
        return None
    value, unit, per_ml = found[0]
    factor = {"mg": 1.0, "mcg": 0.001, "g": 1000.0}[unit.lower()]
    return Strength(float(value) * factor, bool(per_ml), "medication name")


def route_from_text(text: str) -> Route:
    for pattern, route in _ROUTE_WORDS:
        if pattern.search(text):
            return route
    if re.search(r"\btablet|\bcapsule", text, re.I):
        return Route.ORAL
    return Route.UNKNOWN


def names_not_coded(texts: Sequence[str], coded: tuple[str, ...]) -> tuple[str, ...]:
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


def recognize(codings: Sequence[Coding], texts: Sequence[str]) -> Recognized:
    """Ingredients by RxNorm product code, then ingredient code, then ingredient/brand name."""
    display = next((t for t in texts if t.strip()), "")
    rxnorm = [code for system, code in codings if system is None or system in terminology.RXNORM_SYSTEMS]
    for code in rxnorm:
        product = terminology.product(code)
        if product is not None:
            conflict = names_not_coded(texts, product.ingredient_names)
            return Recognized(
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
            conflict = names_not_coded(texts, (ingredient,))
            return Recognized(
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
                strength = strength or (strength_from_text(text) if len(ingredients) == 1 else None)
                if route is Route.UNKNOWN:
                    route = route_from_text(text)
        return Recognized(ingredients, MatchMethod.NAME, rxnorm[0] if rxnorm else None, None, display, strength, route)
    return Recognized((), MatchMethod.NONE, rxnorm[0] if rxnorm else None, None, display)


def medication_strength(medication: Mapping[str, Any] | None, ingredient: str) -> Strength | None:
    """Strength from Medication.ingredient.strength (a Ratio: mg per 1 tablet or per mL)."""
    if not medication or not isinstance(medication.get("ingredient"), list):
        return None
    items = [i for i in medication["ingredient"] if isinstance(i, dict)]
    for item in items:
        _, texts = concept_parts(item.get("itemCodeableConcept"))
        named = any(ingredient in terminology.ingredients_in_text(t) for t in texts)
        if not named and len(items) != 1:
            continue
        ratio = item.get("strength")
        if not isinstance(ratio, dict):
            continue
        numerator = ratio.get("numerator") or {}
        denominator = ratio.get("denominator") or {}
        if not isinstance(numerator, dict) or not isinstance(denominator, dict):
            continue
        num_unit = str(numerator.get("code") or numerator.get("unit") or "").lower()
        try:
            value = float(numerator.get("value"))  # type: ignore[arg-type]  # None raises TypeError: skipped
            per = float(denominator.get("value", 1))
        except (TypeError, ValueError, OverflowError):
            continue
        if num_unit not in MASS_TO_MG or not (0 < per < 1e9) or not (0 < value < 1e9):
            continue
        kind = unit_kind(denominator) if (denominator.get("code") or denominator.get("unit")) else ("unit", 1.0)
        if kind is None or kind[0] == "mass":
            continue
        return Strength(value * MASS_TO_MG[num_unit] / per, kind[0] == "ml", "Medication.ingredient.strength")
    return None


def dosage_route(dosages: Any) -> Route:
    if not isinstance(dosages, list):
        return Route.UNKNOWN
    for dosage in dosages:
        if not isinstance(dosage, dict) or not isinstance(dosage.get("route"), dict):
            continue
        codings, texts = concept_parts(dosage["route"])
        for _, code in codings:
            if code in _ROUTE_CODES:
                return _ROUTE_CODES[code]
        for text in texts:
            route = route_from_text(text)
            if route is not Route.UNKNOWN:
                return route
        return Route.OTHER
    return Route.UNKNOWN
