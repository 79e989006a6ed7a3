"""Muscle relaxants and benzodiazepines in older adults (guideline S22, S8; AGS Beers 2023).

The source says "elderly patients generally require lower doses"; Beers 2023 says more and the card
says what Beers says: **avoid** the six antispasmodic muscle relaxants (carisoprodol, chlorzoxazone,
cyclobenzaprine, metaxalone, methocarbamol, orphenadrine) and benzodiazepines. Baclofen and
tizanidine are outside that Beers entry: for them the card asks for a lower start and slow
titration, and for baclofen a renal-function check (Beers: avoid below an eGFR of
`Thresholds.beers_baclofen_min_egfr`; the service has no eGFR fact, so it cannot say whether that
applies). Older: from `Thresholds.elderly_age_years`. One warning card lists every drug in scope
with the advice for each; suggestions remove drafts of the Beers "avoid" drugs. Order hooks: drafts
in scope. Patient-view: active medications. Age unknown: no card (no guess). Intrathecal baclofen is
left out: pump doses are set by the pump team, not "started low".
"""

from __future__ import annotations

from cds_service.cards.base import (
    ALREADY_TOLERATING,
    BENEFIT_OUTWEIGHS_RISK,
    WILL_MONITOR,
    Rule,
    make_card,
    remove_draft_suggestion,
)
from cds_service.cards.scope import is_muscle_relaxant, is_order_hook, subject_medications
from cds_service.cards.text import describe_order, fmt_number, main_name
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, Card
from cds_service.facts.model import DrugClass, MedicationFact, PatientFacts, Route

_BEERS_SMR = (
    "Beers 2023: **avoid** (poorly tolerated: anticholinergic effects, sedation, falls and fractures; "
    "effectiveness at tolerated doses is questionable; strong recommendation)."
)
_BEERS_BENZODIAZEPINE = (
    "Beers 2023: **avoid** (cognitive impairment, delirium, falls, fractures, motor-vehicle crashes; "
    "strong recommendation). Boxed warning: abuse, dependence and withdrawal; never with opioids "
    "without need."
)


_OVERRIDES = (BENEFIT_OUTWEIGHS_RISK, ALREADY_TOLERATING, WILL_MONITOR)


def beers_avoid(medication: MedicationFact) -> bool:
    return medication.in_class(DrugClass.ANTISPASMODIC_BEERS) or medication.in_class(DrugClass.BENZODIAZEPINE)


def _advice(medication: MedicationFact, t: Thresholds) -> str:
    if medication.in_class(DrugClass.BENZODIAZEPINE):
        return _BEERS_BENZODIAZEPINE
    if medication.has("cyclobenzaprine"):
        return (
            _BEERS_SMR + " If still used: immediate-release, start with 5 mg and titrate slowly (label); "
            "the extended-release form (Amrix) is not recommended in the elderly."
        )
    if medication.in_class(DrugClass.ANTISPASMODIC_BEERS):
        return _BEERS_SMR
    if medication.has("baclofen"):
        return (
            'Not in the Beers muscle-relaxant "avoid" entry, but baclofen is cleared by the kidney: '
            f"**check renal function** (Beers 2023: avoid at eGFR < {fmt_number(t.beers_baclofen_min_egfr)}; if "
            "unavoidable, lowest effective dose and watch for encephalopathy). Start lower than usual and "
            "titrate slowly; older patients rarely tolerate high doses."
        )
    if medication.has("tizanidine"):
        return (
            'Not in the Beers muscle-relaxant "avoid" entry. Start at the lowest dose and titrate slowly; '
            "watch for hypotension, sedation and falls."
        )
    return "Start at a lower dose and titrate slowly; watch for sedation, dizziness, weakness and falls."


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    if facts.age_years is None or facts.age_years < t.elderly_age_years:
        return []
    medications = [
        m
        for m in subject_medications(facts)
        if (is_muscle_relaxant(m) or m.in_class(DrugClass.BENZODIAZEPINE) or m.has("baclofen"))
        and m.route != Route.INTRATHECAL  # pump refills are dosed by the pump team, not started low
    ]
    if not medications:
        return []
    names: list[str] = []
    for m in medications:
        if main_name(m) not in names:
            names.append(main_name(m))
    avoid = [m for m in medications if beers_avoid(m)]
    avoid_names = [n for n in names if any(main_name(m) == n for m in avoid)]
    if avoid:
        summary = f"Age {facts.age_years}: Beers 2023 says avoid {', '.join(avoid_names)} — sedation and fall risk"
        if len(avoid_names) < len(names):
            summary += f"; start {', '.join(n for n in names if n not in avoid_names)} low"
    else:
        summary = f"Age {facts.age_years}: {', '.join(names)} — start low, titrate slowly; sedation and fall risk"

    lines = [f"The patient is **{facts.age_years} years old** (Beers 2023 applies from {t.elderly_age_years})."]
    for m in medications:
        lines.append(f"- {describe_order(m)}: {_advice(m, t)}")
    lines.append(
        "\nOlder adults have more sedation, dizziness, weakness and falls with these drugs; use the "
        "lowest effective dose for the shortest time, and prefer non-drug measures (physical therapy, "
        "heat) where they suffice."
    )
    suggestions = (
        [remove_draft_suggestion(m, "Beers 2023: avoid in adults 65 and older") for m in avoid if m.is_draft]
        if is_order_hook(facts)
        else []
    )
    return [
        make_card(
            RULE,
            summary=summary,
            indicator="warning",
            detail="\n".join(lines),
            statements=("S22", "S8") if any(m.in_class(DrugClass.BENZODIAZEPINE) for m in medications) else ("S22",),
            suggestions=suggestions,
            overrides=_OVERRIDES,
        )
    ]


RULE = Rule(
    topic="elderly-caution",
    title="Muscle relaxant or benzodiazepine in an older adult",
    statements=("S22", "S8"),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    description=(
        "Warns at age {elderly_age_years} or older when a muscle relaxant or benzodiazepine is ordered (or "
        "active, patient-view): Beers 2023 'avoid' for the six antispasmodic muscle relaxants and "
        "benzodiazepines; a lower start for baclofen (with a renal-function check, Beers: avoid at eGFR < "
        "{beers_baclofen_min_egfr}) and tizanidine."
    ),
    overrides=_OVERRIDES,
    thresholds=("elderly_age_years", "beers_baclofen_min_egfr"),
)
