"""CDS Hooks context + prefetch (raw FHIR JSON) → `PatientFacts`: the facts layer's entry points.

A hook call reads its draft orders once (`read_drafts`), before anything else: on an order hook
where no draft is a drug this service checks, the edge answers at once without reading the record.
Then `build_facts` indexes the record by resourceType and hands each part to its module
(`medications`, `labs`, `conditions`, `history`); only the resources the rules read are validated
with fhir.resources R4B. A malformed resource is reported as a `SkippedResource` and everything else
survives.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from cds_service.cdshooks import ORDER_HOOKS
from cds_service.facts import terminology
from cds_service.facts.conditions import current_conditions
from cds_service.facts.continuations import continuations
from cds_service.facts.dates import age_in_years, parse_datetime
from cds_service.facts.fhir_index import FhirIndex, bundle_entries, index_prefetch, reference_of, string_or_none
from cds_service.facts.fhir_json import UnusableResource, validate
from cds_service.facts.history import HISTORY_INGREDIENTS_ORAL, dose_history
from cds_service.facts.indications import ConditionLookup, indications
from cds_service.facts.labs import lab_candidates, latest_lab
from cds_service.facts.medications import HISTORY_HORIZON_DAYS, MedicationReader, ended_long_ago
from cds_service.facts.model import (
    DataGap,
    DoseHistory,
    DrugClass,
    LabKind,
    MedicationFact,
    PatientFacts,
    SkippedResource,
)
from cds_service.facts.renal import renal_function

_REQUEST_REF = re.compile(r"(?:^|/)MedicationRequest/([^/]+)(?:/_history/[^/]+)?$")


def entered_in_error(raw: Mapping[str, Any]) -> bool:
    """A resource recorded by mistake: ignored everywhere, not even listed."""
    status = raw.get("status")
    return isinstance(status, str) and status.strip().lower() == "entered-in-error"


@dataclass(frozen=True, slots=True)
class _Draft:
    where: str
    raw: dict[str, Any]
    fallback_reference: str
    selected: bool
    fact: MedicationFact | None  # None: unusable (reported in skipped)
    awaits_medication: bool  # its medicationReference points outside the request: rebuilt once fetched


@dataclass(frozen=True)
class DraftOrders:
    """The request's draft orders, read once per hook call and passed on."""

    hook: str
    entries: tuple[_Draft, ...] = ()
    medication_index: FhirIndex = field(default_factory=FhirIndex)  # Medications sent in draftOrders
    # Conditions sent beside the drafts (a reasonReference may point to them): (where, resource, fullUrl)
    conditions: tuple[tuple[str, dict[str, Any], Any], ...] = ()
    skipped: tuple[SkippedResource, ...] = ()
    unresolved_references: tuple[str, ...] = ()  # medicationReference targets to fetch

    @property
    def ids(self) -> frozenset[str]:
        return frozenset(rid for d in self.entries if (rid := string_or_none(d.raw.get("id"))))

    @property
    def need_patient_data(self) -> bool:
        """Whether the record must be read to answer this call.

        Order hooks speak about the orders in scope (the selected drafts, or all at signing). When
        none of them is a drug this service checks, there is nothing to say whatever the record
        holds, so the edge can answer at once, with no FHIR query and no "could not check" card.
        Anything that cannot be decided from the drafts alone (a Medication still to be fetched, a
        malformed draft) means yes.
        """
        if self.hook not in ORDER_HOOKS:
            return True
        if self.unresolved_references or self.skipped:
            return True
        return any(
            d.fact.ingredients or d.fact.classes or d.fact.name_conflict
            for d in self.entries
            if d.fact is not None and (self.hook == "order-sign" or d.selected)
        )


def _selected_ids(context: Mapping[str, Any]) -> set[str]:
    out: set[str] = set()
    selections = context.get("selections")
    for selection in selections if isinstance(selections, list) else []:
        if not isinstance(selection, str):
            continue
        match = _REQUEST_REF.search(selection.strip())
        if match:
            out.add(match.group(1))
        elif "/" not in selection:
            out.add(selection.strip())
    return out


def _external_reference(raw: Mapping[str, Any], index: FhirIndex) -> str | None:
    """The `medicationReference.reference` of an order when it is neither contained nor indexed,
    and worth fetching: a reference whose `display` names no drug of our tables (ibuprofen, an IV
    chemotherapy) cannot change a card, so it is not fetched (and its absence is no data gap)."""
    reference = raw.get("medicationReference")
    if not isinstance(reference, dict):
        return None
    target = reference.get("reference")
    if not isinstance(target, str) or not target or target.startswith("#"):
        return None
    display = reference.get("display")
    if isinstance(display, str) and display.strip() and not terminology.ingredients_in_text(display):
        return None
    return None if index.find_medication(target) is not None else target


def read_drafts(hook: str, context: Mapping[str, Any], now: datetime) -> DraftOrders:
    """The MedicationRequests of `context.draftOrders` as facts (their Medications resolved from
    the same Bundle or `contained`); empty for patient-view."""
    if hook not in ORDER_HOOKS or not isinstance(context.get("draftOrders"), dict):
        return DraftOrders(hook)
    index = FhirIndex()
    raw_drafts: list[tuple[str, dict[str, Any]]] = []
    conditions: list[tuple[str, dict[str, Any], Any]] = []
    for where, resource, full_url in bundle_entries(context["draftOrders"], "context.draftOrders", index):
        resource_type = resource.get("resourceType")
        if resource_type == "MedicationRequest" and not entered_in_error(resource):
            raw_drafts.append((where, resource))
        elif resource_type == "Medication":
            index.add_medication(resource, full_url)
        elif resource_type == "Condition":
            conditions.append((where, resource, full_url))
    now = parse_datetime(now) or now
    skipped: list[SkippedResource] = list(index.skipped)
    reader = MedicationReader(now, index, skipped)
    selected = _selected_ids(context) if hook == "order-select" else set()
    entries: list[_Draft] = []
    unresolved: list[str] = []
    for i, (where, raw) in enumerate(raw_drafts):
        fallback = f"draftOrders.entry[{i}]"
        is_selected = hook == "order-select" and string_or_none(raw.get("id")) in selected
        external = _external_reference(raw, index)
        if external is not None and external not in unresolved:
            unresolved.append(external)
        fact = reader.medication_fact(where, raw, is_draft=True, is_selected=is_selected, fallback_reference=fallback)
        entries.append(_Draft(where, raw, fallback, is_selected, fact, external is not None))
    return DraftOrders(
        hook,
        tuple(entries),
        medication_index=index,
        conditions=tuple(conditions),
        skipped=tuple(skipped),
        unresolved_references=tuple(unresolved),
    )


def unresolved_medication_references(prefetch: Mapping[str, Any | None], drafts: DraftOrders) -> list[str]:
    """`medicationReference.reference` values (as written) the edge must fetch: not contained, not a
    draftOrders entry and not in any prefetch Bundle. Reads only MedicationRequests and Medications."""
    index = FhirIndex()
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
    out = [r for r in drafts.unresolved_references if index.find_medication(r) is None]
    for request in requests:
        target = _external_reference(request, index)
        if target is not None and drafts.medication_index.find_medication(target) is None and target not in out:
            out.append(target)
    return out


def build_facts(
    hook: str,
    context: Mapping[str, Any],
    prefetch: Mapping[str, Any | None],
    now: datetime,
    *,
    drafts: DraftOrders | None = None,
    extra_resources: Sequence[Mapping[str, Any]] = (),
    gaps: Sequence[DataGap] = (),
) -> PatientFacts:
    """All facts the rules read, from the request's context and prefetch (see module doc).

    `drafts` is what `read_drafts` gave for this request; drafts whose Medication had to be
    fetched are the only ones read again.
    """
    now = parse_datetime(now) or now
    drafts = drafts if drafts is not None else read_drafts(hook, context, now)
    index = FhirIndex()
    index_prefetch(prefetch, index)
    index.add_medications_of(extra_resources)
    for key, medication in drafts.medication_index.medications.items():
        index.medications.setdefault(key, medication)
    skipped: list[SkippedResource] = [*drafts.skipped, *index.skipped]
    reader = MedicationReader(now, index, skipped)

    drafts_in_scope: list[MedicationFact] = []
    other_drafts: list[MedicationFact] = []
    for draft in drafts.entries:
        fact = draft.fact
        if draft.awaits_medication:
            fact = reader.medication_fact(
                draft.where, draft.raw, is_draft=True, is_selected=draft.selected,
                fallback_reference=draft.fallback_reference,
            )  # fmt: skip
        if fact is None:
            continue
        if hook == "order-sign" or draft.selected:
            drafts_in_scope.append(fact)
        else:
            other_drafts.append(fact)

    draft_ids = drafts.ids
    medications: list[MedicationFact] = []
    seen: set[str] = set()
    history_cutoff = (now - timedelta(days=HISTORY_HORIZON_DAYS)).date().isoformat()
    for where, raw in index.by_type.get("MedicationRequest", []):
        if entered_in_error(raw):
            continue
        rid = string_or_none(raw.get("id"))
        # A stored order with a draft's id is the version the draft changes (a dose change or a
        # stop): keep it so rules see the step. Only a copy of the draft itself is dropped.
        if rid and ((rid in draft_ids and raw.get("status") == "draft") or rid in seen):
            continue
        if rid:
            seen.add(rid)
        if ended_long_ago(raw, history_cutoff):
            continue
        fact = reader.medication_fact(where, raw, is_draft=False)
        if fact is not None:
            medications.append(fact)

    age, sex, birth_date = _demographics(index, now, skipped)
    histories: dict[str, DoseHistory] = {}
    relaxants = {
        i for m in medications for i in m.ingredients if DrugClass.MUSCLE_RELAXANT in terminology.classes_for((i,))
    }
    for ingredient in sorted(relaxants | set(HISTORY_INGREDIENTS_ORAL)):
        histories[ingredient] = dose_history(ingredient, medications)

    labs = lab_candidates(index)
    potassium, potassium_unreadable = latest_lab(LabKind.POTASSIUM, labs[LabKind.POTASSIUM], skipped, now)
    magnesium, magnesium_unreadable = latest_lab(LabKind.MAGNESIUM, labs[LabKind.MAGNESIUM], skipped, now)
    conditions = current_conditions(now, index, skipped)
    renal = renal_function(
        labs[LabKind.EGFR],
        labs[LabKind.CREATININE],
        conditions,
        birth_date=birth_date,
        sex=sex,
        now=now,
        skipped=skipped,
    )
    all_drafts = (*drafts_in_scope, *other_drafts)
    lookup = ConditionLookup(index, drafts.conditions)  # then the prefetch's, by fullUrl (FhirIndex)
    return PatientFacts(
        hook=hook,
        now=now,
        patient_id=string_or_none(context.get("patientId")),
        age_years=age,
        sex=sex,
        drafts_in_scope=tuple(drafts_in_scope),
        other_drafts=tuple(other_drafts),
        medications=tuple(medications),
        potassium=potassium,
        magnesium=magnesium,
        potassium_unreadable=potassium_unreadable,
        magnesium_unreadable=magnesium_unreadable,
        renal=renal,
        indications=indications((*all_drafts, *medications), conditions, lookup),
        continuations=continuations(all_drafts, medications, now),
        conditions=conditions,
        dose_histories=histories,
        skipped=tuple(skipped),
        gaps=tuple(gaps),
    )


def _demographics(
    index: FhirIndex, now: datetime, skipped: list[SkippedResource]
) -> tuple[int | None, str | None, Any]:
    """Age at `now`, sex (FHIR gender) and the birth date as sent."""
    patients = index.by_type.get("Patient", [])
    if not patients:
        return None, None, None
    where, raw = patients[0]
    try:
        patient = validate(raw)
    except UnusableResource as exc:
        skipped.append(SkippedResource(where, reference_of(raw), str(exc)[:200]))
        return None, None, None
    birth_date = patient.get("birthDate")
    return age_in_years(birth_date, now), string_or_none(patient.get("gender")), birth_date


__all__ = ["DraftOrders", "build_facts", "read_drafts", "unresolved_medication_references"]
