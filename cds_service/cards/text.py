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


def fmt_number(value: float, places: int = 2) -> str:
    """30.0 -> '30', 7.5 -> '7.5', 0.695 -> '0.7' (places=1)."""
    text = f"{value:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text  # 30 with 0 places stays "30"


def fmt_mg(value: float | None) -> str:
    """10.0 -> '10 mg', 7.5 -> '7.5 mg'."""
    return "unknown" if value is None else f"{fmt_number(value)} mg"


def fmt_date(moment: datetime | None) -> str:
    return moment.date().isoformat() if moment is not None else "date not recorded"


def main_name(medication: MedicationFact) -> str:
    """The ingredient(s) in plain words, e.g. 'cyclobenzaprine' or 'tramadol/acetaminophen'."""
    return "/".join(medication.ingredients) if medication.ingredients else medication.display


def describe_order(medication: MedicationFact) -> str:
    """Escaped markdown naming an order the way a clinician finds it in the chart."""
    if medication.is_draft:
        state = "draft order being placed now"
    else:
        state = f"{medication.status or 'unknown status'} order, since {fmt_date(medication.start)}"
    text = f"**{escape_md(medication.display)}** ({state}; {escape_md(medication.reference)})"
    if medication.match == MatchMethod.NAME:
        text += " — recognized by its name only, not by an RxNorm code"
    return text


_SYSTEM_NAMES = {
    "http://hl7.org/fhir/sid/icd-10-cm": "ICD-10-CM",
    "http://hl7.org/fhir/sid/icd-10": "ICD-10",
    "http://snomed.info/sct": "SNOMED CT",
}


def describe_condition(condition: ConditionFact) -> str:
    """'**Atrial fibrillation** (ICD-10-CM I48.0, onset 2026-10-01)', escaped."""
    parts: list[str] = []
    if condition.code:
        system = _SYSTEM_NAMES.get(condition.system or "", condition.system or "code")
        parts.append(f"{system} {condition.code}")
    if condition.onset is not None:
        parts.append(f"onset {fmt_date(condition.onset)}")
    if condition.verification_status and condition.verification_status.lower() not in {"confirmed"}:
        parts.append(f"verification: {condition.verification_status}")
    suffix = f" ({escape_md(', '.join(parts))})" if parts else ""
    return f"**{escape_md(condition.display)}**{suffix}"


def describe_dose_short(medication: MedicationFact) -> str:
    """'**baclofen 20 MG Oral Tablet**, 60 mg/day (20 mg × 3 per day)', escaped; for short details."""
    dose = medication.daily_dose
    if dose.mg_per_day is None:
        amount = f"dose unknown ({escape_md(dose.unknown_reason or 'not computable')})"
    else:
        amount = f"{fmt_mg(dose.mg_per_day)}/day"
        if dose.explanation:
            amount += f" ({escape_md(dose.explanation)})"
        if dose.as_needed:
            amount += ", as needed: the maximum counted"
    return f"**{escape_md(medication.display)}**, {amount}"
