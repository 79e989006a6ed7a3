"""Two or more CNS depressants together (guideline S18, S8; benzodiazepine boxed warning; Beers 2023).

Counts drugs, not orders (a renewal is not a combination), from muscle relaxants, benzodiazepines,
opioids, gabapentinoids, Z-drugs and other CNS depressants. Scope: only combinations that include a
drug this service is about (a muscle relaxant, or a benzodiazepine ordered for spasm); oxycodone +
gabapentin is the EHR's general interaction screening. Order hooks: fires when a CNS depressant
draft in scope is part of such a combination. Patient-view: the same combinations.

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
from cds_service.cards.text import describe_order, main_name
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, Card
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
    if not any(is_service_drug(facts, m) for m in pool):
        return []  # no relaxant (or benzodiazepine for spasm): the EHR's general interaction screening
    drafts_in_scope = (
        [m for m in facts.drafts_in_scope if is_cns_depressant(m) and not m.is_stop] if is_order_hook(facts) else []
    )
    if is_order_hook(facts) and not drafts_in_scope:
        return []
    drugs = group_by_drug(pool)
    if len(drugs) < t.sedation_min_cns_depressants:
        return []
    cns_active = group_by_drug(m for m in taken if is_cns_active(m) or is_cns_depressant(m))
    beers = (
        facts.age_years is not None
        and facts.age_years >= t.elderly_age_years
        and len(cns_active) >= t.beers_cns_active_avoid_count
    )

    benzos = [g for g in drugs if _in_class(g, DrugClass.BENZODIAZEPINE)]
    opioids = [g for g in drugs if _in_class(g, DrugClass.OPIOID)]
    benzo_opioid = bool(benzos and opioids)
    starts_benzo_opioid = benzo_opioid and (any(_is_new(g) for g in benzos) or any(_is_new(g) for g in opioids))
    critical = is_order_hook(facts) and starts_benzo_opioid
    indicator = "critical" if critical else "warning" if (benzo_opioid or beers) else "info"

    names = [main_name(g[0]) for g in drugs]
    if benzo_opioid:
        summary = f"Benzodiazepine + opioid ({' + '.join(names)}): boxed warning — respiratory depression"
    else:
        summary = f"Sedation risk: {len(drugs)} CNS depressants together ({', '.join(names)})"

    lines = ["CNS depressants that would be taken together:"]
    for group in drugs:
        for order in group:
            lines.append(f"- {describe_order(order)}")
    advice = [
        "",
        "Together they add sedation, dizziness and weakness (falls, impaired driving). Monitor for these "
        "and use the lowest effective doses.",
    ]
    if benzo_opioid:
        advice.append(
            "**Boxed warning (benzodiazepines and opioids):** concomitant use may cause profound sedation, "
            "respiratory depression, coma and death. Reserve co-prescribing for patients without adequate "
            "alternatives; limit doses and duration; watch breathing and sedation."
        )
        if not critical:
            advice.append("The patient already takes both drugs; this order continues the combination.")
    if beers:
        names_active = ", ".join(main_name(g[0]) for g in cns_active)
        advice.append(
            f"The patient is {facts.age_years}: Beers 2023 says avoid a total of "
            f"{t.beers_cns_active_avoid_count} or more CNS-active drugs (falls, fractures); here "
            f"{len(cns_active)}: {names_active}."
        )
    detail = "\n".join(lines + advice)

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
            detail=detail,
            statements=("S18", "S8") if benzos else ("S18",),
            suggestions=suggestions,
            overrides=overrides,
            about=drafts_in_scope,
            sources=tuple(
                s for s, used in (("FDA benzodiazepine boxed warning", benzo_opioid), ("AGS Beers 2023", beers)) if used
            ),
        )
    ]


RULE = Rule(
    topic="sedation-risk",
    title="Several CNS depressants together",
    statements=("S18", "S8"),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
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
