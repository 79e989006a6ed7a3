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
    SUMMARY_MAX,
    WILL_MONITOR,
    Rule,
    make_card,
    remove_draft_suggestion,
)
from cds_service.cards.scope import is_spasm_benzodiazepine, subject_medications
from cds_service.cards.text import join_and, main_name, quote
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ORDER_HOOKS, Card
from cds_service.facts.model import DrugClass, MedicationFact, OrderRelation, PatientFacts

# Issue 20: "these muscle relaxants" named nothing; the card names the drug ordered, and Beers' list.
_BEERS_SMR = (
    "Beers 2023: **avoid** {names} (anticholinergic effects, sedation, falls, fractures; doubtful benefit; strong)."
)
_BEERS_BENZODIAZEPINE = (
    "Beers 2023: **avoid** benzodiazepines (cognitive impairment, delirium, falls, fractures, crashes). Boxed "
    "warning: abuse, dependence, withdrawal, opioids."
)


_OVERRIDES = (BENEFIT_OUTWEIGHS_RISK, ALREADY_TOLERATING, WILL_MONITOR)


def _advice(medications: list[MedicationFact]) -> list[str]:
    """The Beers lines for the classes ordered, then the cyclobenzaprine label's own words."""
    lines = []
    if any(not m.in_class(DrugClass.BENZODIAZEPINE) for m in medications):
        relaxants = [main_name(m) for m in medications if not m.in_class(DrugClass.BENZODIAZEPINE)]
        lines.append(_BEERS_SMR.format(names=quote(join_and(list(dict.fromkeys(relaxants))), 30)))
    if any(m.in_class(DrugClass.BENZODIAZEPINE) for m in medications):
        lines.append(_BEERS_BENZODIAZEPINE)
    cyclobenzaprine = [m for m in medications if m.has("cyclobenzaprine")]
    label = []
    if any(not m.extended_release for m in cyclobenzaprine):
        label.append("if used, start with 5 mg, titrate slowly")
    if any(m.extended_release for m in cyclobenzaprine):
        label.append("extended-release form not recommended in the elderly")
    if label:
        lines.append(f"Cyclobenzaprine label: {'; '.join(label)}.")
    return lines


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
    if len(summary) > SUMMARY_MAX:
        summary = f"Avoid these {len(names)} drugs at age {facts.age_years} (Beers 2023): sedation, falls"
    lines = [
        f"Age **{facts.age_years}** (Beers 2023 from {t.elderly_age_years}); starting {quote(join_and(names), 70)}.",
        *_advice(medications),
    ]
    suggestions = [remove_draft_suggestion(m, "Beers 2023: avoid in older adults") for m in medications if m.is_draft]
    benzo = any(m.in_class(DrugClass.BENZODIAZEPINE) for m in medications)
    return [
        make_card(
            RULE,
            summary=summary,
            indicator="warning",
            detail="\n\n".join(lines),
            statements=("S22", "S8") if benzo else ("S22",),
            suggestions=suggestions,
            overrides=_OVERRIDES,
            about=medications,
            sources=("AGS Beers 2023",),
            label_of=tuple(main_name(m) for m in medications if not m.in_class(DrugClass.BENZODIAZEPINE)),
            drugs=names,
            basis=tuple(sorted((main_name(m), m.extended_release) for m in medications)),
        )
    ]


_REASONING = "\n\n".join(
    (
        (
            "AGS Beers Criteria 2023 (strong recommendation): avoid the skeletal muscle relaxants carisoprodol, "
            "chlorzoxazone, cyclobenzaprine, metaxalone, methocarbamol and orphenadrine in adults "
            "{elderly_age_years} or older. Most are poorly tolerated (anticholinergic adverse effects, sedation, "
            "increased risk of falls and fractures) and their effectiveness at doses older adults tolerate is "
            "questionable. Avoid benzodiazepines: older adults are more sensitive and metabolize them more "
            "slowly; they raise the risk of cognitive impairment, delirium, falls, fractures and motor-vehicle "
            "crashes. The benzodiazepine class boxed warning adds abuse, misuse and addiction, dependence and "
            "withdrawal, and profound sedation, respiratory depression, coma and death with opioids."
        ),
        (
            "The cyclobenzaprine label: in the elderly start with 5 mg and titrate slowly; the extended-release "
            "form is not recommended in the elderly."
        ),
        (
            "What fires: on order hooks, an order that starts or restarts one of these drugs (a benzodiazepine "
            "only when ordered for spasm; others are the EHR's general Beers screening); one card lists them all,"
            " with removal offered for each draft. Renewals, stops and chart openings are quiet, and an unknown "
            "age gives no card. Baclofen (judged by eGFR: renal-dosing) and tizanidine are not Beers 'avoid' "
            "drugs."
        ),
        ("Sources: AGS Beers Criteria 2023; FDA cyclobenzaprine label; benzodiazepine class labeling (2020)."),
    )
)


RULE = Rule(
    topic="elderly-caution",
    title="Beers 2023 'avoid' drug started in an older adult",
    statements=("S22", "S8"),
    hooks=ORDER_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "Warns at age {elderly_age_years} or older when an order starts one of the six antispasmodic muscle "
        "relaxants Beers 2023 says to avoid (carisoprodol, chlorzoxazone, cyclobenzaprine, metaxalone, "
        "methocarbamol, orphenadrine) or a benzodiazepine for spasm; offers removing the draft. Baclofen "
        "(by eGFR) and tizanidine are not Beers 'avoid' drugs and get no card here."
    ),
    overrides=_OVERRIDES,
    thresholds=("elderly_age_years",),
)
