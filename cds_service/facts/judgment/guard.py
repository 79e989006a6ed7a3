"""Is a suggested order's dose inside its order's judgment? Reads the suggested resource back the way
the facts layer reads any order (`dose.daily_dose`), so the check does not trust the rule's arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cds_service.facts import terminology
from cds_service.facts.dose import Strength, daily_dose
from cds_service.facts.judgment.model import DoseJudgment
from cds_service.facts.model import MedicationFact, PatientFacts


def suggested_mg_per_day(resource: Mapping[str, Any], order: MedicationFact) -> float | None:
    """The daily dose a suggested MedicationRequest orders, with the strength of the product it names
    (a suggestion may switch tablet strength or product), else of the order it replaces."""
    strength: Strength | None = None
    concept = resource.get("medicationCodeableConcept")
    codings = concept.get("coding") if isinstance(concept, Mapping) else None
    for coding in codings if isinstance(codings, list) else []:
        product = terminology.product(str(coding.get("code"))) if isinstance(coding, Mapping) else None
        if product is not None and product.ingredients and product.ingredients[0].strength_mg:
            first = product.ingredients[0]
            strength = Strength(first.strength_mg or 0.0, first.per_ml, "RxNorm table")
            break
    if strength is None and order.strength_mg:
        strength = Strength(order.strength_mg, order.strength_per_ml, "order")
    dosages = resource.get("dosageInstruction")
    return daily_dose(dosages if isinstance(dosages, list) else None, strength).mg_per_day


def order_of_resource(facts: PatientFacts, resource: Mapping[str, Any]) -> MedicationFact | None:
    """The order in this call a suggested MedicationRequest rewrites (same id), or replaces (the draft in
    scope for the same ingredient)."""
    rid = resource.get("id")
    orders = (*facts.drafts_in_scope, *facts.other_drafts, *facts.medications)
    if isinstance(rid, str):
        found = next((m for m in orders if m.resource_id == rid or m.reference == f"MedicationRequest/{rid}"), None)
        if found is not None:
            return found
    concept = resource.get("medicationCodeableConcept")
    texts = []
    if isinstance(concept, Mapping):
        texts.append(str(concept.get("text") or ""))
        texts += [str(c.get("display") or "") for c in concept.get("coding") or [] if isinstance(c, Mapping)]
    named = {i for text in texts for i in terminology.ingredients_in_text(text)}
    return next((m for m in facts.drafts_in_scope if named & set(m.ingredients)), None)


def outside_reason(judgment: DoseJudgment, mg_per_day: float | None, previous_mg_per_day: float | None) -> str | None:
    """None when the suggested dose is inside the judgment; otherwise why not (no patient data)."""
    if not judgment.has_labelled_dose:
        return f"no labelled dose here ({judgment.scope.value}: {judgment.no_dose_reason or 'no oral label'})"
    if mg_per_day is None:
        return "the suggested dose cannot be read back"
    if not judgment.allows(mg_per_day, previous_mg_per_day):
        return f"{mg_per_day:g} mg/day above the {judgment.max_suggestable(previous_mg_per_day):g} mg/day allowed"
    return None
