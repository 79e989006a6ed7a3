"""Above the label's maximum daily dose (FDA labels; Texas Vendor Drug Program DUR maxima).

What it checks. The daily dose of each muscle relaxant the drafts in scope order, once signed (the
drafts plus current orders of the same drug they do not continue or replace), against its label
maximum: cyclobenzaprine (immediate and extended release), tizanidine, methocarbamol, carisoprodol,
metaxalone, orphenadrine, chlorzoxazone and dantrolene (`Thresholds.<drug>_max_mg_per_day`).
Warning above it. Baclofen's maximum is judged by baclofen-titration (critical). At 65 or older a
tizanidine card adds "start low" (one line, not a card of its own).

The maximum is the order's dose judgment's (`facts.judgment`): an oral label's maximum applies to
oral products only; an injected product has its own label (IV dantrolene for malignant hyperthermia:
2.5 mg/kg repeated, cumulative 10 mg/kg and more) and no oral maximum, so it is never told to slow
down, and its doses are not added to an oral total (issue 19).

Quiet: at or below the maximum, a dose that cannot be computed (never guessed), a stop, patient-view
(the maximum is a prescribing check), an injected or intrathecal product; children too are checked
(the label maximum still applies).
"""

from __future__ import annotations

from cds_service.cards.base import SPECIALIST_DIRECTED, Rule, make_card
from cds_service.cards.text import describe_dose_short, fmt_mg
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ORDER_HOOKS, Card
from cds_service.facts.judgment import DoseJudgment, judgment_of
from cds_service.facts.model import MedicationFact, OrderRelation, PatientFacts, above

_OVERRIDES = (SPECIALIST_DIRECTED,)
# ingredient -> the Thresholds field with its label maximum (extended-release cyclobenzaprine apart)
LIMITS = {
    "cyclobenzaprine": "cyclobenzaprine_max_mg_per_day",
    "tizanidine": "tizanidine_max_mg_per_day",
    "methocarbamol": "methocarbamol_max_mg_per_day",
    "carisoprodol": "carisoprodol_max_mg_per_day",
    "metaxalone": "metaxalone_max_mg_per_day",
    "orphenadrine": "orphenadrine_max_mg_per_day",
    "chlorzoxazone": "chlorzoxazone_max_mg_per_day",
    "dantrolene": "dantrolene_max_mg_per_day",
}


def limit_of(ingredient: str, extended_release: bool, t: Thresholds) -> float:
    if ingredient == "cyclobenzaprine" and extended_release:
        return t.cyclobenzaprine_er_max_mg_per_day
    return float(getattr(t, LIMITS[ingredient]))


def regimen(facts: PatientFacts, ingredient: str) -> list[MedicationFact]:
    """Oral orders of `ingredient` taken once the drafts are signed (not stops; an injected or
    intrathecal order has its own label and never adds to an oral total)."""
    drafts = [
        m for m in facts.drafts_in_scope + facts.other_drafts if m.has(ingredient) and not m.is_stop and m.is_oral
    ]
    ended = {m.reference for m in facts.drafts_in_scope + facts.other_drafts}
    for draft in drafts:
        if draft.reference in facts.continuations:
            ended |= {p.reference for p in facts.continuation_of(draft).previous}
        else:
            ended |= {m.reference for m in facts.active_medications() if m.has(ingredient)}  # a dose change
    current = [m for m in facts.active_medications() if m.has(ingredient) and m.is_oral and m.reference not in ended]
    return drafts + current


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    cards: list[Card] = []
    done: set[str] = set()
    for draft in facts.drafts_in_scope:
        if draft.is_stop:
            continue
        judgment = judgment_of(facts, draft, t)
        if judgment.label_max_mg_per_day is None:
            continue  # not an oral product: its own label, or none (issue 19: IV dantrolene)
        for ingredient in draft.ingredients:
            if ingredient not in LIMITS or ingredient in done or ingredient != judgment.ingredient:
                continue
            done.add(ingredient)
            orders = regimen(facts, ingredient)
            doses = [m.daily_dose.mg_per_day for m in orders]
            if any(d is None for d in doses):
                continue
            total = sum(d or 0.0 for d in doses)
            limit = judgment.label_max_mg_per_day
            if not above(total, limit):
                continue
            form = "extended-release " if draft.extended_release else ""
            lines = [f"- {describe_dose_short(m, name_limit=40, explanation_limit=25)}" for m in orders[:3]]
            if len(orders) > 3:
                lines.append(f"- and {len(orders) - 3} more orders")
            detail = (
                f"Once signed: **{fmt_mg(total)}/day** of {form}{ingredient}; the label maximum is "
                f"{fmt_mg(limit)}/day.\n" + "\n".join(lines)
            )
            relation = facts.continuation_of(draft).relation
            if ingredient == "tizanidine" and facts.age_years is not None and facts.age_years >= t.elderly_age_years:
                detail += f"\n\nAt {facts.age_years}, start low and titrate slowly (blood pressure, sedation)."
            if relation is OrderRelation.DECREASE:
                detail += "\n\nThis order lowers the dose; it is still above the maximum."
            if judgment.no_dose_reason and not judgment.pediatric:
                detail += f"\n\nNo labelled dose here: {judgment.no_dose_reason}."
            cards.append(
                make_card(
                    RULE,
                    summary=_summary(ingredient, limit, total, judgment),
                    indicator="warning",
                    detail=detail,
                    statements=("S18",),
                    overrides=_OVERRIDES,
                    about=(draft,),
                    sources=(judgment.label or f"FDA {ingredient} label",),
                    label_of=(ingredient,),
                    drugs=(ingredient,),
                    basis=(total, limit, draft.extended_release),
                )
            )
    return cards


def _summary(ingredient: str, limit: float, total: float, judgment: DoseJudgment) -> str:
    """'Lower X to N mg/day or less', unless the judgment leaves no labelled dose (Amrix in cirrhosis,
    oral dantrolene in active liver disease): then no dose is named, the detail says why."""
    if judgment.no_dose_reason and not judgment.pediatric:
        return f"Review {ingredient}: {fmt_mg(total)}/day ordered, above the label maximum, no labelled dose here"
    return f"Lower {ingredient} to {fmt_mg(limit)}/day or less: {fmt_mg(total)}/day ordered"


_REASONING = "\n\n".join(
    (
        (
            "How the total is worked out: the daily doses of every order of the drug that would be taken once the"
            " drafts are signed (the drafts, plus the current orders they do not continue or replace), summed; an"
            " as-needed order counts its maximum, a range its high end. A dose that cannot be computed is never "
            "guessed (no card). Children are checked too: the label maximum still applies. At {elderly_age_years}"
            " or older a tizanidine card adds 'start low' (blood pressure, sedation)."
        ),
        (
            "Sources: the FDA label of each drug (Dosage and Administration); Texas Vendor Drug Program drug-use "
            "criteria for skeletal muscle relaxants."
        ),
    )
)


RULE = Rule(
    topic="max-daily-dose",
    title="Above a muscle relaxant's label maximum",
    statements=("S18",),
    hooks=ORDER_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "Warns when an order makes a muscle relaxant's daily dose exceed its label maximum: cyclobenzaprine "
        "{cyclobenzaprine_max_mg_per_day} mg/day (extended release {cyclobenzaprine_er_max_mg_per_day}), "
        "tizanidine {tizanidine_max_mg_per_day}, methocarbamol {methocarbamol_max_mg_per_day}, carisoprodol "
        "{carisoprodol_max_mg_per_day}, metaxalone {metaxalone_max_mg_per_day}, orphenadrine "
        "{orphenadrine_max_mg_per_day}, chlorzoxazone {chlorzoxazone_max_mg_per_day}, dantrolene "
        "{dantrolene_max_mg_per_day} mg/day. Baclofen's maximum is baclofen-titration's (critical)."
    ),
    overrides=_OVERRIDES,
    thresholds=(
        "cyclobenzaprine_max_mg_per_day",
        "cyclobenzaprine_er_max_mg_per_day",
        "tizanidine_max_mg_per_day",
        "methocarbamol_max_mg_per_day",
        "carisoprodol_max_mg_per_day",
        "metaxalone_max_mg_per_day",
        "orphenadrine_max_mg_per_day",
        "chlorzoxazone_max_mg_per_day",
        "dantrolene_max_mg_per_day",
        "elderly_age_years",
    ),
)
