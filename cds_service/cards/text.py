"""How cards write: markdown escaping of patient-derived text, numbers, dates, orders, conditions.

Clients render `detail` as markdown and the sandbox passes raw HTML through, so every piece of text
that comes from the EHR (a drug's display, a condition, a unit) goes through `escape_md`.
"""

from __future__ import annotations

import re
from datetime import datetime

from cds_service.facts.model import ConditionFact, MatchMethod, MedicationFact

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+!|~>])")


def escape_md(text: object) -> str:
    """Escape patient- or EHR-derived text for a markdown detail that clients render with raw HTML.

    HTML metacharacters become entities (the sandbox renders raw HTML); markdown punctuation is
    backslash-escaped so a drug name cannot turn into a link, image or table.
    """
    value = str(text)
    value = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    value = value.replace('"', "&quot;")
    value = _MD_SPECIAL.sub(r"\\\1", value)
    return value.replace("\n", " ").replace("\r", " ")


# EHR text quoted on a card (a drug's display, a condition) is cut to this many characters, so that
# a long or hostile display cannot push a card past its length (the full text is in the chart).
QUOTE_MAX = 60


def clip(text: object, limit: int = QUOTE_MAX) -> str:
    """`text` cut to `limit` characters with an ellipsis (before escaping)."""
    value = str(text)
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def quote(text: object, limit: int = QUOTE_MAX) -> str:
    """EHR text escaped for markdown (`escape_md`) and cut so that the *escaped* text has at most `limit`
    characters, never inside an entity or after a lone backslash: a display full of `<` or `*` cannot
    push a card past its length."""
    value = str(text)
    whole = escape_md(value)
    if len(whole) <= limit:  # the common case: nothing to cut
        return whole
    out: list[str] = []
    used = 0
    for index, char in enumerate(value):
        piece = escape_md(char)
        rest = len(value) - index - 1
        if used + len(piece) > limit - (1 if rest else 0):
            out.append("…")
            break
        out.append(piece)
        used += len(piece)
    return "".join(out)


def fmt_number(value: float, places: int = 2) -> str:
    """30.0 -> '30', 7.5 -> '7.5', 0.695 -> '0.7' (places=1)."""
    text = f"{value:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text  # 30 with 0 places stays "30"


def join_and(items: list[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def fit_names(names: list[str], room: int) -> str:
    """Names joined with '+' in at most `room` characters: 'a + b + c', else 'a + b + 2 more'."""
    text = " + ".join(names)
    for keep in range(len(names) - 1, 0, -1):
        if len(text) <= room:
            break
        text = " + ".join(names[:keep]) + f" + {len(names) - keep} more"
    return text


def fmt_mg(value: float | None) -> str:
    """10.0 -> '10 mg', 7.5 -> '7.5 mg'."""
    return "unknown" if value is None else f"{fmt_number(value)} mg"


def fmt_date(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else "date not recorded"


def main_name(medication: MedicationFact) -> str:
    """The ingredient(s) in plain words, e.g. 'cyclobenzaprine' or 'tramadol/acetaminophen'."""
    return "/".join(medication.ingredients) if medication.ingredients else medication.display


def describe_order(medication: MedicationFact, limit: int = QUOTE_MAX) -> str:
    """'**cyclobenzaprine 10 MG Oral Tablet** (since 2026-11-02)' or '(this order)', escaped and clipped.

    No resource id: a clinician finds an order by its name and date, not by its FHIR id.
    """
    if medication.is_draft:
        state = "this order"
    elif (medication.status or "").lower() in ("active", ""):
        state = f"since {fmt_date(medication.start)}"
    else:
        state = f"{medication.status}, since {fmt_date(medication.start)}"
    text = f"**{quote(medication.display, limit)}** ({escape_md(state)})"
    if medication.match == MatchMethod.NAME:
        text += " (matched by name only)"
    return text


def describe_drug(medication: MedicationFact) -> str:
    """'oxycodone (since 2026-11-05)' or 'diazepam (this order)': a partner in a combination, escaped."""
    state = "this order" if medication.is_draft else f"since {fmt_date(medication.start)}"
    return f"{quote(main_name(medication), 40)} ({state})"


def together(medications: list[MedicationFact]) -> str:
    """'This order: diazepam; current: oxycodone, baclofen.' for a combination, escaped, at most five names."""
    shown = medications[:5]
    new = [quote(main_name(m), 30) for m in shown if m.is_draft]
    current = [quote(main_name(m), 30) for m in shown if not m.is_draft]
    parts = ([f"This order: {', '.join(new)}"] if new else []) + ([f"current: {', '.join(current)}"] if current else [])
    more = f" (and {len(medications) - 5} more)" if len(medications) > 5 else ""
    text = "; ".join(parts) + more + "."
    return text[:1].upper() + text[1:]


_SYSTEM_NAMES = {
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://snomed.info/sct": "SNOMED CT",
}


def describe_condition(condition: ConditionFact, limit: int = QUOTE_MAX, *, brief: bool = False) -> str:
    """'**Atrial fibrillation** (ICD-10-CM I48.0, onset 2026-10-01)', escaped; `brief`: the code only."""
    parts: list[str] = []
    if condition.code:
        system = _SYSTEM_NAMES.get(condition.system or "", condition.system or "code")
        parts.append(f"{system} {condition.code}")
    if condition.onset is not None and not brief:
        parts.append(f"onset {fmt_date(condition.onset)}")
    if condition.verification_status and condition.verification_status.lower() not in {"confirmed"}:
        parts.append("unconfirmed" if brief else f"verification: {condition.verification_status}")
    suffix = f" ({quote(', '.join(parts), 30 if brief else 60)})" if parts else ""
    return f"**{quote(condition.display, limit)}**{suffix}"


_TOTAL_TAIL = re.compile(r"\s*=\s*[0-9.,]+\s*mg/day\s*$")


def describe_dose_short(
    medication: MedicationFact, *, name_limit: int = QUOTE_MAX, explanation_limit: int = QUOTE_MAX
) -> str:
    """'**baclofen 20 MG Oral Tablet**, 60 mg/day (20 mg × 3 per day)', escaped; for short details.

    The arithmetic is shown whole or not at all (the guideline page has it): clipped, it read
    "(1 tablet × 10 mg/tablet × 3 p…)" in the sandbox. Its "= 60 mg/day" tail repeats the total.
    """
    dose = medication.daily_dose
    if dose.mg_per_day is None:
        amount = f"dose unknown ({quote(dose.unknown_reason or 'not computable', explanation_limit)})"
    else:
        amount = f"{fmt_mg(dose.mg_per_day)}/day"
        arithmetic = _TOTAL_TAIL.sub("", dose.explanation or "")
        if arithmetic and len(arithmetic) <= explanation_limit:
            amount += f" ({quote(arithmetic, explanation_limit)})"
        if dose.as_needed:
            amount += ", as needed: the maximum counted"
    return f"**{quote(medication.display, name_limit)}**, {amount}"
