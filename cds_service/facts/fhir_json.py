"""Validation of the few raw FHIR resources the rules read, tolerant of known EHR deviations.

Whole bundles are never validated: the builder indexes raw JSON first and calls `validate` only on
resources that matter, and `validate` checks only the elements the rules read, each with the
validator fhir.resources R4B declares for that element, plus the resource-level checks its models
make (no null inside a list of complex elements, one choice of `[x]` at most, required primitives
not null). Each element's outcome is remembered by its content (no ids): the same product and
dosage recur across patients. Known real-world deviations are normalized before validating rather
than dropping the resource:

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
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson
from fhir_core.utils import is_list_type, is_primitive_type
from pydantic import TypeAdapter, ValidationError

from cds_service.facts.memo import BoundedMemo

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
def _model_class(resource_type: str) -> Any:
    if resource_type == "MedicationRequest":
        from fhir.resources.R4B.medicationrequest import MedicationRequest

        return MedicationRequest
    if resource_type == "Medication":
        from fhir.resources.R4B.medication import Medication

        return Medication
    if resource_type == "Observation":
        from fhir.resources.R4B.observation import Observation

        return Observation
    if resource_type == "Condition":
        from fhir.resources.R4B.condition import Condition

        return Condition
    if resource_type == "Patient":
        from fhir.resources.R4B.patient import Patient

        return Patient
    raise KeyError(resource_type)


def _model(resource_type: str) -> Callable[[Any], Any]:
    """Whole-resource validation (the salvaging path, which needs every error at once)."""
    return _model_class(resource_type).model_validate  # type: ignore[no-any-return]


@dataclass(frozen=True)
class _Shape:
    """What fhir.resources checks for the read elements of one resource type, taken from its model."""

    adapters: dict[str, TypeAdapter[Any]]  # each read element's own validator, from the model's field
    complex_lists: frozenset[str]  # lists of complex elements: a null item is an error
    choices: tuple[tuple[str, ...], ...]  # `[x]` groups among the read elements: one at most
    required_choices: frozenset[tuple[str, ...]]  # groups the model requires: all null is an error
    required: frozenset[str]  # required primitives: present as null is an error (absent is tolerated)


@cache
def _shape(resource_type: str) -> _Shape:
    model = _model_class(resource_type)
    fields = {(info.alias or name): info for name, info in model.model_fields.items()}
    read = READ_FIELDS[resource_type] - {"resourceType"}
    blank = model.model_construct()
    groups = [tuple(group) for group in blank.get_one_of_many_fields().values()]
    return _Shape(
        adapters={name: TypeAdapter(fields[name].annotation) for name in sorted(read)},
        complex_lists=frozenset(
            name for name in read if is_list_type(fields[name]) and not is_primitive_type(fields[name])
        ),
        choices=tuple(group for group in groups if any(name in read for name in group)),
        required_choices=frozenset(
            group
            for group in groups
            if any(name in read for name in group)
            and (fields[group[0]].json_schema_extra or {}).get("one_of_many_required") is True
        ),
        required=frozenset(name for name, _ext in blank.get_required_fields() if name in read),
    )


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


# Each element's validation is a pure function of its content, and the same products, dosages and
# codes recur across patients (and order-select fires again and again while an order is edited):
# remember recent outcomes, keyed by the element's name and bytes. Bounded, in-process only; the
# values are what the requests themselves carried.
_WRAPPED = "wrapped"  # the element was a single object where FHIR has a list; valid once wrapped
_VALID = "valid"
MEMO: BoundedMemo[str] = BoundedMemo(8192)  # _VALID, _WRAPPED, or the error text


def validate(resource: Mapping[str, Any]) -> dict[str, Any]:
    """The read elements of the resource, normalized and validated with fhir.resources R4B; raises
    UnusableResource naming the element (never its value).

    Real EHR resources carry narrative, identifiers and extensions that the rules never read: they
    are neither validated nor returned. The returned dict is new, its values shared with the input.
    """
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or resource_type not in READ_FIELDS:
        raise UnusableResource(f"unexpected resourceType {resource_type!r}"[:80])
    read = READ_FIELDS[resource_type]
    candidate = {k: v for k, v in normalize(resource).items() if k in read}
    shape = _shape(resource_type)
    problems: list[str] = []
    for group in shape.choices:
        present = [name for name in group if candidate.get(name) is not None]
        if len(present) > 1:
            problems.append(f"{' and '.join(present)}: one of them at most (a choice of type, FHIR [x])")
        elif not present and group in shape.required_choices and any(name in candidate for name in group):
            problems.append(f"{' or '.join(group)}: a value is required (sent as null)")
    for name, value in list(candidate.items()):
        if name == "resourceType":
            continue
        if value is None:
            if name in shape.required:
                problems.append(f"{name}: Value for the field '{name}' is required.")
            continue
        if name in shape.complex_lists and isinstance(value, list) and any(item is None for item in value):
            problems.append(f"{name}: None is not allowed as an element of {name}")
            continue
        outcome = _element_outcome(resource_type, name, value, shape.adapters[name])
        if outcome == _WRAPPED:
            candidate[name] = [value]
        elif outcome is not None:
            problems.append(outcome)
    if problems:
        raise UnusableResource("; ".join(problems[:2]))
    return candidate


def _element_outcome(resource_type: str, name: str, value: Any, adapter: TypeAdapter[Any]) -> str | None:
    """None when `value` is a valid `name` of `resource_type`, _WRAPPED when it is once put in a list,
    else the first error (path and message, no value)."""
    key: Hashable | None
    if not isinstance(value, dict | list):
        if name == "id" or not isinstance(value, str | int | float | bool):
            # an id recurs in no other patient; a Python object (a test's) is not JSON
            return _validate_element(resource_type, name, value, adapter)
        # a code or a date: the same few recur across patients, and fhir.resources' date-time check
        # costs ~8 us (measured: 85 us of a cold call's authoredOn). The type is part of the key:
        # True == 1 == 1.0 in Python, not in FHIR.
        key = (resource_type, name, type(value), value)
    else:
        try:
            key = orjson.dumps([resource_type, name, value], option=orjson.OPT_SORT_KEYS)
        except (TypeError, orjson.JSONEncodeError):
            key = None  # not JSON (a test's Python object): validated without the memo
    known = MEMO.get(key) if key is not None else None
    if known is not None:
        return None if known == _VALID else known
    outcome = _validate_element(resource_type, name, value, adapter)
    if key is not None:
        MEMO.put(key, _VALID if outcome is None else outcome)
    return outcome


def _validate_element(resource_type: str, name: str, value: Any, adapter: TypeAdapter[Any]) -> str | None:
    try:
        adapter.validate_python(value)
        return None
    except ValidationError as exc:
        errors = exc.errors(include_input=False, include_url=False)
    except (TypeError, ValueError, RecursionError) as exc:  # fhir.resources may raise these for odd input
        return f"{name}: not a valid {resource_type} element ({type(exc).__name__})"
    first = errors[0]
    if first.get("type") == "list_type" and not first.get("loc") and isinstance(value, Mapping):
        # a single object where FHIR has a list (the sandbox and Epic send `category` this way)
        wrapped = _validate_element(resource_type, name, [value], adapter)
        return _WRAPPED if wrapped is None else wrapped
    return "; ".join(_describe({**e, "loc": (name, *(e.get("loc") or ()))}) for e in errors[:2])


def _missing_field(error: Mapping[str, Any]) -> str | None:
    """The name of a required top-level element that is absent, if that is what `error` says."""
    loc: tuple[Any, ...] = tuple(error.get("loc") or ())
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
