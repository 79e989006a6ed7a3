"""Typed patient facts for rule tests: exact numbers at every threshold edge, no FHIR parsing.

One vocabulary for every rule test. Drug classes come from the real terminology tables (the ones
the facts layer assigns), so a rule test cannot pass on a class the service would never give.
`NOW` is fixed so that dates read like a chart ("3 days ago") and never drift. `med` builds any
MedicationRequest: a draft being placed now (`draft=True`), an existing order (active unless a
`status` is given), or a stop (`draft=True, status="stopped"`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from cds_service.cards.thresholds import DEFAULT_THRESHOLDS
from cds_service.cdshooks import Card
from cds_service.facts import terminology
from cds_service.facts.model import (
    ConditionCategory,
    ConditionFact,
    Continuation,
    DailyDose,
    DoseHistory,
    DrugClass,
    Indication,
    IndicationFact,
    LabKind,
    LabResult,
    MatchMethod,
    MedicationFact,
    OrderRelation,
    PatientFacts,
    RenalFunction,
    Route,
    SupplyDuration,
    UnreadableLab,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
T = DEFAULT_THRESHOLDS


TABLET_TID_SIG: dict[str, Any] = {
    "timing": {"repeat": {"frequency": 3, "period": 1, "periodUnit": "d"}},
    "doseAndRate": [
        {"doseQuantity": {"value": 1, "unit": "tablet", "system": "http://unitsofmeasure.org", "code": "{tablet}"}}
    ],
}


def ago(days: float = 0, hours: float = 0) -> datetime:
    return NOW - timedelta(days=days, hours=hours)


def med(
    ingredient: str = "baclofen",
    mg_per_day: float | None = 30.0,
    *,
    draft: bool = False,
    status: str | None = None,
    ref: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    supply_days: float | None = None,
    supply_explanation: str = "",
    display: str | None = None,
    explanation: str | None = None,
    unknown_reason: str | None = None,
    units_per_day: float | None = None,
    route: Route = Route.ORAL,
    classes: frozenset[DrugClass] | None = None,
    match: MatchMethod = MatchMethod.CODE,
    raw: dict[str, Any] | None = None,
    strength_mg: float | None = None,
    extended_release: bool = False,
    problems: tuple[str, ...] = (),
) -> MedicationFact:
    """One MedicationRequest for `ingredient` with `mg_per_day` (None: a dose that cannot be computed).

    A draft's status is "draft" unless given (a stop); an existing order is "active" unless given.
    An existing order without `start` has no date at all (some EHR orders do not).
    """
    reference = ref or (f"MedicationRequest/draft-{ingredient}" if draft else f"MedicationRequest/{ingredient}-1")
    rid = reference.split("/", 1)[1]
    shown = display or f"{ingredient} 10 MG Oral Tablet"
    order_status = status or ("draft" if draft else "active")
    if mg_per_day is None:
        dose = DailyDose(None, unknown_reason=unknown_reason or "no dose quantity")
    else:
        dose = DailyDose(
            mg_per_day,
            explanation=explanation or f"{mg_per_day:g} mg per day",
            units_per_day=units_per_day,
            unit="mg",
        )
    if raw is None:
        raw = {
            "resourceType": "MedicationRequest",
            "id": rid,
            "status": order_status,
            "intent": "order",
            "medicationCodeableConcept": {"text": shown},
            "subject": {"reference": "Patient/pat1"},
            "dispenseRequest": {"numberOfRepeatsAllowed": 2},
        }
        if mg_per_day is not None:  # the sig a prescriber types: 1 tablet three times a day
            raw["dosageInstruction"] = [TABLET_TID_SIG]
    supply_text = supply_explanation or (f"{supply_days:g} days expected supply" if supply_days else "")
    return MedicationFact(
        reference=reference,
        resource_id=rid,
        ingredients=(ingredient,),
        classes=terminology.classes_for((ingredient,)) if classes is None else classes,
        match=match,
        display=shown,
        route=route,
        status=order_status,
        intent="order",
        authored_on=NOW if draft and start is None else start,
        validity_end=end,
        daily_dose=dose,
        supply=SupplyDuration(
            supply_days, method="expectedSupplyDuration" if supply_days else "", explanation=supply_text
        ),
        is_draft=draft,
        is_selected=draft,
        raw=raw,
        strength_mg=strength_mg,
        extended_release=extended_release,
        problems=problems,
    )


def indicated(indication: Indication, *orders: MedicationFact, source: str = "reasonCode") -> dict[str, IndicationFact]:
    """`indications=` for `facts`: every order treats `indication`."""
    return {m.reference: IndicationFact(indication, source=source, display=indication.value) for m in orders}


def continues(
    draft: MedicationFact,
    relation: OrderRelation,
    *previous: MedicationFact,
    previous_mg: float | None = None,
    ended: datetime | None = None,
) -> dict[str, Continuation]:
    """`continuations=` for `facts`: the draft continues (or restarts) `previous` at `previous_mg`."""
    if previous_mg is None and previous:
        doses = [m.daily_dose.mg_per_day for m in previous]
        previous_mg = None if any(d is None for d in doses) else sum(d or 0.0 for d in doses)
    return {
        draft.reference: Continuation(
            relation=relation, previous=previous, previous_mg_per_day=previous_mg, previous_ended=ended
        )
    }


def egfr(
    value: float | None,
    *,
    method: str = "eGFR result (LOINC 98979-8)",
    stage: int | None = None,
    dialysis: bool = False,
) -> RenalFunction:
    return RenalFunction(egfr=value, method=method, measured_at=ago(5), ckd_stage=stage, on_dialysis=dialysis)


def unreadable(
    kind: LabKind,
    raw_value: str = "see note",
    *,
    unit: str = "mmol/L",
    days_ago: float = 1,
    flag: str | None = None,
    problem: str = "value is text",
) -> UnreadableLab:
    return UnreadableLab(
        kind=kind, effective=ago(days_ago), raw_value=raw_value, raw_unit=unit, problem=problem, interpretation=flag
    )


def history(mg_per_day: float, since: datetime, previous: float | None = None) -> dict[str, DoseHistory]:
    """The baclofen dose history: `mg_per_day` since `since` (after `previous`)."""
    return {
        "baclofen": DoseHistory(
            ingredient="baclofen",
            current_mg_per_day=mg_per_day,
            current_since=since,
            previous_mg_per_day=previous,
            last_change_at=since,
        )
    }


def lab(
    kind: LabKind,
    value: float,
    unit: str,
    *,
    mmol: float | None = None,
    days_ago: float = 2,
    status: str = "final",
    comparator: str | None = None,
    interpretation: str | None = None,
) -> LabResult:
    normalized = mmol if mmol is not None else value
    return LabResult(
        kind=kind,
        value_mmol_l=normalized,
        value=value,
        unit=unit,
        effective=ago(days_ago),
        loinc="2823-3" if kind is LabKind.POTASSIUM else "19123-9",
        status=status,
        comparator=comparator,
        preliminary=status == "preliminary",
        interpretation=interpretation,
    )


def potassium(value: float, unit: str = "mmol/L", **kw: Any) -> LabResult:
    return lab(LabKind.POTASSIUM, value, unit, **kw)


def magnesium(value: float, unit: str = "mmol/L", **kw: Any) -> LabResult:
    if "mmol" not in kw:
        factor = {"mmol/L": 1.0, "mg/dL": 0.4114, "mEq/L": 0.5}[unit]
        kw["mmol"] = value * factor
    return lab(LabKind.MAGNESIUM, value, unit, **kw)


def cond(
    category: ConditionCategory,
    code: str = "X00",
    display: str = "Condition",
    *,
    system: str = ICD10,
    clinical_status: str = "active",
    verification_status: str = "confirmed",
    onset: datetime | None = None,
) -> ConditionFact:
    return ConditionFact(
        categories=frozenset({category}),
        code=code,
        system=system,
        display=display,
        clinical_status=clinical_status,
        verification_status=verification_status,
        onset=onset,
    )


def facts(
    hook: str = "order-sign",
    *,
    drafts: Iterable[MedicationFact] = (),
    other_drafts: Iterable[MedicationFact] = (),
    meds: Iterable[MedicationFact] = (),
    conditions: Iterable[ConditionFact] = (),
    age: int | None = 50,
    **more: Any,
) -> PatientFacts:
    """The facts of one hook call; on patient-view there are no drafts."""
    return PatientFacts(
        hook=hook,
        now=NOW,
        patient_id="pat1",
        age_years=age,
        drafts_in_scope=tuple(drafts) if hook != "patient-view" else (),
        other_drafts=tuple(other_drafts),
        medications=tuple(meds),
        conditions=tuple(conditions),
        **more,
    )


def only(cards: list[Card]) -> Card:
    assert len(cards) == 1, [c.summary for c in cards]
    return cards[0]


def actions(card: Card) -> list[Any]:
    return [a for s in card.suggestions or [] for a in s.actions]


def dose_of(resource: dict[str, Any]) -> tuple[float, int]:
    """(mg per dose, doses per day) of a suggested MedicationRequest: a dose in tablets counts the
    strength of the product the resource orders (what any client gives the patient)."""
    dosage = resource["dosageInstruction"][0]
    quantity = dosage["doseAndRate"][0]["doseQuantity"]
    per_dose = quantity["value"]
    if quantity.get("code") != "mg":
        code = resource["medicationCodeableConcept"]["coding"][0]["code"]
        found = terminology.product(code)
        assert found is not None and found.ingredients[0].strength_mg, code
        per_dose = per_dose * found.ingredients[0].strength_mg
    from cds_service.facts.timing import frequency_from_timing

    frequency, _ = frequency_from_timing(dosage["timing"], usual=True)
    assert frequency is not None, dosage["timing"]
    return per_dose, round(frequency.per_day)


# --------------------------------------------------------------------------- card length limits (issue 12)

# Every card a test builds, as (where, topic, summary length, detail length): "built" for what a rule
# hands to make_card (the summary before any cut), "response" for what the engine returns (after
# folding "Also:" lines). Filled by `watch_card_limits`; the conftests of tests/cards and tests/e2e
# report its distribution at the end of the run.
CARD_LENGTHS: list[tuple[str, str, int, int]] = []
_REPORTED = False


def watch_card_limits(monkeypatch: Any) -> list[str]:
    """Route every make_card call and every engine evaluation through the length limits.

    Returns the list the violations are appended to; the fixture asserts it is empty afterwards.
    """
    import sys

    from cds_service import engine
    from cds_service.cards import base
    from cds_service.cards.base import DETAIL_MAX, SUMMARY_MAX
    from cds_service.cards.suggestions import MEDICATION_ONLY, SUGGESTION_STYLES
    from cds_service.protocol import hooks
    from tests.support.suggestions import check_applied

    violations: list[str] = []
    original_make_card = base.make_card

    def make_card(rule: Any, **kwargs: Any) -> Any:
        card = original_make_card(rule, **kwargs)
        for suggestion in card.suggestions or ():  # issue 20: every button reaches its dose, however applied
            violations.extend(check_applied(rule.topic, suggestion, tuple(kwargs.get("about", ()))))
        summary, detail = kwargs["summary"], card.detail or ""
        CARD_LENGTHS.append(("built", rule.topic, len(summary), len(detail)))
        if len(summary) > SUMMARY_MAX or len(detail) > DETAIL_MAX:
            violations.append(f"{rule.topic}: summary {len(summary)}, detail {len(detail)}: {summary!r}")
        return card

    for name, module in list(sys.modules.items()):
        if name.startswith("cds_service.cards") and getattr(module, "make_card", None) is original_make_card:
            monkeypatch.setattr(module, "make_card", make_card)

    original_evaluate = engine.evaluate

    def evaluate(*args: Any, **kwargs: Any) -> Any:
        result = original_evaluate(*args, **kwargs)
        asked = kwargs.get("suggestions", MEDICATION_ONLY)
        given = args[0] if args else kwargs["facts"]
        orders = tuple(given.drafts_in_scope + given.other_drafts)
        # issue 20: the answer for each kind of client, each button applied as that client does
        for style in SUGGESTION_STYLES:
            answer = result if style == asked else original_evaluate(*args, **{**kwargs, "suggestions": style})
            for card in answer.cards:
                for suggestion in card.suggestions or ():
                    violations.extend(check_applied(card.topic_code or "", suggestion, orders, style))
                detail = card.detail or ""
                CARD_LENGTHS.append(("response", card.topic_code or "", len(card.summary), len(detail)))
                if len(card.summary) > SUMMARY_MAX or len(detail) > DETAIL_MAX:
                    violations.append(
                        f"response {card.topic_code} ({style}): summary {len(card.summary)}, detail {len(detail)}"
                    )
        return result

    monkeypatch.setattr(engine, "evaluate", evaluate)
    monkeypatch.setattr(hooks, "evaluate", evaluate)
    return violations


def card_length_report() -> list[str]:
    """Lines for the terminal summary: count, max and median of summary and detail lengths (once)."""
    import statistics

    global _REPORTED
    if _REPORTED:
        return []
    _REPORTED = True
    lines = []
    for where in ("built", "response"):
        rows = [r for r in CARD_LENGTHS if r[0] == where]
        if not rows:
            continue
        summaries = [r[2] for r in rows]
        details = [r[3] for r in rows]
        lines.append(
            f"cards {where}: {len(rows)} (topics {len({r[1] for r in rows})}); summary max {max(summaries)}, "
            f"median {statistics.median(summaries):g}; detail max {max(details)}, median {statistics.median(details):g}"
        )
    return lines
