"""A drug's daily dose over time, from the patient's existing orders (drafts excluded).

Rules that judge a dose change (titration, withdrawal, escalation) need when the current dose
started and what it was before; only oral orders are counted (an intrathecal pump dose in micrograms
is another regimen).
"""

from __future__ import annotations

from collections.abc import Sequence

from cds_service.facts.model import CURRENT_STATUSES, DoseChange, DoseHistory, MedicationFact, same_dose

# Ingredients whose history is kept even without a muscle-relaxant class (the baclofen rules).
HISTORY_INGREDIENTS_ORAL = ("baclofen",)


def dose_history(ingredient: str, medications: Sequence[MedicationFact]) -> DoseHistory:
    """Steps of the oral daily dose over the patient's orders of `ingredient` (drafts excluded)."""
    orders = [m for m in medications if m.has(ingredient) and not m.is_draft and m.start is not None and m.is_oral]
    orders.sort(key=lambda m: (m.start, m.reference))
    steps: list[DoseChange] = []
    for order in orders:
        mg = order.daily_dose.mg_per_day
        if mg is None or order.start is None:
            continue
        if steps and same_dose(steps[-1].mg_per_day, mg):
            continue
        steps.append(DoseChange(mg, order.start, order.provenance))
    active = [m for m in orders if m.status in CURRENT_STATUSES]
    current = active[-1] if active else None
    current_mg = current.daily_dose.mg_per_day if current else None
    current_since = None
    previous = None
    changed_at = None
    if current is not None and current_mg is not None and current.start is not None:
        # Walk back over the known steps to the one that set the current dose.
        for i in range(len(steps) - 1, -1, -1):
            if same_dose(steps[i].mg_per_day, current_mg) and steps[i].at <= current.start:
                current_since = steps[i].at
                if i > 0:
                    previous = steps[i - 1].mg_per_day
                    changed_at = steps[i].at
                break
    return DoseHistory(
        ingredient=ingredient,
        current_mg_per_day=current_mg,
        current_since=current_since,
        previous_mg_per_day=previous,
        last_change_at=changed_at,
        steps=tuple(steps),
    )
