"""Serotonergic combinations: serotonin syndrome risk (guideline S23, cyclobenzaprine label 2013).

Drugs are counted, not orders (a renewal is not a combination). The pool is what would be active
(drafts + active orders) plus MAOIs stopped within the washout (`Thresholds.maoi_washout_days`),
because the label contraindication runs "within 14 days after discontinuation". An MAOI's stop date
is its order's end (validity end, or start + supply); an MAOI order that ended with no date at all
is named in the card as "stop date not recorded" and makes it a warning, not critical: we do not
guess.

Scope: only combinations that include a drug this service is about (a muscle relaxant such as
cyclobenzaprine, or a benzodiazepine for spasm: `scope.is_service_drug`); sertraline + ondansetron
belongs to the EHR's general interaction screening. Verapamil counts as serotonergic only beside
cyclobenzaprine (its label names it). Order hooks: fires when a serotonergic draft in scope is part
of such a combination. Patient-view: the combination in place, warning or critical: it may have been
assembled by several prescribers, or before this service ran, and the chart opening is where it shows
(an override keeps the card away for that patient while the same drugs stay together).

Indicator: **critical** when an MAOI (incl. linezolid, methylene blue, selegiline, rasagiline) is
active, drafted or stopped within the washout (label contraindication, hyperpyretic crises and
deaths); otherwise **warning**. One card per response, listing all partners; suggestion: remove the
draft(s).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from cds_service.cards.base import (
    ALREADY_TOLERATING,
    BENEFIT_OUTWEIGHS_RISK,
    DATA_OUTDATED,
    SPECIALIST_DIRECTED,
    WILL_MONITOR,
    Rule,
    make_card,
    remove_draft_suggestion,
)
from cds_service.cards.scope import combination_pool, group_by_drug, is_order_hook, is_serotonergic, is_service_drug
from cds_service.cards.text import fit_names, fmt_date, fmt_number, main_name, quote, together
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ALL_HOOKS, Card
from cds_service.facts.model import DrugClass, MedicationFact, PatientFacts

# Statuses of an order that was (or may have been) taken; cancelled, draft or entered-in-error never were.
_TAKEN_STATUSES = frozenset({"stopped", "completed", "active", "on-hold"})
_CRITICAL_OVERRIDES = (DATA_OUTDATED, SPECIALIST_DIRECTED)
_WARNING_OVERRIDES = (ALREADY_TOLERATING, BENEFIT_OUTWEIGHS_RISK, WILL_MONITOR)


@dataclass(frozen=True, slots=True)
class RecentMaoi:
    order: MedicationFact
    # Days since the MAOI was stopped; None when the stop date is not recorded. When `upper_bound`
    # is set, the stop date is unknown but the order started this many days ago, so it was stopped
    # at most this long ago.
    days_since_stop: float | None
    upper_bound: bool = False


def recently_stopped_maois(facts: PatientFacts, t: Thresholds) -> list[RecentMaoi]:
    """MAOI orders no longer active that may still be within the washout."""
    active = {m.reference for m in facts.active_medications()}
    replaced = {m.reference for m in facts.drafts_in_scope + facts.other_drafts}
    washout = timedelta(days=t.maoi_washout_days)
    found: list[RecentMaoi] = []
    for order in facts.medications:
        if not order.in_class(DrugClass.MAOI) or order.reference in active or order.reference in replaced:
            continue
        if order.status not in _TAKEN_STATUSES:
            continue  # cancelled / entered-in-error / draft: never taken
        end = order.end
        if end is not None and end <= facts.now:
            if facts.now - end <= washout:
                found.append(RecentMaoi(order, _days(facts.now - end)))
            continue
        if order.status not in {"stopped", "completed"}:
            continue
        # Ended early or with no end recorded: the stop date is unknown but not before the start.
        if order.start is not None and order.start <= facts.now and facts.now - order.start <= washout:
            found.append(RecentMaoi(order, _days(facts.now - order.start), upper_bound=True))
        elif order.start is None or facts.now - order.start > washout:
            found.append(RecentMaoi(order, None))
    return found


def _days(delta: timedelta) -> float:
    return delta.total_seconds() / 86400


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    washout_days = t.maoi_washout_days
    taken = combination_pool(facts)
    with_cyclobenzaprine = any(m.has("cyclobenzaprine") for m in taken)
    pool = [m for m in taken if is_serotonergic(m, beside_cyclobenzaprine=with_cyclobenzaprine)]
    if not any(is_service_drug(facts, m) for m in pool):
        return []  # no relaxant in the combination: the EHR's general interaction screening
    recent = recently_stopped_maois(facts, t)
    in_scope = (
        [m for m in facts.drafts_in_scope if not m.is_stop and any(m is p for p in pool)]
        if is_order_hook(facts)
        else []
    )
    if is_order_hook(facts) and not in_scope:
        return []
    drugs = group_by_drug(pool + [r.order for r in recent])
    if len(drugs) < 2:
        return []

    active_maoi = [m for m in pool if m.in_class(DrugClass.MAOI)]
    dated_recent = [r for r in recent if r.days_since_stop is not None]
    critical = bool(active_maoi or dated_recent)
    names = [main_name(group[0]) for group in drugs]

    if critical:
        maoi_name = main_name(active_maoi[0] if active_maoi else dated_recent[0].order)
        others = [n for n in names if n != maoi_name]
        tail = ": contraindicated (serotonin syndrome)"
        head = f"Do not combine MAOI {maoi_name} with "
        summary = head + fit_names(others, 100 - len(head) - len(tail)) + tail
    else:
        # the labels' own words: if the combination is clinically warranted, careful observation is
        # advised (issue 20: "Avoid" at warning said more than the label)
        summary = f"Observe closely for serotonin syndrome: {fit_names(names, 55)} together"

    recent_refs = {r.order.reference for r in recent}
    partners = [group[0] for group in drugs if all(m.reference not in recent_refs for m in group)]
    lines = [together(partners)]
    for item in recent[:2]:
        maoi = f"**{quote(main_name(item.order), 30)}**"
        if item.days_since_stop is None:
            lines.append(f"MAOI {maoi} ended; **stop date not recorded**: confirm it was over {washout_days} days ago.")
        elif item.upper_bound:
            lines.append(
                f"MAOI {maoi} stopped, date not recorded, but started only {fmt_number(item.days_since_stop, 1)} "
                f"days ago: within the {washout_days}-day washout."
            )
        else:
            lines.append(
                f"MAOI {maoi} ended **{fmt_date(item.order.end)}**, {fmt_number(item.days_since_stop, 1)} days ago "
                f"(washout: {washout_days} days)."
            )
    if len(recent) > 2:
        lines.append(f"And {len(recent) - 2} more MAOI orders stopped recently.")
    if critical:
        lines.append(
            f"**Contraindicated** with an MAOI or within {washout_days} days of stopping it: hyperpyretic crises, "
            "severe convulsions, deaths. Do not combine."
        )
    else:
        lines.append(
            "Label: if this combination is clinically warranted, careful observation is advised, particularly "
            "when treatment starts and at dose increases (serotonin syndrome: agitation, hyperthermia, clonus, "
            "autonomic instability)."
        )

    suggestions = [
        remove_draft_suggestion(m, "serotonin syndrome risk with the patient's other serotonergic drugs")
        for m in in_scope
    ]
    overrides = _CRITICAL_OVERRIDES if critical else _WARNING_OVERRIDES
    return [
        make_card(
            RULE,
            summary=summary,
            indicator="critical" if critical else "warning",
            detail="\n\n".join(lines),
            suggestions=suggestions,
            overrides=overrides,
            about=in_scope if is_order_hook(facts) else pool,
            sources=("FDA cyclobenzaprine label (2013)",),
            label_of=("cyclobenzaprine",) if with_cyclobenzaprine else (),
            drugs=names,
            basis=(
                critical,
                tuple(
                    sorted(((main_name(r.order), r.order.start, r.order.end, r.upper_bound) for r in recent), key=repr)
                ),
            ),
        )
    ]


_REASONING = "\n\n".join(
    (
        (
            "Cyclobenzaprine label (2013 safety labeling change): serotonin syndrome has been reported when "
            "cyclobenzaprine is used with SSRIs, SNRIs, tricyclic antidepressants, tramadol, bupropion, "
            "meperidine, verapamil or MAOIs. It is contraindicated with MAOIs or within 14 days after "
            "discontinuation of them: hyperpyretic crises, severe convulsions and deaths have occurred. Signs "
            "include agitation, hallucinations, hyperthermia, tachycardia, labile blood pressure, tremor, clonus,"
            " hyperreflexia, incoordination, nausea and diarrhea."
        ),
        (
            "What counts: drugs, not orders, in what would be taken (drafts and current orders), plus MAOIs "
            "stopped within the {maoi_washout_days}-day washout; an MAOI's stop date is its order's end, and an "
            "ended MAOI order with no date makes a warning asking to confirm, never a guess. Only combinations "
            "with a drug this service is about (sertraline with ondansetron is the EHR's general interaction "
            "screening); verapamil counts only beside cyclobenzaprine. Critical with an MAOI (linezolid, "
            "methylene blue, selegiline and rasagiline included); otherwise a warning: if the combination is "
            "needed, start low and monitor."
        ),
        ("Sources: FDA cyclobenzaprine label (Contraindications; Warnings, serotonin syndrome)."),
    )
)


RULE = Rule(
    topic="serotonergic-combination",
    title="Serotonergic drug combination (serotonin syndrome)",
    statements=("S23",),
    hooks=ALL_HOOKS,
    evaluate=evaluate,
    reasoning=_REASONING,
    description=(
        "Warns when a serotonergic order would make two or more serotonergic drugs taken together, one of them "
        "a muscle relaxant this service is about (cyclobenzaprine with SSRIs, SNRIs, TCAs, tramadol, triptans, "
        "bupropion, verapamil...); critical with an MAOI active or stopped within {maoi_washout_days} days, the "
        "only case shown on chart opening. Combinations without a relaxant are left to the EHR's general "
        "interaction screening."
    ),
    overrides=_CRITICAL_OVERRIDES + _WARNING_OVERRIDES,
    thresholds=("maoi_washout_days",),
)
