"""No recent potassium or magnesium when there is a reason to expect a deficit (S16, A5).

What it checks. A muscle-relaxant order (a draft in scope, on order hooks only) for a patient with
a reason to expect low potassium or magnesium, and no recent result of the lab that reason
concerns. The reasons: a loop or thiazide diuretic taken with the relaxant (potassium and
magnesium), a proton-pump inhibitor taken for `Thresholds.ppi_long_term_days` or longer (magnesium:
the PPI labels' hypomagnesaemia), cirrhosis, alcohol use disorder, and cramps (the relaxant's
indication, or muscle cramps on the problem list: potassium and magnesium). A result is missing
when there is none, it has no date, or it is older than `Thresholds.lab_recent_days`.

Why. "Address any underlying electrolyte abnormalities" needs a result to address, but asking for
labs on every relaxant order is noise (issue 12): a healthy adult's muscle relaxant gets no card,
and a chart opening none either (the moment to order a lab is when the relaxant is ordered).

What it says. One info card naming the reason(s), with one **create** suggestion per missing lab (a
draft ServiceRequest coded with LOINC), never preselected. A lab the service could not retrieve (a
data gap) is not "missing": the data-unavailable card covers it, and no test is suggested for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cds_service.cards._electrolytes import describe_result, drug_names, relaxant_drafts
from cds_service.cards.base import NOT_APPLICABLE, SUMMARY_MAX, Rule, make_card, suggestion
from cds_service.cards.scope import combination_pool, group_by_drug
from cds_service.cards.text import fmt_date, join_and, main_name, quote
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ORDER_HOOKS, Action, Card, Suggestion
from cds_service.facts.model import (
    ConditionCategory,
    DrugClass,
    Indication,
    LabKind,
    LabResult,
    MedicationFact,
    PatientFacts,
)
from cds_service.facts.orders import SERUM_MAGNESIUM_LOINC, SERUM_POTASSIUM_LOINC, lab_order

_LABS = (
    (LabKind.POTASSIUM, "potassium", SERUM_POTASSIUM_LOINC),
    (LabKind.MAGNESIUM, "magnesium", SERUM_MAGNESIUM_LOINC),
)
_BOTH = frozenset({LabKind.POTASSIUM, LabKind.MAGNESIUM})
_OVERRIDES = (NOT_APPLICABLE,)
# Statuses of an order that was (or is being) taken, for how long a PPI has been taken.
_TAKEN = frozenset({"active", "on-hold", "completed", "stopped"})
_CRAMP_INDICATIONS = frozenset({Indication.CRAMPS, Indication.CRAMPS_WITH_LIVER_DISEASE})


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a deficit is expected: what the card says, the short words of the summary, the labs it concerns."""

    detail: str  # escaped markdown: "furosemide (loop diuretic)"
    short: str  # plain words for the summary: "loop diuretic"
    labs: frozenset[LabKind]
    key: str  # for the fingerprint: "loop-diuretic:furosemide"


def _result(facts: PatientFacts, kind: LabKind) -> LabResult | None:
    return facts.potassium if kind is LabKind.POTASSIUM else facts.magnesium


def _not_retrieved(facts: PatientFacts, name: str) -> bool:
    return any(g.prefetch_key == name or name in g.what.lower() for g in facts.gaps)


def _is_recent(result: LabResult | None, facts: PatientFacts, t: Thresholds) -> bool:
    if result is None:
        return False
    age = result.age_days(facts.now)
    return age is not None and age <= t.lab_recent_days


def _drugs_of(pool: tuple[MedicationFact, ...], drug_class: DrugClass) -> list[str]:
    return [main_name(group[0]) for group in group_by_drug(m for m in pool if m.in_class(drug_class))]


def _long_term_ppi(facts: PatientFacts, pool: tuple[MedicationFact, ...], t: Thresholds) -> list[Reason]:
    """A PPI taken now whose first order on record started `ppi_long_term_days` ago or more."""
    reasons = []
    for name in _drugs_of(pool, DrugClass.PROTON_PUMP_INHIBITOR):
        starts = [
            m.start
            for m in facts.medications
            if m.has(name) and (m.status or "").lower() in _TAKEN and m.start is not None and m.start <= facts.now
        ]
        if starts and facts.now - min(starts) >= timedelta(days=t.ppi_long_term_days):
            reasons.append(
                Reason(
                    f"{quote(name, 30)} since {fmt_date(min(starts))} (long-term proton-pump inhibitor)",
                    "long-term PPI",
                    frozenset({LabKind.MAGNESIUM}),
                    f"ppi:{name}",
                )
            )
    return reasons


def deficit_reasons(facts: PatientFacts, relaxants: tuple[MedicationFact, ...], t: Thresholds) -> list[Reason]:
    """Every reason on record to expect low potassium or magnesium, in the order a card names them."""
    pool = combination_pool(facts)
    reasons = [
        Reason(f"{quote(name, 30)} ({words})", words, _BOTH, f"{drug_class}:{name}")
        for drug_class, words in (
            (DrugClass.LOOP_DIURETIC, "loop diuretic"),
            (DrugClass.THIAZIDE_DIURETIC, "thiazide diuretic"),
        )
        for name in _drugs_of(pool, drug_class)
    ]
    reasons += _long_term_ppi(facts, pool, t)
    for category, words in (
        (ConditionCategory.CIRRHOSIS, "cirrhosis"),
        (ConditionCategory.ALCOHOL_USE_DISORDER, "alcohol use disorder"),
    ):
        found = facts.conditions_in(category)
        if found:
            reasons.append(Reason(f"{quote(found[0].display, 40)} on record", words, _BOTH, str(category)))
    if any(facts.indication_of(m).indication in _CRAMP_INDICATIONS for m in relaxants):
        reasons.append(Reason("cramps, what the relaxant treats", "cramps", _BOTH, "cramps"))
    elif cramps := facts.conditions_in(ConditionCategory.MUSCLE_CRAMPS):
        reasons.append(Reason(f"{quote(cramps[0].display, 40)} on record", "cramps", _BOTH, "cramps"))
    return reasons


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    relaxants = relaxant_drafts(facts) if facts.hook in ORDER_HOOKS else ()
    if not relaxants:
        return []
    reasons = deficit_reasons(facts, relaxants, t)
    expected = frozenset().union(*(r.labs for r in reasons)) if reasons else frozenset()
    missing: list[tuple[LabKind, str, tuple[str, str], LabResult | None]] = []
    for kind, name, loinc in _LABS:
        if kind not in expected:
            continue
        result = _result(facts, kind)
        if _is_recent(result, facts, t) or (result is None and _not_retrieved(facts, name)):
            continue
        missing.append((kind, name, loinc, result))
    if not missing:
        return []
    names = " and ".join(name for _, name, _, _ in missing)
    why = [r for r in reasons if r.labs & {kind for kind, _, _, _ in missing}]
    shorts = list(dict.fromkeys(r.short for r in why))
    summary = f"Check {names} before treating spasm: {join_and(shorts)}, none in {t.lab_recent_days} days"
    if len(summary) > SUMMARY_MAX:
        summary = f"Check {names} before treating spasm: {shorts[0]} and more, none in {t.lab_recent_days} days"
    lines = [f"No {names} result in the last {t.lab_recent_days} days:"]
    for _, name, _, result in missing:
        if result is None:
            lines.append(f"- {name.capitalize()}: no result on file.")
        else:
            lines.append(f"- {name.capitalize()}: latest {describe_result(result, facts.now)}.")
    lines += [
        "",
        f"A deficit is to be expected: {'; '.join(r.detail for r in why[:4])}. Low potassium or magnesium "
        "causes cramps and weakness that no muscle relaxant treats.",
    ]
    suggestions: list[Suggestion] = []
    for _, name, (code, display), _ in missing:
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
            summary=summary,
            indicator="info",
            detail="\n".join(lines),
            suggestions=suggestions,
            overrides=_OVERRIDES,
            about=relaxants,  # the relaxant orders it asks labs before
            drugs=drug_names(relaxants),
            basis=(
                tuple((name, result.effective if result else None) for _, name, _, result in missing),
                tuple(sorted(r.key for r in why)),
            ),
        )
    ]


_REASONING = "\n\n".join(
    (
        (
            "'Address any underlying electrolyte abnormalities' (S16, A5) needs a result to address, but a "
            "lab request on every muscle-relaxant order is noise: the card appears only when there is a reason "
            "to expect a deficit. Loop and thiazide diuretics waste potassium and magnesium. Proton-pump "
            "inhibitors taken for {ppi_long_term_days} days or more can cause hypomagnesaemia (FDA drug safety "
            "communication, 2011, and the PPI labels: most cases after a year; magnesium only). Cirrhosis (and "
            "its diuretics) and alcohol use disorder commonly bring low potassium and magnesium. Cramps, as what "
            "the relaxant treats or on the problem list, are what low potassium or magnesium cause."
        ),
        (
            "A result is missing when there is none, it has no date, or it is older than {lab_recent_days} days; "
            "only the labs a reason concerns are asked for. A lab the service could not retrieve is not missing: "
            "the data-unavailable card names it and no test is suggested for it. The card offers one draft lab "
            "order per missing test (a ServiceRequest coded with LOINC); it is information and its suggestions "
            "are never preselected."
        ),
        "Sources: FDA drug safety communication on proton-pump inhibitors and low magnesium (2011); EASL 2018 "
        "decompensated cirrhosis guideline; StatPearls, Hypokalemia (NBK482465) and Hypomagnesemia (NBK500003).",
    )
)


RULE = Rule(
    topic="electrolyte-monitoring",
    title="Potassium and magnesium monitoring",
    statements=("S16", "A5"),
    hooks=ORDER_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "A muscle-relaxant order with a reason to expect a deficit (a loop or thiazide "
        "diuretic, a proton-pump inhibitor for {ppi_long_term_days} days or more, cirrhosis, alcohol use "
        "disorder, cramps) and no result of that lab in the last {lab_recent_days} days: info naming the reason, "
        "with a one-click lab order (ServiceRequest, LOINC "
        f"{SERUM_POTASSIUM_LOINC[0]} / {SERUM_MAGNESIUM_LOINC[0]}) per missing test, never preselected."
    ),
    overrides=_OVERRIDES,
    thresholds=("lab_recent_days", "ppi_long_term_days"),
)
