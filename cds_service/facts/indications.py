"""What each muscle-relaxant order treats: its reasonCode, then its reasonReference, then the problem list.

Precedence (deterministic):
1. An explicit reason always wins. `reasonCode` first: its codings' categories give the indication;
   a reason we cannot place (a code outside our tables, text only) is still the reason: UNKNOWN,
   never a guess from the problem list. Several explicit indications: the one that fits the drug's
   labelled use, else the first listed.
2. `reasonReference`, resolved to a Condition in the conditions prefetch, the order's `contained`, or
   any other resource of the request (by `Condition/id` or fullUrl). A reference that cannot be
   resolved, or that points to an entered-in-error or refuted Condition, falls through.
3. The problem list (current conditions only, `facts.conditions`): one indication there is the
   indication; several: the one that fits the drug's labelled use (spasticity for baclofen, tizanidine
   and dantrolene; acute musculoskeletal for cyclobenzaprine and the other antispasmodics), else UNKNOWN.

Cramps are CRAMPS_WITH_LIVER_DISEASE when the reason itself also carries a cirrhosis or liver code, or
when the patient has cirrhosis on the problem list; otherwise CRAMPS.

Benzodiazepine orders get an indication too (issue 19: a benzodiazepine ordered for back spasm was
"indication unknown", so neither Beers 2023 nor the boxed warning with an opioid reached it), but
only from the order's own reason (1 and 2): the problem list never makes a benzodiazepine one "for
spasm", since most are written for anxiety or sleep in patients who also have back pain on record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cds_service.facts import terminology
from cds_service.facts.conditions import NOT_TRUE_VERIFICATION_STATUSES
from cds_service.facts.fhir_index import FhirIndex, concept_parts, reference_of, status_code
from cds_service.facts.model import (
    ConditionCategory,
    ConditionFact,
    DrugClass,
    Indication,
    IndicationFact,
    MedicationFact,
    Provenance,
)

# Orders that get an indication: every muscle relaxant, and benzodiazepines (a benzodiazepine for spasm
# is within this service's scope: guideline S8, Beers 2023, the class boxed warning).
_INDICATED_CLASSES = frozenset({DrugClass.MUSCLE_RELAXANT, DrugClass.BENZODIAZEPINE})
_SPASTICITY = {ConditionCategory.CEREBRAL_SPASTICITY, ConditionCategory.SPINAL_SPASTICITY}
_LIVER = {ConditionCategory.CIRRHOSIS, ConditionCategory.LIVER_DISEASE}
# The labelled use of each drug: antispasticity agents treat spasticity, the others acute MSK spasm.
LABELLED_USE = {
    DrugClass.ANTISPASTICITY: Indication.SPASTICITY,
    DrugClass.ANTISPASMODIC_BEERS: Indication.ACUTE_MUSCULOSKELETAL,
}


def _indications_of(
    categories: Iterable[ConditionCategory], *, liver_in_reason: bool, cirrhosis: bool
) -> list[Indication]:
    found: list[Indication] = []
    cats = set(categories)
    if cats & _SPASTICITY:
        found.append(Indication.SPASTICITY)
    if ConditionCategory.ACUTE_MUSCULOSKELETAL in cats:
        found.append(Indication.ACUTE_MUSCULOSKELETAL)
    if ConditionCategory.MUSCLE_CRAMPS in cats:
        with_liver = liver_in_reason or bool(cats & _LIVER) or cirrhosis
        found.append(Indication.CRAMPS_WITH_LIVER_DISEASE if with_liver else Indication.CRAMPS)
    return found


def _labelled(order: MedicationFact) -> Indication | None:
    for drug_class, indication in LABELLED_USE.items():
        if drug_class in order.classes:
            return indication
    return None


def _pick_explicit(order: MedicationFact, found: Sequence[Indication]) -> Indication:
    if not found:
        return Indication.UNKNOWN
    labelled = _labelled(order)
    return labelled if labelled is not None and labelled in found else found[0]


class ConditionLookup:
    """Conditions a reasonReference may point to: prefetch and request resources, and `contained`."""

    def __init__(self, index: FhirIndex, extra: Iterable[tuple[str, dict[str, Any], Any]] = ()) -> None:
        self._by_key: dict[str, tuple[str, dict[str, Any]]] = {}
        for where, raw in index.by_type.get("Condition", []):
            self._add(where, raw, None)
        for where, raw, full_url in extra:
            self._add(where, raw, full_url)
        for url, (where, raw) in index.condition_urls.items():
            self._by_key.setdefault(url, (where, raw))

    def _add(self, where: str, raw: dict[str, Any], full_url: Any) -> None:
        ref = reference_of(raw)
        if ref:
            self._by_key.setdefault(ref, (where, raw))
        if isinstance(full_url, str) and full_url:
            self._by_key.setdefault(full_url, (where, raw))

    def resolve(self, reference: str, order_raw: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
        if reference.startswith("#"):
            contained = order_raw.get("contained") if isinstance(order_raw, Mapping) else None
            if isinstance(contained, dict):
                contained = [contained]
            for item in contained if isinstance(contained, list) else []:
                if (
                    isinstance(item, dict)
                    and item.get("resourceType") == "Condition"
                    and item.get("id") == reference[1:]
                ):
                    return f"{reference}", item
            return None
        if reference in self._by_key:
            return self._by_key[reference]
        tail = reference.split("/_history/")[0]
        parts = tail.rstrip("/").split("/")
        if len(parts) >= 2 and parts[-2] == "Condition":
            return self._by_key.get(f"Condition/{parts[-1]}")
        return None


def _verified(raw: Mapping[str, Any]) -> bool:
    status = raw.get("status")
    if isinstance(status, str) and status.strip().lower() == "entered-in-error":
        return False
    verification = status_code(raw.get("verificationStatus"))
    return (verification or "").lower() not in NOT_TRUE_VERIFICATION_STATUSES


def indication_for(
    order: MedicationFact, conditions: Sequence[ConditionFact], lookup: ConditionLookup
) -> IndicationFact:
    cirrhosis = any(ConditionCategory.CIRRHOSIS in c.categories for c in conditions)
    # 1. reasonCode
    if order.reason_codings or _reason_texts(order.raw):
        categories: set[ConditionCategory] = set()
        display = ""
        for system, code, shown in order.reason_codings:
            found = terminology.condition_categories(system, code)
            if found and not display:
                display = shown
            categories |= found
        found_indications = _indications_of(categories, liver_in_reason=bool(categories & _LIVER), cirrhosis=cirrhosis)
        if not display:
            display = order.reason_codings[0][2] if order.reason_codings else _reason_texts(order.raw)[0]
        return IndicationFact(
            _pick_explicit(order, found_indications), "reasonCode", display, Provenance(order.reference, "reasonCode")
        )
    # 2. reasonReference
    for reference in order.reason_references:
        resolved = lookup.resolve(reference, order.raw)
        if resolved is None:
            continue
        where, raw = resolved
        if not _verified(raw):
            continue
        codings, texts = concept_parts(raw.get("code"))
        categories = set()
        for system, code in codings:
            categories |= terminology.condition_categories(system, code)
        found_indications = _indications_of(categories, liver_in_reason=bool(categories & _LIVER), cirrhosis=cirrhosis)
        display = texts[0] if texts else (codings[0][1] if codings else reference)
        return IndicationFact(
            _pick_explicit(order, found_indications),
            "reasonReference",
            display,
            Provenance(reference_of(raw) or where, "code"),
        )
    # 3. problem list (muscle relaxants only: their labelled use picks among the conditions)
    if DrugClass.MUSCLE_RELAXANT not in order.classes:
        return IndicationFact(Indication.UNKNOWN)
    by_indication: dict[Indication, ConditionFact] = {}
    for condition in conditions:
        for indication in _indications_of(condition.categories, liver_in_reason=False, cirrhosis=cirrhosis):
            by_indication.setdefault(indication, condition)
    if not by_indication:
        return IndicationFact(Indication.UNKNOWN)
    if len(by_indication) == 1:
        ((indication, condition),) = by_indication.items()
    else:
        labelled = _labelled(order)
        if labelled is None or labelled not in by_indication:
            return IndicationFact(
                Indication.UNKNOWN, "problem list", "several conditions; none fits the drug's labelled use"
            )
        indication, condition = labelled, by_indication[labelled]
    return IndicationFact(indication, "problem list", condition.display, condition.provenance)


def _reason_texts(raw: Mapping[str, Any] | None) -> list[str]:
    concepts = raw.get("reasonCode") if isinstance(raw, Mapping) else None
    out: list[str] = []
    for concept in concepts if isinstance(concepts, list) else []:
        _, texts = concept_parts(concept)
        out.extend(t for t in texts if t.strip())
    return out


def indications(
    orders: Iterable[MedicationFact], conditions: Sequence[ConditionFact], lookup: ConditionLookup
) -> dict[str, IndicationFact]:
    out: dict[str, IndicationFact] = {}
    for order in orders:
        if not _INDICATED_CLASSES.isdisjoint(order.classes) and order.reference not in out:
            try:
                out[order.reference] = indication_for(order, conditions, lookup)
            except Exception:  # hostile JSON never escapes the facts layer
                out[order.reference] = IndicationFact(Indication.UNKNOWN)
    return out
