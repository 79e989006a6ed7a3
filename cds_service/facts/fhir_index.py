"""Raw FHIR JSON indexed by resource type, and the small readers every facts module shares.

Nothing is validated here: a patient's record holds thousands of resources, and only the few the
rules read are ever validated (`fhir_json.validate`). A Bundle entry that is not a resource is
recorded as a `SkippedResource`, never fatal.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cds_service.facts.model import SkippedResource

_MEDICATION_REF = re.compile(r"(Medication/[^/]+)(?:/_history/[^/]+)?$")

Coding = tuple[str | None, str]  # (system, code)


@dataclass
class FhirIndex:
    """Raw resources by type, every Medication by each key a reference may use, and each Bundle
    Condition by its fullUrl (an order's reasonReference may use it)."""

    by_type: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    medications: dict[str, dict[str, Any]] = field(default_factory=dict)
    condition_urls: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    skipped: list[SkippedResource] = field(default_factory=list)

    def add(self, where: str, resource: dict[str, Any], full_url: Any = None) -> None:
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str):
            self.skipped.append(SkippedResource(where, None, "entry without resourceType"))
            return
        self.by_type.setdefault(resource_type, []).append((where, resource))
        if resource_type == "Medication":
            self.add_medication(resource, full_url)
        elif resource_type == "Condition" and isinstance(full_url, str) and full_url:
            self.condition_urls.setdefault(full_url, (where, resource))

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

    def add_medications_of(self, extra_resources: Any) -> None:
        """Medications fetched by the edge (a Medication, or a Bundle of them)."""
        for i, extra in enumerate(extra_resources):
            if isinstance(extra, dict) and extra.get("resourceType") == "Medication":
                self.add_medication(dict(extra), None)
            elif isinstance(extra, dict) and extra.get("resourceType") == "Bundle":
                for _, resource, full_url in bundle_entries(extra, f"extra[{i}]", self):
                    if resource.get("resourceType") == "Medication":
                        self.add_medication(resource, full_url)


def bundle_entries(
    bundle: Mapping[str, Any], where: str, index: FhirIndex
) -> Iterator[tuple[str, dict[str, Any], Any]]:
    """(location, resource, fullUrl) of each usable entry; search outcomes are not patient data."""
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


def index_prefetch(prefetch: Mapping[str, Any | None], index: FhirIndex) -> None:
    for key, value in prefetch.items():
        if value is None:
            continue
        where = f"prefetch.{key}"
        if not isinstance(value, dict):
            index.skipped.append(SkippedResource(where, None, "prefetch value is not a FHIR resource"))
            continue
        if value.get("resourceType") == "Bundle":
            for here, resource, full_url in bundle_entries(value, where, index):
                index.add(here, resource, full_url)
        else:
            index.add(where, dict(value))


def reference_of(resource: Mapping[str, Any]) -> str | None:
    """`Type/id` of a resource, or None without a usable id."""
    rid = resource.get("id")
    rtype = resource.get("resourceType")
    return f"{rtype}/{rid}" if isinstance(rid, str) and rid and isinstance(rtype, str) else None


def concept_parts(concept: Any) -> tuple[list[Coding], list[str]]:
    """The (system, code) pairs and the texts (text first, then codings' displays) of a CodeableConcept."""
    codings: list[Coding] = []
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


def string_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def status_code(concept: Any) -> str | None:
    """The first code of a status CodeableConcept (clinicalStatus...), else its text in lower case."""
    codings, texts = concept_parts(concept)
    if codings:
        return codings[0][1]
    return texts[0].lower() if texts else None
