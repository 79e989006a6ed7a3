"""What every rule shares: the `Rule` record with all its metadata, and how a card is built.

A rule is a small pure function `evaluate(facts, thresholds) -> list[Card]`. It never touches HTTP
or raw FHIR JSON. Cards carry `source.url` as a *path* (`/guideline/<topic>`); the protocol edge
makes it absolute with the service's public base URL. Everything a reader of the registry needs
(feedback, the `/guideline` pages, the scenario matrix, site configuration) is on the `Rule`.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote_plus

from pydantic import PrivateAttr

from cds_service.cards.guideline import STATEMENTS, cite
from cds_service.cards.text import fmt_number, main_name
from cds_service.cards.thresholds import THRESHOLD_NAMES, Thresholds
from cds_service.cdshooks import (
    ALL_HOOKS,
    CARD_SUMMARY_MAX,
    Action,
    Card,
    Coding,
    Indicator,
    Link,
    OverrideReason,
    Source,
    Suggestion,
)
from cds_service.facts.model import MedicationFact, PatientFacts

TOPIC_SYSTEM = "https://cds.example.org/muscle-spasm/topics"
OVERRIDE_REASON_SYSTEM = "https://cds.example.org/muscle-spasm/override-reasons"
GUIDELINE_PATH = "/guideline"
SOURCE_LABEL = "Muscle-spasm treatment summary (checked against FDA labels, Beers 2023)"
SUMMARY_NAME = "Muscle-spasm treatment summary"
DAILYMED_SEARCH = "https://dailymed.nlm.nih.gov/dailymed/search.cfm?labeltype=all&query="


class RuleCard(Card):
    """A card with what it is about: the order references it speaks of (never serialized).

    The engine reads `about` to keep one card per topic per order and to fold an info card into a
    warning or critical card about the same order.
    """

    _about: tuple[str, ...] = PrivateAttr(default=())

    @property
    def about(self) -> tuple[str, ...]:
        return self._about


def source_label(statements: Sequence[str], sources: Sequence[str]) -> str:
    """'Muscle-spasm treatment summary, statement S1, S19 · FDA baclofen label', as the card's source."""
    parts = []
    if statements:
        word = "statement" if len(statements) == 1 else "statements"
        parts.append(f"{SUMMARY_NAME}, {word} {', '.join(statements)}")
    parts += list(sources)
    return " · ".join(parts) or SOURCE_LABEL


def label_link(ingredient: str) -> Link:
    """The drug's FDA labels on DailyMed (search by ingredient)."""
    return Link(label=f"{ingredient} label (DailyMed)", url=DAILYMED_SEARCH + quote_plus(ingredient), type="absolute")


def guideline_link(topic: str) -> Link:
    """The full reasoning of a topic; a path the protocol edge makes absolute, like source.url."""
    return Link(label="Why this card: reasoning and sources", url=f"{GUIDELINE_PATH}/{topic}", type="absolute")


@dataclass(frozen=True, slots=True)
class Override:
    """An override reason a card offers (CDS Hooks `overrideReasons`)."""

    code: str
    display: str


BENEFIT_OUTWEIGHS_RISK = Override("benefit-outweighs-risk", "Benefit outweighs risk for this patient")
ALREADY_TOLERATING = Override("already-tolerating", "Patient already tolerating this regimen")
WILL_MONITOR = Override("will-monitor", "Will monitor the patient closely")
SPECIALIST_DIRECTED = Override("specialist-directed", "Directed by specialist / documented plan")
NOT_APPLICABLE = Override("not-applicable", "Information not applicable to this patient")
DATA_OUTDATED = Override("data-outdated", "Patient data shown is outdated or wrong")

Evaluate = Callable[[PatientFacts, Thresholds], list[Card]]


@dataclass(frozen=True, slots=True)
class Rule:
    """One clinical rule and everything known about it.

    `description` is a template: `{threshold_name}` placeholders are filled from the thresholds in
    force (`describe`), so the guideline page never states a number the rule does not check.
    """

    topic: str  # source.topic.code, e.g. "baclofen-titration"
    title: str
    statements: tuple[str, ...]  # Statement ids this rule applies (cards cite a subset)
    hooks: frozenset[str]
    evaluate: Evaluate
    description: str
    overrides: tuple[Override, ...] = ()  # every override reason its cards may offer
    thresholds: tuple[str, ...] = ()  # names of the `Thresholds` fields it reads
    _placeholders: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = [f"unknown statement {s}" for s in self.statements if s not in STATEMENTS]
        problems += [f"unknown hook {h}" for h in self.hooks - ALL_HOOKS]
        problems += [f"unknown threshold {t}" for t in self.thresholds if t not in THRESHOLD_NAMES]
        placeholders = {name for _, name, _, _ in string.Formatter().parse(self.description) if name}
        problems += [f"description names {p}, not in thresholds" for p in sorted(placeholders - set(self.thresholds))]
        if problems:
            raise ValueError(f"rule {self.topic}: " + "; ".join(problems))
        object.__setattr__(self, "_placeholders", frozenset(placeholders))

    def describe(self, thresholds: Thresholds) -> str:
        """The description with the numbers in force (`{x}` formatted as a plain number)."""
        values = {name: fmt_number(getattr(thresholds, name)) for name in self._placeholders}
        return self.description.format(**values)


def make_card(
    rule: Rule,
    *,
    summary: str,
    indicator: Indicator,
    detail: str,
    statements: Sequence[str] | None = None,
    suggestions: Sequence[Suggestion] = (),
    overrides: Sequence[Override] = (),
    about: Sequence[MedicationFact] = (),
    sources: Sequence[str] = (),
    label_of: Sequence[str] = (),
) -> RuleCard:
    """A card with the rule's topic and the guideline citation appended to the detail.

    The one place a summary is shortened (the spec's 140 characters). A card may cite only the
    rule's statements and offer only the rule's override reasons, so the registry knows them all.
    `about` are the orders the card speaks of; `sources` what else it applies beside the summary
    (an FDA label, Beers 2023, EASL 2018), named in `source.label`; `label_of` the ingredients whose
    DailyMed label is linked.
    """
    used = tuple(statements) if statements is not None else rule.statements
    undeclared = [s for s in used if s not in rule.statements] + [o.code for o in overrides if o not in rule.overrides]
    if undeclared:
        raise ValueError(f"rule {rule.topic} uses undeclared statements/overrides: {undeclared}")
    full_detail = detail.rstrip() + "\n\n" + cite(used) if used else detail
    if len(summary) > CARD_SUMMARY_MAX:
        summary = summary[: CARD_SUMMARY_MAX - 1] + "…"
    links = [guideline_link(rule.topic)] + [label_link(name) for name in dict.fromkeys(label_of)]
    # One action is clearly the safest only where the card is critical: elsewhere nothing is preselected.
    suggestions = [s.model_copy(update={"isRecommended": indicator == "critical"}) for s in suggestions]
    card = RuleCard(
        summary=summary,
        detail=full_detail,
        indicator=indicator,
        links=links,
        source=Source(
            label=source_label(used, sources),
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
    card._about = tuple(dict.fromkeys(m.reference for m in about))
    return card


def suggestion(label: str, action: Action, *, recommended: bool = True) -> Suggestion:
    """One action per suggestion: Epic supports no more."""
    return Suggestion(label=label, isRecommended=recommended, actions=[action])


def remove_draft_suggestion(order: MedicationFact, reason: str, *, recommended: bool = True) -> Suggestion:
    """One-click removal of a draft order (CDS Hooks 2.0 delete with resourceId list)."""
    label = f"Remove the draft {main_name(order)} order"
    return suggestion(
        label,
        Action(type="delete", description=f"{label}: {reason}", resourceId=[order.reference]),
        recommended=recommended,
    )


@dataclass
class CardList:
    """Collects cards, dropping exact repeats (same topic and summary)."""

    cards: list[Card] = field(default_factory=list)

    def add(self, card: Card) -> None:
        key = (card.topic_code, card.summary)
        if all((c.topic_code, c.summary) != key for c in self.cards):
            self.cards.append(card)
