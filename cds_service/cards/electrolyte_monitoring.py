"""No recent potassium or magnesium for a patient on, or being ordered, a muscle relaxant (S16, A5).

"Address any underlying electrolyte abnormalities" needs a result to address. Order hooks: a
muscle-relaxant draft in scope; patient-view: an active muscle relaxant (a condition alone does not
trigger a lab order suggestion). A result is missing when there is none, it has no date, or it is
older than `Thresholds.lab_recent_days`. Info card with one **create** suggestion per missing lab (a
draft ServiceRequest coded with LOINC). A lab the service could not retrieve (a data gap) is not
"missing": the data-unavailable card covers it, and no test is suggested for it.
"""

from __future__ import annotations

from cds_service.cards._electrolytes import active_relaxants, describe_result, relaxant_drafts
from cds_service.cards.base import NOT_APPLICABLE, Rule, make_card, suggestion
from cds_service.cards.text import main_name, quote
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, ORDER_HOOKS, Action, Card, Suggestion
from cds_service.facts.model import LabKind, LabResult, PatientFacts
from cds_service.facts.orders import SERUM_MAGNESIUM_LOINC, SERUM_POTASSIUM_LOINC, lab_order

_LABS = (
    (LabKind.POTASSIUM, "potassium", SERUM_POTASSIUM_LOINC),
    (LabKind.MAGNESIUM, "magnesium", SERUM_MAGNESIUM_LOINC),
)
_OVERRIDES = (NOT_APPLICABLE,)


def _result(facts: PatientFacts, kind: LabKind) -> LabResult | None:
    return facts.potassium if kind is LabKind.POTASSIUM else facts.magnesium


def _not_retrieved(facts: PatientFacts, name: str) -> bool:
    return any(g.prefetch_key == name or name in g.what.lower() for g in facts.gaps)


def _is_recent(result: LabResult | None, facts: PatientFacts, t: Thresholds) -> bool:
    if result is None:
        return False
    age = result.age_days(facts.now)
    return age is not None and age <= t.lab_recent_days


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    relaxants = relaxant_drafts(facts) if facts.hook in ORDER_HOOKS else active_relaxants(facts)
    if not relaxants:
        return []
    missing: list[tuple[str, tuple[str, str], LabResult | None]] = []
    for kind, name, loinc in _LABS:
        result = _result(facts, kind)
        if _is_recent(result, facts, t) or (result is None and _not_retrieved(facts, name)):
            continue
        missing.append((name, loinc, result))
    if not missing:
        return []
    names = " and ".join(name for name, _, _ in missing)
    drugs = ", ".join(sorted({main_name(m) for m in relaxants}))
    lines = [f"No {names} result in the last {t.lab_recent_days} days for this patient on {quote(drugs)}:"]
    for name, _, result in missing:
        if result is None:
            lines.append(f"- {name.capitalize()}: no result on file.")
        else:
            lines.append(f"- {name.capitalize()}: latest {describe_result(result, facts.now)}.")
    lines += ["", "Low potassium or magnesium causes cramps and weakness that no muscle relaxant treats."]
    suggestions: list[Suggestion] = []
    for name, (code, display), _ in missing:
        label = f"Order serum {name} (LOINC {code})"
        suggestions.append(
            suggestion(
                label,
                Action(type="create", description=label, resource=lab_order(facts.patient_id, code, display)),
                recommended=False,
            )
        )
    return [
        make_card(
            RULE,
            summary=f"Check {names} before treating spasm: none in {t.lab_recent_days} days",
            indicator="info",
            detail="\n".join(lines),
            suggestions=suggestions,
            overrides=_OVERRIDES,
            drugs=tuple(sorted({main_name(m) for m in relaxants})),
            basis=tuple((name, result.effective if result else None) for name, _, result in missing),
        )
    ]


_REASONING = "\n\n".join(
    (
        (
            "'Address any underlying electrolyte abnormalities' (S16, A5) needs a result to address. A result is "
            "missing when there is none, it has no date, or it is older than {lab_recent_days} days. A lab the "
            "service could not retrieve is not missing: the data-unavailable card names it and no test is "
            "suggested for it."
        ),
        (
            "The card offers one draft lab order per missing test (a ServiceRequest coded with LOINC); it is "
            "information and its suggestions are never preselected."
        ),
    )
)


RULE = Rule(
    topic="electrolyte-monitoring",
    title="Potassium and magnesium monitoring",
    statements=("S16", "A5"),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "A muscle-relaxant order (or a patient on one) with no potassium or magnesium result in the last "
        "{lab_recent_days} days: info with a one-click lab order (ServiceRequest, LOINC "
        f"{SERUM_POTASSIUM_LOINC[0]} / {SERUM_MAGNESIUM_LOINC[0]}) per missing test."
    ),
    overrides=_OVERRIDES,
    thresholds=("lab_recent_days",),
)
