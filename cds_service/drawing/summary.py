"""The drawing in words: the same data as the charts, for screen readers and printing."""

from __future__ import annotations

from typing import Any

from cds_service.cards.text import fmt_number


def _day(iso_text: str | None) -> str:
    return iso_text[:10] if iso_text else "date unknown"


def _dose(mg: float | None) -> str:
    return "dose unknown" if mg is None else f"{fmt_number(mg)} mg/day"


def _relaxant_lines(relaxant: dict[str, Any]) -> list[str]:
    name = relaxant["ingredient"].capitalize()
    steps = [s for s in relaxant["steps"] if s["mg_per_day"] != 0 or s["draft"]]
    course = "; ".join(
        f"{_dose(s['mg_per_day'])} {'ordered now (draft)' if s['draft'] else 'from ' + _day(s['start'])}"
        + ("" if s["draft"] else f" to {_day(s['end'])}")
        for s in steps
    )
    lines = [f"{name}: {course or 'no dated order'}."]
    envelope = relaxant["envelope"]
    if envelope is not None:
        if envelope["no_labelled_dose"]:
            lines.append(f"{name} envelope: {envelope['no_labelled_dose']}.")
        elif envelope["start_mg_per_day"] is not None:
            lines.append(
                f"{name} envelope ({envelope['plan']}): start {fmt_number(envelope['start_mg_per_day'])} mg/day, "
                f"+{fmt_number(envelope['step_mg_per_day'])} mg/day every {envelope['interval_days']} days, "
                f"ceiling {fmt_number(envelope['ceiling_mg_per_day'])} mg/day."
            )
        if envelope["label_max_mg_per_day"] is not None:
            lines.append(f"{name} label maximum: {fmt_number(envelope['label_max_mg_per_day'])} mg/day.")
        if envelope["kidney"] and not envelope["no_labelled_dose"]:
            lines.append(f"{name} and kidney function: {envelope['kidney']}.")
    return lines


_LAB_NAMES = {"potassium": "Potassium", "magnesium": "Magnesium", "egfr": "eGFR"}


def _lab_lines(lab: dict[str, Any]) -> list[str]:
    name = _LAB_NAMES[lab["kind"]]
    if lab["results"] == "none":
        return [f"{name}: no result on record."]
    if lab["results"] == "unreadable":
        problems = "; ".join(dict.fromkeys(u["problem"] for u in lab["unreadable"]))
        count = len(lab["unreadable"])
        return [f"{name}: {count} result(s) on record, none could be read ({problems}): check them in the chart."]
    shown = []
    for point in lab["points"][-6:]:
        band = "" if point["band"] == "normal" else f", {point['band']} band"
        reported = "" if point["how"] == "as reported" else f" (reported {point['reported']})"
        shown.append(f"{fmt_number(point['value'])} {lab['unit']} on {_day(point['at'])}{band}{reported}")
    older = len(lab["points"]) - len(shown)
    lines = [f"{name}, newest last{f' ({older} older not listed)' if older else ''}: " + "; ".join(shown) + "."]
    bands = ", ".join(f"{b['band']} below {fmt_number(b['below'])}" for b in lab["bands"])
    lines.append(f"{name} bands in force: {bands} {lab['unit']}.")
    if lab["unreadable"]:
        lines.append(f"{name}: {len(lab['unreadable'])} result(s) could not be read and are not drawn.")
    return lines


def summary_lines(drawing: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for relaxant in drawing["relaxants"]:
        lines.extend(_relaxant_lines(relaxant))
    if not drawing["relaxants"]:
        lines.append("No muscle relaxant on record or ordered.")
    for lab in drawing["labs"]:
        lines.extend(_lab_lines(lab))
    bars = drawing["interacting"]
    if bars:
        lines.append(
            "Interacting drugs: "
            + "; ".join(
                f"{b['display']} ({', '.join(b['kinds'])}) "
                + ("ordered now" if b["draft"] else f"from {_day(b['start'])}")
                + ("" if b["draft"] else f" to {_day(b['end'])}")
                for b in bars
            )
            + "."
        )
    else:
        lines.append("No serotonergic, CNS-active or CYP1A2-inhibiting drug on record.")
    return lines
