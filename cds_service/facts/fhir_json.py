"""Validation of the few raw FHIR resources the rules read, tolerant of known EHR deviations.

Whole bundles are never validated: the builder indexes raw JSON first and calls `validate` only on
resources that matter. Known real-world deviations are normalized before validating rather than
dropping the resource:

- a list element sent as a single object (`category`, `extension`, `identifier`, ... — the CDS
  Hooks sandbox and Epic send `category` as an object);
- Dosage `doseQuantity`/`doseRange`/`rateQuantity` at the Dosage root (STU3 shape, sent by Epic)
  moved into `doseAndRate`;
- unknown or invalid fields that the rules never read are dropped.

An error inside a field the rules read makes the resource unusable: the caller reports it as a
`SkippedResource` with a reason that names the field, never the value (no patient data).
"""

from __future__ import annotations

import copy
import re
from collections import OrderedDict
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import orjson
from pydantic import ValidationError

# Top-level fields each resource type is read for; errors elsewhere are dropped, not fatal.
READ_FIELDS: dict[str, frozenset[str]] = {
    "MedicationRequest": frozenset(
        {
            "resourceType",
            "id",
            "status",
            "intent",
            "medicationCodeableConcept",
            "medicationReference",
            "authoredOn",
            "dosageInstruction",
            "dispenseRequest",
            "contained",
            "reasonCode",
            "reasonReference",
        }
    ),
    "Medication": frozenset({"resourceType", "id", "code", "form", "ingredient", "amount"}),
    "Observation": frozenset(
        {
            "resourceType",
            "id",
            "status",
            "code",
            "effectiveDateTime",
            "effectivePeriod",
            "effectiveInstant",
            "issued",
            "valueQuantity",
            "interpretation",
        }
    ),
    "Condition": frozenset(
        {
            "resourceType",
            "id",
            "code",
            "clinicalStatus",
            "verificationStatus",
            "onsetDateTime",
            "onsetPeriod",
            "recordedDate",
        }
    ),
    "Patient": frozenset({"resourceType", "id", "birthDate", "gender"}),
}

# Values that stand in, for validation only, for required elements an EHR left out (the sandbox's
# first order-select has neither `intent` nor a medication). They never reach the facts.
_PLACEHOLDERS: dict[str, Any] = {
    "status": "unknown",
    "intent": "order",
    "subject": {"reference": "Patient/unknown"},
    "code": {"text": "unknown"},
    "medicationCodeableConcept": {"text": "unknown"},
}
_CHOICE_MISSING = re.compile(r"Expect any of field value from this list \['(\w+)'")

_DOSAGE_ROOT_FIELDS = ("doseQuantity", "doseRange", "rateQuantity", "rateRange", "rateRatio")


class UnusableResource(Exception):
    """The resource cannot be used; `str(exc)` is a reason safe to show (no patient data)."""


@cache
def _model(resource_type: str) -> Callable[[Any], Any]:
    if resource_type == "MedicationRequest":
        from fhir.resources.R4B.medicationrequest import MedicationRequest

        return MedicationRequest.model_validate
    if resource_type == "Medication":
        from fhir.resources.R4B.medication import Medication

        return Medication.model_validate
    if resource_type == "Observation":
        from fhir.resources.R4B.observation import Observation

        return Observation.model_validate
    if resource_type == "Condition":
        from fhir.resources.R4B.condition import Condition

        return Condition.model_validate
    if resource_type == "Patient":
        from fhir.resources.R4B.patient import Patient

        return Patient.model_validate
    raise KeyError(resource_type)


def _normalize_dosages(resource: dict[str, Any]) -> None:
    dosages = resource.get("dosageInstruction")
    if not isinstance(dosages, list):
        return
    fixed: list[Any] = []
    for dosage in dosages:
        if isinstance(dosage, Mapping) and isinstance(dosage.get("doseAndRate"), Mapping):
            # a single object where R4 has a list (the CDS Hooks library's own order-select example)
            dosage = {**dosage, "doseAndRate": [dosage["doseAndRate"]]}
        if isinstance(dosage, Mapping) and any(k in dosage for k in _DOSAGE_ROOT_FIELDS):
            dosage = dict(dosage)
            moved = {k: dosage.pop(k) for k in _DOSAGE_ROOT_FIELDS if k in dosage}
            dose_and_rate = list(dosage.get("doseAndRate") or [])
            dose_and_rate.append(moved)
            dosage["doseAndRate"] = dose_and_rate
        fixed.append(dosage)
    resource["dosageInstruction"] = fixed


def _describe(error: Mapping[str, Any]) -> str:
    loc = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in error.get("loc", ()))
    return f"{loc.replace('.[', '[')}: {error.get('msg', 'invalid')}"


def normalize(resource: Mapping[str, Any]) -> dict[str, Any]:
    """A shallow copy with the known deviations fixed (the input is never modified)."""
    out = dict(resource)
    if out.get("resourceType") == "MedicationRequest":
        _normalize_dosages(out)
    for field in ("contained",):
        if isinstance(out.get(field), Mapping):
            out[field] = [out[field]]
    return out


# Validation is a pure function of the fields read, and order-select fires again and again for the
# same patient while an order is edited: remember recent outcomes, keyed by those fields' bytes.
# Bounded, in-process only; the values are what the request itself carried.
_MEMO_SIZE = 8192
_memo: OrderedDict[bytes, dict[str, Any] | UnusableResource] = OrderedDict()
MEMO_COUNTS = {"hits": 0, "misses": 0}  # counts only, for the edge's metrics (facts/memo_stats.py)


def validate(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The resource, normalized and validated with fhir.resources R4B; raises UnusableResource.

    The returned dict is shared with later calls for identical input: read it, never change it.
    """
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or resource_type not in READ_FIELDS:
        raise UnusableResource(f"unexpected resourceType {resource_type!r}"[:80])
    read = READ_FIELDS[resource_type]
    # Validate only what the rules read (plus the subject, required by R4B): real EHR resources
    # carry narrative, identifiers and extensions that cost validation time and are never used.
    candidate = {k: v for k, v in normalize(resource).items() if k in read or k == "subject"}
    try:
        key = orjson.dumps(candidate, option=orjson.OPT_SORT_KEYS)
    except (TypeError, orjson.JSONEncodeError):
        return _validate(resource_type, read, candidate)
    known = _memo.get(key)
    if known is not None:
        MEMO_COUNTS["hits"] += 1
        _memo.move_to_end(key)
        if isinstance(known, UnusableResource):
            raise UnusableResource(str(known))
        return known
    MEMO_COUNTS["misses"] += 1
    try:
        outcome: dict[str, Any] | UnusableResource = _validate(resource_type, read, candidate)
    except UnusableResource as exc:
        outcome = UnusableResource(str(exc))  # without its traceback: it is kept
    _memo[key] = outcome
    while len(_memo) > _MEMO_SIZE:
        _memo.popitem(last=False)
    if isinstance(outcome, UnusableResource):
        raise UnusableResource(str(outcome))
    return outcome


def _validate(resource_type: str, read: frozenset[str], candidate: dict[str, Any]) -> dict[str, Any]:
    placeholders: list[str] = []
    for _attempt in range(8):
        try:
            _model(resource_type)(candidate)
            for name in placeholders:
                candidate.pop(name, None)
            return candidate
        except ValidationError as exc:
            errors = exc.errors(include_input=False, include_url=False)
        except (TypeError, ValueError) as exc:  # fhir.resources may raise these for odd input
            raise UnusableResource(f"not a valid {resource_type}: {type(exc).__name__}") from None
        changed = False
        for error in errors:
            loc = error.get("loc") or ()
            top = loc[0] if loc else None
            missing = _missing_field(error)
            if missing and missing not in candidate and missing in _PLACEHOLDERS:
                candidate[missing] = _PLACEHOLDERS[missing]
                placeholders.append(missing)
                changed = True
                continue
            if not isinstance(top, str) or top not in candidate:
                continue
            value = candidate[top]
            if error.get("type") == "list_type" and len(loc) == 1 and isinstance(value, Mapping):
                candidate[top] = [value]  # single object where FHIR has a list
                changed = True
            elif top not in read:
                candidate.pop(top)  # a field the rules never read: drop it
                changed = True
        if not changed:
            relevant = [e for e in errors if (e.get("loc") or ("",))[0] in read] or errors
            raise UnusableResource("; ".join(_describe(e) for e in relevant[:2]))
    raise UnusableResource(f"{resource_type} could not be validated")


def _missing_field(error: Mapping[str, Any]) -> str | None:
    """The name of a required top-level element that is absent, if that is what `error` says."""
    loc = error.get("loc") or ()
    kind = str(error.get("type", ""))
    if kind.endswith("missing") and len(loc) == 1 and isinstance(loc[0], str):
        return loc[0]
    if not loc:
        match = _CHOICE_MISSING.search(str(error.get("msg", "")))
        if match:
            return match.group(1)
    return None


def validate_salvaging(resource: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Like `validate`, for a resource that must not vanish (an order for a drug the rules read): each
    element that fails validation is removed and named in the returned problems (paths such as
    `dosageInstruction[0].doseAndRate[0].doseQuantity.value`, never values). Raises UnusableResource
    only when nothing can be salvaged."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or resource_type not in READ_FIELDS:
        raise UnusableResource(f"unexpected resourceType {resource_type!r}"[:80])
    read = READ_FIELDS[resource_type]
    candidate = copy.deepcopy({k: v for k, v in normalize(resource).items() if k in read or k == "subject"})
    problems: list[str] = []
    placeholders: list[str] = []
    for _attempt in range(32):
        try:
            _model(resource_type)(candidate)
        except ValidationError as exc:
            errors = exc.errors(include_input=False, include_url=False)
        except (TypeError, ValueError, RecursionError):
            raise UnusableResource(f"not a valid {resource_type}") from None
        else:
            for name in placeholders:
                candidate.pop(name, None)
            return candidate, tuple(dict.fromkeys(problems))
        changed = False
        removals: dict[tuple[int, Any], tuple[Any, Any]] = {}
        for error in errors:
            missing = _missing_field(error)
            if missing and missing not in candidate and missing in _PLACEHOLDERS:
                candidate[missing] = _PLACEHOLDERS[missing]
                placeholders.append(missing)
                changed = True
                continue
            loc = tuple(error.get("loc") or ())
            if not loc or not isinstance(loc[0], str) or loc[0] not in candidate:
                continue
            if loc[0] not in read:
                removals[(id(candidate), loc[0])] = (candidate, loc[0])
                continue
            found = _locate(candidate, loc)
            if found is not None:
                path, parent, key = found
                problems.append(path)
                removals[(id(parent), key)] = (parent, key)
        # Dictionary keys first, then list items from the highest index down (no index shifts).
        ordered = sorted(
            removals.values(), key=lambda pk: (isinstance(pk[0], list), -pk[1] if isinstance(pk[1], int) else 0)
        )
        for parent, key in ordered:
            in_list = isinstance(parent, list) and isinstance(key, int) and key < len(parent)
            if in_list or (isinstance(parent, dict) and key in parent):
                parent.pop(key)
                changed = True
        if not changed:
            raise UnusableResource(f"{resource_type} could not be validated")
    raise UnusableResource(f"{resource_type} could not be validated")


def _locate(candidate: dict[str, Any], loc: tuple[Any, ...]) -> tuple[str, Any, Any] | None:
    """The deepest element of `loc` present in `candidate`: (path of names and indexes only, parent, key)."""
    container: Any = candidate
    trail: list[tuple[Any, Any]] = []
    for part in loc:
        in_dict = isinstance(container, dict) and isinstance(part, str) and part in container
        in_list = isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)
        if not (in_dict or in_list):
            break
        trail.append((container, part))
        container = container[part]
    if not trail:
        return None
    path = ""
    for _, part in trail:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    parent, key = trail[-1]
    return path, parent, key
