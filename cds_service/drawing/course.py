"""What the SMART app draws, computed from the service's own facts (the app does no clinical arithmetic).

- each muscle relaxant's daily dose over time as steps: every order from its start to its end (a
  current order, by its status, to now; a finished one to `ended_at` or the next order), orders
  taken together summed as the rules sum a regimen, the draft orders at the end; the envelope the
  service judges (`envelope.envelope_for`) as a band and the label maximum as a line;
- potassium, magnesium and eGFR over time (`facts.series`: the rules' readers, result by result) with
  the info / warning / critical bands of the thresholds in force (site thresholds included);
- serotonergic, CNS-active and CYP1A2-inhibiting drugs as bars on the same time axis.

Plain data (JSON-ready dicts); `summary.py` turns it into text for screen readers and printing.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from cds_service.cards._baclofen import planned_start, regimen_after
from cds_service.cards.max_daily_dose import regimen
from cds_service.cards.scope import is_cns_active, is_cns_depressant, is_muscle_relaxant, is_serotonergic
from cds_service.cards.thresholds import Thresholds
from cds_service.drawing.envelope import Envelope, envelope_for
from cds_service.facts.model import DrugClass, LabKind, MedicationFact, PatientFacts
from cds_service.facts.series import LabPoint, LabSeries

# How far the draft order is drawn past its start when nothing says otherwise (a titration week).
DRAFT_DAYS = 7
# The y range each lab is drawn in; a value beyond it is drawn on the edge and marked.
PLOT_RANGE = {LabKind.POTASSIUM: (2.0, 6.0), LabKind.MAGNESIUM: (0.3, 1.4), LabKind.EGFR: (0.0, 120.0)}
UNITS = {LabKind.POTASSIUM: "mmol/L", LabKind.MAGNESIUM: "mmol/L", LabKind.EGFR: "mL/min/1.73 m²"}
CYP1A2 = frozenset({DrugClass.STRONG_CYP1A2_INHIBITOR, DrugClass.CYP1A2_INHIBITOR})


def iso(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


@dataclass(frozen=True, slots=True)
class _Segment:
    order: MedicationFact
    start: datetime
    end: datetime
    end_known: bool


def _segments(orders: list[MedicationFact], now: datetime) -> list[_Segment]:
    """Each existing order's span: a current order (status active or on-hold) runs to now; a finished
    one to `ended_at`, cut at the next order's start (a renewal or dose change replaces it)."""
    dated = sorted((o for o in orders if o.start is not None and o.start <= now), key=lambda o: (o.start, o.reference))
    out: list[_Segment] = []
    for i, order in enumerate(dated):
        assert order.start is not None
        later = [o.start for o in dated[i + 1 :] if o.start is not None and o.start > order.start]
        if order.is_current:
            out.append(_Segment(order, order.start, now, True))
            continue
        ends = [e for e in (order.ended_at, later[0] if later else None) if e is not None]
        end = min(ends) if ends else order.start
        out.append(_Segment(order, order.start, min(max(end, order.start), now), order.ended_at is not None))
    return out


def _steps(segments: list[_Segment], now: datetime) -> list[dict[str, Any]]:
    """The daily total between consecutive change points: the known doses of the orders covering it
    summed (unknown when one of them is unknown), 0 where none covers it."""
    times = sorted({s.start for s in segments} | {s.end for s in segments} | {now})
    steps: list[dict[str, Any]] = []
    for start, end in pairwise(times):
        covering = [s for s in segments if s.start <= start < s.end]
        doses = [s.order.daily_dose.mg_per_day for s in covering]
        total = None if any(d is None for d in doses) else sum(d or 0.0 for d in doses)
        refs = [s.order.reference for s in covering]
        if steps and steps[-1]["mg_per_day"] == total and steps[-1]["end"] == iso(start):
            steps[-1]["end"] = iso(end)
            steps[-1]["orders"] += [r for r in refs if r not in steps[-1]["orders"]]
            continue
        steps.append({"start": iso(start), "end": iso(end), "mg_per_day": total, "draft": False, "orders": refs})
    return steps


def _order_row(facts: PatientFacts, order: MedicationFact, segment: _Segment | None) -> dict[str, Any]:
    dose = order.daily_dose
    start = planned_start(facts, order) if order.is_draft else (segment.start if segment else order.start)
    return {
        "order": order.reference,
        "display": order.display,
        "status": order.status,
        "draft": order.is_draft,
        "start": iso(start),
        "end": iso(segment.end if segment else order.ended_at),
        "end_recorded": segment.end_known if segment else order.ended_at is not None,
        "mg_per_day": dose.mg_per_day,
        "dose": dose.explanation or dose.unknown_reason or "",
        "as_needed": dose.as_needed,
    }


def _draft_total(facts: PatientFacts, ingredient: str, drafts: list[MedicationFact]) -> float | None:
    """The daily dose once the drafts are signed, as the rules count it."""
    if all(d.is_stop for d in drafts):
        return 0.0
    if ingredient == "baclofen":
        return regimen_after(facts).total
    orders = regimen(facts, ingredient)
    doses = [o.daily_dose.mg_per_day for o in orders]
    return None if any(d is None for d in doses) else sum(d or 0.0 for d in doses)


def _band(envelope: Envelope, course_start: datetime | None, until: datetime) -> list[dict[str, Any]]:
    """The allowed daily dose over time from the course start: the start, + a step every interval,
    up to the ceiling. Without a titration (a label maximum only) or a labelled dose: nothing."""
    if envelope.no_labelled_dose or course_start is None or envelope.start_mg_per_day is None:
        return []
    step, interval, ceiling = envelope.step_mg_per_day, envelope.interval_days, envelope.ceiling_mg_per_day
    band = []
    at, high = course_start, envelope.start_mg_per_day
    while at < until:
        if ceiling is not None:
            high = min(high, ceiling)
        last = not step or not interval or (ceiling is not None and high >= ceiling)
        end = until if last else min(until, at + timedelta(days=interval or 0))
        band.append({"start": iso(at), "end": iso(end), "high": high})
        if last:
            break
        at, high = end, high + (step or 0)
    return band


def _course_start(steps: list[dict[str, Any]]) -> datetime | None:
    """Where the current course began: the first step after the last gap (a 0 mg/day stretch)."""
    start = None
    for step in steps:
        if step["mg_per_day"] == 0:
            start = None
        elif start is None:
            start = datetime.fromisoformat(step["start"])
    return start


def _relaxant(
    facts: PatientFacts, ingredient: str, orders: list[MedicationFact], t: Thresholds, focus: str | None
) -> dict[str, Any]:
    existing = [o for o in orders if not o.is_draft]
    drafts = [o for o in orders if o.is_draft]
    segments = _segments(existing, facts.now)
    steps = _steps(segments, facts.now)
    draft_start = min((planned_start(facts, d) for d in drafts), default=None)
    if drafts and draft_start is not None:
        steps.append(
            {
                "start": iso(draft_start),
                "end": iso(draft_start + timedelta(days=DRAFT_DAYS)),
                "mg_per_day": _draft_total(facts, ingredient, drafts),
                "draft": True,
                "orders": [d.reference for d in drafts],
            }
        )
    # The envelope of the order the card was about, else of the draft, else of the latest order.
    judged = next((o for o in orders if o.reference == focus), None) or (drafts or existing or orders)[-1]
    envelope = envelope_for(facts, judged, t)
    until = datetime.fromisoformat(steps[-1]["end"]) if steps else facts.now
    by_ref = {s.order.reference: s for s in segments}
    return {
        "ingredient": ingredient,
        "unit": "mg/day",
        "orders": [
            _order_row(facts, o, by_ref.get(o.reference))
            for o in sorted(orders, key=lambda o: (o.is_draft, o.start or facts.now))
        ],
        "undated": [o.reference for o in existing if o.start is None],
        "steps": steps,
        "judged_order": judged.reference,
        "envelope": _envelope_dict(envelope, _band(envelope, _course_start(steps), until) if envelope else []),
    }


def _envelope_dict(envelope: Envelope | None, band: list[dict[str, Any]]) -> dict[str, Any] | None:
    if envelope is None:
        return None
    return {
        "plan": envelope.plan,
        "start_mg_per_day": envelope.start_mg_per_day,
        "step_mg_per_day": envelope.step_mg_per_day,
        "interval_days": envelope.interval_days,
        "ceiling_mg_per_day": envelope.ceiling_mg_per_day,
        "label_max_mg_per_day": envelope.label_max_mg_per_day,
        "kidney": envelope.kidney,
        "no_labelled_dose": envelope.no_labelled_dose,
        "sources": list(envelope.sources),
        "basis": envelope.basis,
        "band": band,
    }


def relaxants(facts: PatientFacts, t: Thresholds, focus: str | None = None) -> list[dict[str, Any]]:
    """One entry per muscle relaxant on record or ordered, by mouth or route unknown (pump and injection
    doses have labels of their own and are not drawn here)."""
    by_ingredient: dict[str, list[MedicationFact]] = defaultdict(list)
    for order in (*facts.medications, *facts.drafts_in_scope, *facts.other_drafts):
        if is_muscle_relaxant(order) and order.ingredients and order.is_oral:
            by_ingredient[order.ingredients[0]].append(order)
    return [_relaxant(facts, ingredient, orders, t, focus) for ingredient, orders in sorted(by_ingredient.items())]


def lab_bands(kind: LabKind, t: Thresholds) -> list[dict[str, Any]]:
    """The bands in force, lowest first: below `below` a result is in that band."""
    if kind is LabKind.POTASSIUM:
        limits = (t.potassium_critical_mmol_per_l, t.potassium_warning_mmol_per_l, t.potassium_low_mmol_per_l)
    elif kind is LabKind.MAGNESIUM:
        limits = (t.magnesium_critical_mmol_per_l, t.magnesium_warning_mmol_per_l, t.magnesium_low_mmol_per_l)
    else:
        return [{"band": "critical", "below": t.baclofen_critical_egfr},
                {"band": "warning", "below": t.beers_baclofen_min_egfr}]  # fmt: skip
    return [{"band": band, "below": limit} for band, limit in zip(("critical", "warning", "info"), limits, strict=True)]


def band_of(value: float, bands: list[dict[str, Any]]) -> str:
    return next((b["band"] for b in bands if value < b["below"]), "normal")


def _point(point: LabPoint, bands: list[dict[str, Any]], low: float, high: float) -> dict[str, Any]:
    outside = "below" if point.value < low else "above" if point.value > high else None
    return {
        "at": iso(point.at),
        "value": round(point.value, 3),
        "drawn_at": min(max(point.value, low), high),
        "outside": outside,
        "band": band_of(point.value, bands),
        "reported": point.reported,
        "how": point.how,
        "flag": point.flag,
        "resource": point.provenance.resource if point.provenance else None,
    }


def labs(series: LabSeries, t: Thresholds) -> list[dict[str, Any]]:
    """Each lab with its `results` state: `none` (nothing on record), `unreadable` (results on record,
    none the service can read: a prescriber must look at the chart, not conclude there is no result)
    or `drawn`."""
    out = []
    for kind in (LabKind.POTASSIUM, LabKind.MAGNESIUM, LabKind.EGFR):
        bands = lab_bands(kind, t)
        low, high = PLOT_RANGE[kind]
        points = [_point(p, bands, low, high) for p in series.points[kind] if p.at is not None]
        unreadable = [
            {"at": iso(u.at), "problem": u.problem}
            for u in series.unreadable
            if u.kind is kind or (kind is LabKind.EGFR and u.kind is LabKind.CREATININE)
        ]
        out.append(
            {
                "kind": kind.value,
                "unit": UNITS[kind],
                "range": [low, high],
                "bands": bands,
                "results": "drawn" if points else "unreadable" if unreadable else "none",
                "points": points,
                "unreadable": unreadable,
            }
        )
    return out


def interacting(facts: PatientFacts) -> list[dict[str, Any]]:
    """Serotonergic, CNS-active and CYP1A2-inhibiting drugs (relaxants are drawn with their doses)."""
    bars = []
    orders = [*facts.medications, *facts.drafts_in_scope, *facts.other_drafts]
    for order in sorted(orders, key=lambda o: (o.start or facts.now, o.reference)):
        if is_muscle_relaxant(order) or order.is_stop:
            continue
        kinds = [name for name, hit in (
            ("serotonergic", is_serotonergic(order)),
            ("cns-active", is_cns_active(order) or is_cns_depressant(order)),
            ("cyp1a2-inhibitor", not order.classes.isdisjoint(CYP1A2)),
        ) if hit]  # fmt: skip
        if not kinds:
            continue
        start = planned_start(facts, order) if order.is_draft else order.start
        if start is None:
            continue
        if order.is_draft:
            end = start + timedelta(days=DRAFT_DAYS)
        elif order.is_current:
            end = max(facts.now, start)
        else:
            end = order.ended_at or start
        bars.append(
            {
                "order": order.reference,
                "display": order.display,
                "ingredient": ", ".join(order.ingredients),
                "kinds": kinds,
                "status": order.status,
                "draft": order.is_draft,
                "start": iso(start),
                "end": iso(max(end, start)),
            }
        )
    return bars


__all__ = ["band_of", "interacting", "lab_bands", "labs", "relaxants"]
