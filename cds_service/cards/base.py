"""What every rule shares: the Rule record, card building, citations and markdown escaping.

A rule is a small pure function `evaluate(facts) -> list[Card]`. It never touches HTTP or raw
FHIR JSON. Cards carry `source.url` as a *path* (`/guideline/<topic>`); the protocol edge makes
it absolute with the service's public base URL.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cds_service.cards.guideline import cite
from cds_service.cdshooks import (
    Action,
    Card,
    Coding,
    Indicator,
    OverrideReason,
    Source,
    Suggestion,
)
from cds_service.facts.model import PatientFacts

TOPIC_SYSTEM = "https://cds.example.org/muscle-spasm/topics"
OVERRIDE_REASON_SYSTEM = "https://cds.example.org/muscle-spasm/override-reasons"
GUIDELINE_PATH = "/guideline"
SOURCE_LABEL = "Muscle-spasm treatment summary (checked against FDA labels, Beers 2023)"


@dataclass(frozen=True, slots=True)
class Rule:
    topic: str  # source.topic.code, e.g. "baclofen-titration"
    title: str
    statements: tuple[str, ...]  # Statement ids this rule applies
    hooks: frozenset[str]
    evaluate: Callable[[PatientFacts], list[Card]]
    description: str = ""  # one paragraph for the guideline page and the scenario matrix


@dataclass(frozen=True, slots=True)
class Override:
    code: str
    display: str


BENEFIT_OUTWEIGHS_RISK = Override("benefit-outweighs-risk", "Benefit outweighs risk for this patient")
ALREADY_TOLERATING = Override("already-tolerating", "Patient already tolerating this regimen")
WILL_MONITOR = Override("will-monitor", "Will monitor the patient closely")
SPECIALIST_DIRECTED = Override("specialist-directed", "Directed by specialist / documented plan")
NOT_APPLICABLE = Override("not-applicable", "Information not applicable to this patient")
DATA_OUTDATED = Override("data-outdated", "Patient data shown is outdated or wrong")


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


def fmt_mg(value: float | None) -> str:
    """10.0 -> '10 mg', 7.5 -> '7.5 mg'."""
    if value is None:
        return "unknown"
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{text} mg"


def fmt_number(value: float, places: int = 2) -> str:
    text = f"{value:.{places}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text  # 30 with 0 places stays "30"


def make_card(
    rule: Rule,
    *,
    summary: str,
    indicator: Indicator,
    detail: str,
    statements: Sequence[str] | None = None,
    suggestions: Sequence[Suggestion] = (),
    overrides: Sequence[Override] = (),
) -> Card:
    """Build a card with the rule's topic, the guideline citation appended to the detail."""
    used = tuple(statements) if statements is not None else rule.statements
    full_detail = detail.rstrip() + "\n\n" + cite(used) if used else detail
    if len(summary) > 140:
        summary = summary[:139] + "…"
    return Card(
        summary=summary,
        detail=full_detail,
        indicator=indicator,
        source=Source(
            label=SOURCE_LABEL,
            url=f"{GUIDELINE_PATH}/{rule.topic}",
            topic=Coding(system=TOPIC_SYSTEM, code=rule.topic, display=rule.title),
        ),
        suggestions=list(suggestions) or None,
        selectionBehavior="any" if suggestions else None,
        overrideReasons=[
            OverrideReason(system=OVERRIDE_REASON_SYSTEM, code=o.code, display=o.display) for o in overrides
        ]
        or None,
    )


def suggestion(label: str, action: Action, *, recommended: bool = True) -> Suggestion:
    """One action per suggestion: Epic supports no more."""
    return Suggestion(label=label, isRecommended=recommended, actions=[action])


@dataclass
class CardList:
    """Collects cards, dropping exact repeats (same topic and summary)."""

    cards: list[Card] = field(default_factory=list)

    def add(self, card: Card) -> None:
        key = (card.topic_code, card.summary)
        if all((c.topic_code, c.summary) != key for c in self.cards):
            self.cards.append(card)
