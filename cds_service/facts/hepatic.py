"""How impaired the liver is, as far as the problem list tells: none, mild, or moderate to severe.

Labels grade hepatic impairment by Child-Pugh class (A mild, B moderate, C severe); an EHR rarely
codes it, so the severity is read from what it does code (issue 19, item 7), the most severe reading
winning:

- **moderate to severe**: a Child-Pugh class B or C (or a score of 7 or more) written in a liver
  condition's text or its `stage.summary`; or a liver-specific sign of decompensation
  (`HEPATIC_DECOMPENSATION`: alcoholic liver disease with ascites, hepatic failure, hepatic
  encephalopathy, hepatorenal syndrome, spontaneous bacterial peritonitis, bleeding varices); or
  ascites (`ASCITES`, R18 / SNOMED 389026000) beside a liver condition (ascites alone also comes from
  heart failure and cancer);
- **mild**: Child-Pugh class A (score 5-6); or cirrhosis, or active hepatitis (`ACTIVE_LIVER_DISEASE`:
  the conditions that impair the liver's function), without a sign of decompensation recorded;
- **none**: no liver condition, or only one that does not impair function by itself (fatty liver,
  an unspecified liver disorder, a cyst): quiet, as the labels' hepatic-impairment advice is about
  impaired function, not any liver code.

A coded Child-Pugh A beside coded ascites reads moderate to severe: the older of two classifications
cannot be told apart here, and the safer one is kept. Only current conditions are read
(`facts.conditions` decides which count).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from cds_service.facts.model import ConditionCategory, ConditionFact

_LIVER = frozenset(
    {
        ConditionCategory.LIVER_DISEASE,
        ConditionCategory.CIRRHOSIS,
        ConditionCategory.ACTIVE_LIVER_DISEASE,
        ConditionCategory.HEPATIC_DECOMPENSATION,
    }
)
_IMPAIRING = frozenset({ConditionCategory.CIRRHOSIS, ConditionCategory.ACTIVE_LIVER_DISEASE})
# "Child-Pugh class B", "Child-Turcotte-Pugh C", "CTP class C", "Child Pugh score 8", "Child-Pugh B (8)"
_CHILD_PUGH = re.compile(
    r"\b(?:child(?:[\s-]+turcotte)?[\s-]+pugh|ctp)\b[\s:-]*(?:class|grade|stage)?[\s:-]*"
    r"(?:(?P<klass>[abc])\b|score[\s:=-]*(?P<score>\d{1,2})\b)",
    re.IGNORECASE,
)


class HepaticSeverity(StrEnum):
    NONE = "none"
    MILD = "mild"
    MODERATE_OR_SEVERE = "moderate-or-severe"


_RANK = {HepaticSeverity.NONE: 0, HepaticSeverity.MILD: 1, HepaticSeverity.MODERATE_OR_SEVERE: 2}


@dataclass(frozen=True, slots=True)
class HepaticImpairment:
    """The severity, what it rests on (as a clinician would say it) and the conditions behind it."""

    severity: HepaticSeverity
    basis: str = ""  # "ascites with cirrhosis", "Child-Pugh class B", "cirrhosis, no decompensation recorded"
    conditions: tuple[ConditionFact, ...] = ()

    @property
    def impaired(self) -> bool:
        return self.severity is not HepaticSeverity.NONE


def child_pugh_class(text: str) -> str | None:
    """'A', 'B' or 'C' from a condition's text ("Child-Pugh class B", "CTP score 10"), else None."""
    found = _CHILD_PUGH.search(text or "")
    if found is None:
        return None
    if found.group("klass"):
        return found.group("klass").upper()
    score = int(found.group("score"))
    if 5 <= score <= 6:
        return "A"
    if 7 <= score <= 9:
        return "B"
    if 10 <= score <= 15:
        return "C"
    return None


def hepatic_impairment(conditions: Iterable[ConditionFact]) -> HepaticImpairment:
    """The patient's hepatic impairment from the current conditions (see the module docstring)."""
    conditions = tuple(conditions)
    liver = [c for c in conditions if c.categories & _LIVER]
    readings: list[HepaticImpairment] = [HepaticImpairment(HepaticSeverity.NONE)]
    for condition in liver:
        klass = child_pugh_class(f"{condition.display} {condition.stage}")
        if klass is not None:
            severity = HepaticSeverity.MILD if klass == "A" else HepaticSeverity.MODERATE_OR_SEVERE
            readings.append(HepaticImpairment(severity, f"Child-Pugh class {klass}", (condition,)))
    decompensated = [c for c in conditions if ConditionCategory.HEPATIC_DECOMPENSATION in c.categories]
    if decompensated:
        readings.append(
            HepaticImpairment(HepaticSeverity.MODERATE_OR_SEVERE, "decompensated liver disease", tuple(decompensated))
        )
    ascites = [c for c in conditions if ConditionCategory.ASCITES in c.categories]
    if ascites and liver:
        readings.append(
            HepaticImpairment(HepaticSeverity.MODERATE_OR_SEVERE, "ascites with liver disease", (*ascites, liver[0]))
        )
    impairing = [c for c in liver if c.categories & _IMPAIRING]
    if impairing:
        what = "cirrhosis" if any(ConditionCategory.CIRRHOSIS in c.categories for c in impairing) else "hepatitis"
        readings.append(
            HepaticImpairment(HepaticSeverity.MILD, f"{what}, no decompensation recorded", tuple(impairing))
        )
    # The most severe reading; among equals, the first found (a coded Child-Pugh class before inference).
    return max(readings, key=lambda r: _RANK[r.severity])
