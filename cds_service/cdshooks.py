"""Typed models of the CDS Hooks 2.0 wire format (requests, responses, cards, feedback).

Requests are validated strictly where the spec is strict (hook, hookInstance, context fields)
and tolerantly where real clients deviate (unknown fields, Epic's `extension` object, the
sandbox's Bundle without `type`). Responses never carry null or empty values: the spec forbids
them, so serialize with `exclude_none=True`.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HookName = Literal["order-select", "order-sign", "patient-view"]
ALL_HOOKS: frozenset[str] = frozenset(get_args(HookName))
ORDER_HOOKS: frozenset[str] = frozenset({"order-select", "order-sign"})
Indicator = Literal["info", "warning", "critical"]

CARD_SUMMARY_MAX = 140


class _RandomPool(threading.local):
    """Random bytes from the OS drawn 4 KiB at a time: `os.urandom` releases the interpreter lock on
    every call, and a thread that lets go of it waits for it behind the others (the audit sender's).
    One pool per thread (no two ids from the same bytes), drawn again in a forked child."""

    def __init__(self) -> None:
        self.pid = -1
        self.data = b""
        self.offset = 0

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.data) or self.pid != os.getpid():
            self.pid, self.data, self.offset = os.getpid(), os.urandom(4096), 0
        start = self.offset
        self.offset = start + size
        return self.data[start : start + size]


_POOL = _RandomPool()


def random_bytes(size: int = 16) -> bytes:
    """`size` (≤ 4096) bytes of the OS's CSPRNG, each handed out once."""
    return _POOL.take(size)


def new_uuid() -> str:
    """A random (version 4) UUID as text, as `str(uuid.uuid4())` gives it, without the UUID object: every
    card and suggestion of every call takes one (issue 22's profile: `uuid4` about 5 % of samples)."""
    raw = bytearray(random_bytes(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


class _Tolerant(BaseModel):
    """Accept and ignore fields we do not model (extensions, vendor additions)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


# --------------------------------------------------------------------------- request side


class FhirAuthorization(_Tolerant):
    access_token: str = Field(min_length=1)
    token_type: Literal["Bearer", "bearer"]
    expires_in: int = Field(ge=0)
    scope: str
    subject: str
    patient: str | None = None

    def __repr__(self) -> str:  # never let the token reach a log through repr()
        return f"FhirAuthorization(token_type={self.token_type!r}, expires_in={self.expires_in})"

    __str__ = __repr__


class FhirBundle(_Tolerant):
    """A Bundle as clients send it: `type` is optional (the sandbox omits it)."""

    resourceType: Literal["Bundle"]
    type: str | None = None
    entry: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("entry", mode="before")
    @classmethod
    def _entries_are_objects(cls, value: Any) -> Any:
        if value is None:
            return []
        return value


class PatientViewContext(_Tolerant):
    userId: str = Field(min_length=1)
    patientId: str = Field(min_length=1)
    encounterId: str | None = None


class OrderSignContext(PatientViewContext):
    draftOrders: FhirBundle


class OrderSelectContext(OrderSignContext):
    selections: list[str] = Field(min_length=1)


CONTEXT_MODELS: dict[str, type[PatientViewContext]] = {
    "patient-view": PatientViewContext,
    "order-select": OrderSelectContext,
    "order-sign": OrderSignContext,
}


class HookRequest(_Tolerant):
    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1)
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None
    extension: dict[str, Any] | None = None

    @field_validator("fhirServer")
    @classmethod
    def _base_url_only(cls, value: str | None) -> str | None:
        # A query or fragment would be cut off by the allowlist's comparison but kept by the requests
        # (issue 21: `…/ok#` sent every search to the base with the token): one URL, or none.
        if value is not None and ("?" in value or "#" in value):
            raise ValueError("must be a FHIR base URL without a query (?) or fragment (#)")
        return value

    @model_validator(mode="after")
    def _authorization_needs_server(self) -> HookRequest:
        # Spec invariant cds-r-1: fhirAuthorization present implies fhirServer present.
        if self.fhirAuthorization is not None and not self.fhirServer:
            raise ValueError("fhirServer is required when fhirAuthorization is present")
        return self

    def __repr__(self) -> str:  # keep patient data and tokens out of accidental logs
        return f"HookRequest(hook={self.hook!r}, hookInstance={self.hookInstance!r})"

    __str__ = __repr__


# --------------------------------------------------------------------------- response side


class Coding(_Strict):
    system: str | None = None
    code: str
    display: str | None = None


class Source(_Strict):
    label: str
    url: str | None = None
    icon: str | None = None
    topic: Coding | None = None


class Action(_Strict):
    type: Literal["create", "update", "delete"]
    description: str
    resource: dict[str, Any] | None = None
    resourceId: list[str] | None = None  # 2.0: delete takes a list of "Type/id"

    @model_validator(mode="after")
    def _fits_type(self) -> Action:
        if self.type in ("create", "update") and self.resource is None:
            raise ValueError(f"a {self.type} action needs a resource")
        if self.type == "delete" and not self.resourceId:
            raise ValueError("a delete action needs resourceId")
        return self


class Suggestion(_Strict):
    label: str
    uuid: str = Field(default_factory=new_uuid)
    isRecommended: bool | None = None
    actions: list[Action] = Field(min_length=1)


class Link(_Strict):
    label: str
    url: str
    type: Literal["absolute", "smart"]
    appContext: str | None = None


class OverrideReason(Coding):
    pass


class Card(_Strict):
    uuid: str = Field(default_factory=new_uuid)
    summary: str = Field(min_length=1, max_length=CARD_SUMMARY_MAX)
    detail: str | None = None
    indicator: Indicator
    source: Source
    suggestions: list[Suggestion] | None = None
    selectionBehavior: Literal["at-most-one", "any"] | None = None
    overrideReasons: list[OverrideReason] | None = None
    links: list[Link] | None = None

    @model_validator(mode="after")
    def _selection_behavior_with_suggestions(self) -> Card:
        if self.suggestions and self.selectionBehavior is None:
            raise ValueError("selectionBehavior is required when suggestions are present")
        return self

    @property
    def topic_code(self) -> str | None:
        return self.source.topic.code if self.source.topic else None


class HookResponse(_Strict):
    cards: list[Card] = Field(default_factory=list)
    systemActions: list[Action] | None = None


class ServiceDefinition(_Strict):
    hook: str
    id: str
    title: str
    description: str
    prefetch: dict[str, str] | None = None
    usageRequirements: str | None = None
    extension: dict[str, Any] | None = None


class DiscoveryResponse(_Strict):
    services: list[ServiceDefinition]


# --------------------------------------------------------------------------- feedback


class AcceptedSuggestion(_Tolerant):
    id: str = Field(min_length=1)


class FeedbackOverrideReason(_Tolerant):
    """Why a clinician dismissed a card: a Coding the card offered, free text, or both (cds-fb-3).

    Epic sends its own reasons as an `extension` object (`…overrideReason.reasonCategory`,
    `…reasonDisplay`, `…reasonTitle`) in place of `reason`; the sandbox sends `reason` without
    `display`.
    """

    reason: Coding | None = None
    userComment: str | None = None
    extension: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _holds_something(self) -> FeedbackOverrideReason:
        if self.reason is None and not self.userComment and not self.extension:
            raise ValueError("overrideReason must hold reason, userComment or both")
        return self


class FeedbackItem(_Tolerant):
    card: str = Field(min_length=1)
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[AcceptedSuggestion] | None = None
    overrideReason: FeedbackOverrideReason | None = None
    # Epic sends the plural key, holding one object (its examples) or, defensively, a list;
    # accept either and normalize to the first reason.
    overrideReasons: FeedbackOverrideReason | list[FeedbackOverrideReason] | None = None
    outcomeTimestamp: str = Field(min_length=1)

    @model_validator(mode="after")
    def _accepted_needs_suggestions(self) -> FeedbackItem:
        if self.outcome == "accepted" and not self.acceptedSuggestions:
            raise ValueError("an accepted outcome must list acceptedSuggestions")
        if self.overrideReason is None and self.overrideReasons:
            plural = self.overrideReasons
            self.overrideReason = plural[0] if isinstance(plural, list) else plural
        return self


class FeedbackRequest(_Tolerant):
    feedback: list[FeedbackItem] = Field(min_length=1)
