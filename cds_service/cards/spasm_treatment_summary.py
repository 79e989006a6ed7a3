"""One chart summary for a patient this guideline is about (guideline S1, S13, S16, A5).

Patient-view only, and only for a patient on a muscle relaxant (including intrathecal baclofen) or
with an active spasm, spasticity or cramp condition; anyone else gets nothing. One info card: each
current agent with its daily dose and how it was computed, where oral baclofen stands on the
source's plan and when the next step is due, the latest potassium and magnesium with their dates (or
that there is none recent), and the physical-therapy reminder. Problems (low values, long courses)
are the other rules' cards; this one only orients.
"""

from __future__ import annotations

from cds_service.cards._baclofen import (
    current_oral,
    describe_dose,
    is_baclofen,
    is_intrathecal_baclofen,
    last_change_at,
    next_step_due,
    plan_position,
    plan_text,
)
from cds_service.cards._electrolytes import describe_result, short_value
from cds_service.cards.base import Rule, make_card
from cds_service.cards.scope import is_muscle_relaxant
from cds_service.cards.text import describe_condition, fmt_date, fmt_mg, fmt_number, main_name
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import Card
from cds_service.facts.model import SPASM_CONDITIONS, LabResult, MedicationFact, PatientFacts


def _lab_line(name: str, result: LabResult | None, facts: PatientFacts, t: Thresholds) -> tuple[str, str]:
    """(summary fragment, detail line)."""
    if result is None:
        return f"no {name}", f"- {name.capitalize()}: **no result on file**."
    age = result.age_days(facts.now)
    stale = age is None or age > t.lab_recent_days
    note = f" — older than {t.lab_recent_days} days" if stale else ""
    fragment = short_value(result) + (" (old)" if stale else "")
    return fragment, f"- {name.capitalize()}: {describe_result(result, facts.now)}{note}."


def evaluate(facts: PatientFacts, t: Thresholds = DEFAULT_THRESHOLDS) -> list[Card]:
    agents = [m for m in facts.active_medications() if is_muscle_relaxant(m) or is_baclofen(m)]
    conditions = facts.conditions_in(*SPASM_CONDITIONS)
    if not agents and not conditions:
        return []
    lines: list[str] = []
    fragments: list[str] = []
    if agents:
        lines.append("**Current agents**")
        lines += [f"- {describe_dose(m)}" for m in agents]
        fragments.append(", ".join(sorted({_agent_fragment(m) for m in agents})))
    else:
        lines.append("**No muscle relaxant is active.**")
        fragments.append("no relaxant")
    oral = current_oral(facts)
    if not oral.empty:
        lines += ["", "**Baclofen titration**"]
        total = oral.total
        if total is None:
            lines.append("- The oral baclofen daily dose could not be computed: titration step not shown.")
        else:
            changed = last_change_at(facts, oral)
            due = next_step_due(changed, total, t)
            position = plan_position(total, t)
            step = f"- {fmt_mg(total)}/day: {position} of the {plan_text(t)} mg/day plan"
            step += f", at this dose since {fmt_date(changed)}" if changed else ""
            if due is not None:
                step += (
                    f"; next step (+{fmt_number(t.baclofen_step_max_mg_per_day)} mg/day) due {fmt_date(due)} if needed"
                )
                fragments.append(f"next step {fmt_date(due)}")
            lines.append(step + ".")
    k_fragment, k_line = _lab_line("potassium", facts.potassium, facts, t)
    mg_fragment, mg_line = _lab_line("magnesium", facts.magnesium, facts, t)
    fragments.append(f"{k_fragment}; {mg_fragment}")
    lines += ["", "**Electrolytes** (correct low potassium and magnesium)", k_line, mg_line]
    if conditions:
        lines += ["", "**Relevant conditions**", *(f"- {describe_condition(c)}" for c in conditions)]
    lines += [
        "",
        "**Physical therapy**: combine drug treatment with physical therapy including range-of-motion exercises. "
        "Monitor for sedation, dizziness and weakness.",
    ]
    summary = "Muscle-spasm treatment: " + "; ".join(fragments)
    return [
        make_card(
            RULE,
            summary=summary,
            indicator="info",
            detail="\n".join(lines),
            statements=("S13", "A5"),
        )
    ]


def _agent_fragment(medication: MedicationFact) -> str:
    name = main_name(medication)
    if is_intrathecal_baclofen(medication):
        return "intrathecal baclofen"
    dose = medication.daily_dose.mg_per_day
    return f"{name} {fmt_mg(dose)}/day" if dose is not None else name


RULE = Rule(
    topic="spasm-treatment-summary",
    title="Muscle-spasm treatment summary",
    statements=("S13", "A5", "S1"),
    hooks=frozenset({"patient-view"}),
    evaluate=evaluate,
    description=(
        "Patient-view of a patient on a muscle relaxant or with a spasm/spasticity/cramp condition: current "
        "agents and daily doses, baclofen step and next due date, latest K and Mg with dates (stale after "
        "{lab_recent_days} days), physical therapy."
    ),
    thresholds=(
        "lab_recent_days",
        "baclofen_start_max_mg_per_day",
        "baclofen_step_max_mg_per_day",
        "baclofen_step_interval_days",
        "baclofen_plan_ceiling_mg_per_day",
    ),
)
