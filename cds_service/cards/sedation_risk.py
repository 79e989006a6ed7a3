"""Two or more CNS depressants together (guideline S18, S8; benzodiazepine boxed warning; Beers 2023).

Counts drugs, not orders (a renewal is not a combination), from muscle relaxants, benzodiazepines,
opioids, gabapentinoids, Z-drugs and other CNS depressants. Scope: only combinations that include a
drug this service is about (a muscle relaxant, or a benzodiazepine ordered for spasm); oxycodone +
gabapentin is the EHR's general interaction screening. Order hooks: fires when a CNS-active draft in
scope is part of such a combination. A chart opening speaks only for the Beers count (three or more
CNS-active drugs at 65 or older), which needs action now (deprescribing); a pair of depressants the
patient already takes is judged when an order continues it (issue 12).

Indicator: **info** for two or more CNS depressants (monitor sedation, dizziness, weakness: S18).
**Warning** at 65 and older when the patient would take three or more CNS-active drugs (Beers 2023
counts antidepressants, antipsychotics and antiepileptics too), and when the patient already takes a
benzodiazepine and an opioid (a renewal; boxed warning). **Critical** when an order in scope *starts*
a benzodiazepine + opioid combination: the class boxed warning reports profound sedation,
respiratory depression, coma and death; starting it is the moment to stop.
"""

from __future__ import annotations

from cds_service.cards.base import (
    ALREADY_TOLERATING,
    BENEFIT_OUTWEIGHS_RISK,
    SPECIALIST_DIRECTED,
    WILL_MONITOR,
    Rule,
    make_card,
    remove_draft_suggestion,
)
from cds_service.cards.scope import (
    combination_pool,
    group_by_drug,
    is_cns_active,
    is_cns_depressant,
    is_order_hook,
    is_service_drug,
)
from cds_service.cards.text import fit_names, main_name, quote, together
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, Card, Indicator
from cds_service.facts.model import DrugClass, MedicationFact, PatientFacts

_CRITICAL_OVERRIDES = (BENEFIT_OUTWEIGHS_RISK, SPECIALIST_DIRECTED, WILL_MONITOR)
_WARNING_OVERRIDES = (ALREADY_TOLERATING, WILL_MONITOR, BENEFIT_OUTWEIGHS_RISK)


def _is_new(group: list[MedicationFact]) -> bool:
    """A drug the patient does not take yet: every order of it is a draft."""
    return all(m.is_draft for m in group)


def _in_class(group: list[MedicationFact], drug_class: DrugClass) -> bool:
    return any(m.in_class(drug_class) for m in group)


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    taken = combination_pool(facts)
    pool = [m for m in taken if is_cns_depressant(m)]
    active = [m for m in taken if is_cns_active(m) or is_cns_depressant(m)]
    if not any(is_service_drug(facts, m) for m in active):
        return []  # no relaxant (or benzodiazepine for spasm): the EHR's general interaction screening
    cns_active = group_by_drug(active)
    beers = (
        facts.age_years is not None
        and facts.age_years >= t.elderly_age_years
        and len(cns_active) >= t.beers_cns_active_avoid_count
    )
    drugs = group_by_drug(pool)
    if is_order_hook(facts):
        drafts_in_scope = [
            m for m in facts.drafts_in_scope if not m.is_stop and (is_cns_depressant(m) or is_cns_active(m))
        ]
        if not drafts_in_scope or (len(drugs) < t.sedation_min_cns_depressants and not beers):
            return []
    elif beers:
        drafts_in_scope = []  # chart opening: the Beers count needs action now; a pair of depressants does not
    else:
        return []

    benzos = [g for g in drugs if _in_class(g, DrugClass.BENZODIAZEPINE)]
    opioids = [g for g in drugs if _in_class(g, DrugClass.OPIOID)]
    benzo_opioid = bool(benzos and opioids)
    starts_benzo_opioid = benzo_opioid and (any(_is_new(g) for g in benzos) or any(_is_new(g) for g in opioids))
    critical = starts_benzo_opioid
    indicator: Indicator = "critical" if critical else "warning" if (benzo_opioid or beers) else "info"

    names = [main_name(g[0]) for g in drugs]
    if beers and not benzo_opioid and len(drugs) < t.sedation_min_cns_depressants:
        names = [main_name(g[0]) for g in cns_active]
    if benzo_opioid:
        verb = "Avoid" if critical else "Review"
        pair = [main_name(g[0]) for g in benzos + opioids]
        summary = f"{verb} {fit_names(pair, 45)}: boxed warning, respiratory depression and death"
    elif beers:
        summary = (
            f"Reduce CNS-active drugs at age {facts.age_years}: {len(cns_active)} together ({fit_names(names, 40)})"
        )
    else:
        summary = f"Monitor sedation: {len(drugs)} CNS depressants together ({fit_names(names, 50)})"

    lines = [together([g[0] for g in drugs])]
    if benzo_opioid:
        lines.append(
            "**Boxed warning:** benzodiazepines with opioids can cause profound sedation, respiratory depression, "
            "coma and death; co-prescribe only without alternatives, at minimal doses and duration."
        )
        if not critical:
            lines.append("The patient already takes both drugs; this order continues the combination.")
    if beers:
        depressants = {main_name(g[0]) for g in drugs}
        others = [main_name(g[0]) for g in cns_active if main_name(g[0]) not in depressants]
        also = f", with {quote(', '.join(others), 60)}" if others else ""
        lines.append(
            f"At {facts.age_years}, Beers 2023: avoid {t.beers_cns_active_avoid_count} or more CNS-active drugs "
            f"(falls, fractures); here {len(cns_active)}{also}."
        )
    lines.append("Monitor sedation, dizziness and weakness (falls, driving); use the lowest effective doses.")

    suggestions = (
        [
            remove_draft_suggestion(m, "starts a benzodiazepine + opioid combination (boxed warning)")
            for m in drafts_in_scope
            if m.in_class(DrugClass.BENZODIAZEPINE) or m.in_class(DrugClass.OPIOID)
        ]
        if critical
        else []
    )
    overrides = _CRITICAL_OVERRIDES if critical else _WARNING_OVERRIDES
    return [
        make_card(
            RULE,
            summary=summary,
            indicator=indicator,
            detail="\n\n".join(lines),
            statements=("S18", "S8") if benzos else ("S18",),
            suggestions=suggestions,
            overrides=overrides,
            about=drafts_in_scope,
            sources=tuple(
                s for s, used in (("FDA benzodiazepine boxed warning", benzo_opioid), ("AGS Beers 2023", beers)) if used
            ),
            drugs=names,
            basis=(indicator, benzo_opioid, len(cns_active) if beers else None),
        )
    ]


_REASONING = "\n\n".join(
    (
        (
            "Each CNS depressant adds sedation, dizziness and weakness (S18): falls and impaired driving. "
            "Counted: muscle relaxants, benzodiazepines, opioids, gabapentinoids, Z-drugs and other CNS "
            "depressants, by drug (a renewal is not a combination), and only when one of them is a drug this "
            "service is about (a muscle relaxant, or a benzodiazepine for spasm)."
        ),
        (
            "Benzodiazepine class boxed warning: concomitant use with opioids may result in profound sedation, "
            "respiratory depression, coma and death; reserve co-prescribing for patients for whom alternatives "
            "are inadequate, limit doses and durations to the minimum required, and follow patients for "
            "respiratory depression and sedation."
        ),
        (
            "AGS Beers 2023: avoid a total of {beers_cns_active_avoid_count} or more CNS-active drugs "
            "(antiepileptics, antidepressants, antipsychotics, benzodiazepines, Z-drugs, opioids, skeletal muscle"
            " relaxants) in adults {elderly_age_years} or older: falls and fractures."
        ),
        (
            "Sources: benzodiazepine and opioid class labeling (2016, 2020); AGS Beers Criteria 2023 (drug-drug "
            "interactions)."
        ),
    )
)


RULE = Rule(
    topic="sedation-risk",
    title="Several CNS depressants together",
    statements=("S18", "S8"),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "Info when an order would make {sedation_min_cns_depressants} or more CNS depressants taken together, one "
        "of them a muscle relaxant (or a benzodiazepine for spasm): monitor sedation, dizziness, weakness. Warning "
        "at {elderly_age_years} or older with {beers_cns_active_avoid_count} or more CNS-active drugs (Beers 2023, "
        "antidepressants, antipsychotics and antiepileptics counted) and for a continued benzodiazepine + opioid; "
        "critical when an order starts a benzodiazepine + opioid combination (boxed warning)."
    ),
    overrides=(*_CRITICAL_OVERRIDES, ALREADY_TOLERATING),
    thresholds=("sedation_min_cns_depressants", "elderly_age_years", "beers_cns_active_avoid_count"),
)
