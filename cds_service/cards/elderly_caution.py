"""Beers 2023 "avoid" drugs started in older adults (guideline S22, S8; AGS Beers 2023).

The source says "elderly patients generally require lower doses"; Beers 2023 says more and the card
says what Beers says: **avoid** the six antispasmodic muscle relaxants (carisoprodol, chlorzoxazone,
cyclobenzaprine, metaxalone, methocarbamol, orphenadrine) and benzodiazepines (here: a benzodiazepine
ordered for spasm; other benzodiazepines are the EHR's general Beers screening). Only the drugs Beers
lists: baclofen is judged by eGFR in renal-dosing, and baclofen and tizanidine get one "start low"
line in their dose card. Older: from `Thresholds.elderly_age_years`. Order hooks only, and only when
an order starts or restarts the drug (not on every renewal or chart opening); one warning card lists
every such order, with a removal suggestion for each draft. Age unknown: no card (no guess).
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
from cds_service.cards.scope import is_spasm_benzodiazepine, subject_medications
from cds_service.cards.text import describe_order, main_name
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ORDER_HOOKS, Card
from cds_service.facts.model import DrugClass, MedicationFact, OrderRelation, PatientFacts

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


def _advice(medication: MedicationFact) -> str:
    if medication.in_class(DrugClass.BENZODIAZEPINE):
        return _BEERS_BENZODIAZEPINE
    if medication.has("cyclobenzaprine"):
        if medication.extended_release:
            return _BEERS_SMR + " The extended-release form is not recommended in the elderly (label)."
        return _BEERS_SMR + " If still used: start with 5 mg and titrate slowly (label)."
    return _BEERS_SMR


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    if facts.age_years is None or facts.age_years < t.elderly_age_years:
        return []
    medications = [
        m
        for m in subject_medications(facts)
        if (m.in_class(DrugClass.ANTISPASMODIC_BEERS) or is_spasm_benzodiazepine(facts, m))
        and facts.continuation_of(m).relation in (OrderRelation.START, OrderRelation.RESTART)
    ]
    if not medications:
        return []
    names = list(dict.fromkeys(main_name(m) for m in medications))
    summary = f"Avoid {', '.join(names)} at age {facts.age_years} (Beers 2023): sedation, falls"
    lines = [f"The patient is **{facts.age_years}** (Beers 2023 applies from {t.elderly_age_years})."]
    lines += [f"- {describe_order(m)}: {_advice(m)}" for m in medications]
    suggestions = [remove_draft_suggestion(m, "Beers 2023: avoid in older adults") for m in medications if m.is_draft]
    benzo = any(m.in_class(DrugClass.BENZODIAZEPINE) for m in medications)
    return [
        make_card(
            RULE,
            summary=summary,
            indicator="warning",
            detail="\n".join(lines),
            statements=("S22", "S8") if benzo else ("S22",),
            suggestions=suggestions,
            overrides=_OVERRIDES,
            about=medications,
            sources=("AGS Beers 2023",),
            label_of=tuple(main_name(m) for m in medications if not m.in_class(DrugClass.BENZODIAZEPINE)),
        )
    ]


RULE = Rule(
    topic="elderly-caution",
    title="Beers 2023 'avoid' drug started in an older adult",
    statements=("S22", "S8"),
    hooks=ORDER_HOOKS,
    evaluate=evaluate,
    description=(
        "Warns at age {elderly_age_years} or older when an order starts one of the six antispasmodic muscle "
        "relaxants Beers 2023 says to avoid (carisoprodol, chlorzoxazone, cyclobenzaprine, metaxalone, "
        "methocarbamol, orphenadrine) or a benzodiazepine for spasm; offers removing the draft. Baclofen "
        "(by eGFR) and tizanidine are not Beers 'avoid' drugs and get no card here."
    ),
    overrides=_OVERRIDES,
    thresholds=("elderly_age_years",),
)
