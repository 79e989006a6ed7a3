"""What every rule shares: the `Rule` record with all its metadata, and how a card is built.

A rule is a small pure function `evaluate(facts, thresholds) -> list[Card]`. It never touches HTTP
or raw FHIR JSON. Cards carry `source.url` as a *path* (`/guideline/<topic>`); the protocol edge
makes it absolute with the service's public base URL. Everything a reader of the registry needs
(feedback, the `/guideline` pages, the scenario matrix, site configuration) is on the `Rule`.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from urllib.parse import quote_plus

from pydantic import PrivateAttr

from cds_service.cards.guideline import STATEMENTS
from cds_service.cards.suggestions import removal
from cds_service.cards.text import fmt_number
from cds_service.cards.thresholds import THRESHOLD_NAMES, Thresholds
from cds_service.cdshooks import (
    ALL_HOOKS,
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
# What a busy prescriber reads (issue 12): the summary says what to do, the detail gives the patient's
# numbers, the one recommendation and one citation line; the reasoning is on /guideline/<topic>.
SUMMARY_MAX = 100
DETAIL_MAX = 600


class RuleCard(Card):
    """A card with what it is about and what made it (neither is serialized).

    `about`: the order references it speaks of; the engine reads it to keep one card per topic per
    order and to fold an info card into a warning or critical card about the same order.
    `accompanies`: its rule's `accompanies` (the engine may make it a line in an info card too).
    `fingerprint`: a digest of the topic, the drug(s) and the facts that made the card (a daily dose,
    a lab value and its unit and date, an eGFR band, the interacting drug...), never the order ids,
    the patient or anything that changes by itself from one day to the next. The same facts give the
    same fingerprint; override suppression (issue 12) keys on it.
    """

    _about: tuple[str, ...] = PrivateAttr(default=())
    _fingerprint: str = PrivateAttr(default="")
    _accompanies: bool = PrivateAttr(default=False)

    @property
    def about(self) -> tuple[str, ...]:
        return self._about

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def accompanies(self) -> bool:
        return self._accompanies


def _canonical(value: object) -> object:
    """A JSON-able, stable form of one fact of a fingerprint; refuses what has no stable form.

    Numbers are rounded to what a card shows (thousandths), dates kept as dates (an order's start, a
    result's time: they do not move), enums by value. A duration (`timedelta`) is refused: "days
    since" changes every day, so a rule passes the date it counts from instead. Objects (an order, a
    lab record) are refused too: they carry resource ids; a rule passes the values that matter.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, int | float):
        return fmt_number(float(value), 3)  # 30 and 30.0 are the same dose
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | frozenset | set):
        items = [_canonical(v) for v in value]
        return sorted(items, key=json.dumps) if isinstance(value, frozenset | set) else items
    raise TypeError(f"a fingerprint takes plain values, not {type(value).__name__}")


def fingerprint_of(topic: str, drugs: Sequence[str], basis: Sequence[object]) -> str:
    """The fingerprint of a card: topic, the drugs (ingredients, in any order) and the facts, hashed."""
    payload = [topic, sorted({d.lower() for d in drugs}), _canonical(tuple(basis))]
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def citation_line(statements: Sequence[str], sources: Sequence[str]) -> str:
    """'Source: Muscle-spasm treatment summary S1, S19 · FDA oral baclofen label.' No longer part of a
    card's detail (issue 20: the source is said once, in `source.label`); kept for callers that
    budget a detail's length with it."""
    parts = [f"{SUMMARY_NAME} {', '.join(statements)}"] if statements else []
    parts += list(dict.fromkeys(sources))
    return "Source: " + (" · ".join(parts) or SOURCE_LABEL) + "."


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

    `description` (what it checks) and `reasoning` (why, the label wording, the dose arithmetic and
    the advice in full: what a card leaves out to stay short) are templates: `{threshold_name}`
    placeholders are filled from the thresholds in force (`describe`, `explain`), so the guideline
    page never states a number the rule does not check. Paragraphs of `reasoning` are separated by a
    blank line.
    """

    topic: str  # source.topic.code, e.g. "baclofen-titration"
    title: str
    statements: tuple[str, ...]  # Statement ids this rule applies (cards cite a subset)
    hooks: frozenset[str]
    evaluate: Evaluate
    description: str
    overrides: tuple[Override, ...] = ()  # every override reason its cards may offer
    thresholds: tuple[str, ...] = ()  # names of the `Thresholds` fields it reads
    reasoning: str = ""  # shown on /guideline/<topic>
    # Advice that rides along with another card about the same order (albumin beside the lab request
    # for cramps in cirrhosis): on order hooks it becomes a line in an info card with buttons too,
    # not only in a warning or critical card.
    accompanies: bool = False
    _placeholders: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems = [f"unknown statement {s}" for s in self.statements if s not in STATEMENTS]
        problems += [f"unknown hook {h}" for h in self.hooks - ALL_HOOKS]
        problems += [f"unknown threshold {t}" for t in self.thresholds if t not in THRESHOLD_NAMES]
        placeholders = {
            name
            for text in (self.description, self.reasoning)
            for _, name, _, _ in string.Formatter().parse(text)
            if name
        }
        problems += [f"text names {p}, not in thresholds" for p in sorted(placeholders - set(self.thresholds))]
        if problems:
            raise ValueError(f"rule {self.topic}: " + "; ".join(problems))
        object.__setattr__(self, "_placeholders", frozenset(placeholders))

    def _fill(self, text: str, thresholds: Thresholds) -> str:
        values = {name: fmt_number(getattr(thresholds, name)) for name in self._placeholders}
        return text.format(**values)

    def describe(self, thresholds: Thresholds) -> str:
        """The description with the numbers in force (`{x}` formatted as a plain number)."""
        return self._fill(self.description, thresholds)

    def explain(self, thresholds: Thresholds) -> list[str]:
        """The reasoning's paragraphs with the numbers in force."""
        return [p.strip() for p in self._fill(self.reasoning, thresholds).split("\n\n") if p.strip()]


def make_card(
    rule: Rule,
    *,
    summary: str,
    indicator: Indicator,
    detail: str,
    drugs: Sequence[str] | None = None,
    basis: Sequence[object] | None = None,
    statements: Sequence[str] | None = None,
    suggestions: Sequence[Suggestion] = (),
    overrides: Sequence[Override] = (),
    about: Sequence[MedicationFact] = (),
    sources: Sequence[str] = (),
    label_of: Sequence[str] = (),
) -> RuleCard:
    """A card with the rule's topic, links and one citation line closing the detail.

    `detail` is the patient's numbers and the one recommendation; the citation line names the
    statements used and `sources`, what else the card applies beside the summary (an FDA label,
    Beers 2023, EASL 2018), also named in `source.label`. `drugs` (ingredients) and `basis` (the
    facts that made the card: plain values, see `fingerprint_of`) make its fingerprint: every rule
    must say what its card rests on (a call without them is refused). A card may cite only the
    rule's statements and offer only the rule's override reasons, so the registry knows them all.
    `about` are the orders the card speaks of; `label_of` the ingredients whose DailyMed label is
    linked. A summary longer than
    `SUMMARY_MAX` is cut here as a last resort (tests hold every rule to it).
    """
    used = tuple(statements) if statements is not None else rule.statements
    undeclared = [s for s in used if s not in rule.statements] + [o.code for o in overrides if o not in rule.overrides]
    if undeclared:
        raise ValueError(f"rule {rule.topic} uses undeclared statements/overrides: {undeclared}")
    if drugs is None or basis is None:
        raise TypeError(f"rule {rule.topic}: make_card needs drugs= and basis=, what the card rests on")
    # The source is said once, in `source.label`, which every client shows under the card (issue 20:
    # the detail repeated it).
    full_detail = detail.rstrip()
    if len(summary) > SUMMARY_MAX:
        summary = summary[: SUMMARY_MAX - 1] + "…"
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
    card._fingerprint = fingerprint_of(rule.topic, drugs, basis)
    card._accompanies = rule.accompanies
    return card


def suggestion(label: str, action: Action, *, recommended: bool = True) -> Suggestion:
    """One action per suggestion: Epic supports no more."""
    return Suggestion(label=label, isRecommended=recommended, actions=[action])


def remove_draft_suggestion(order: MedicationFact, reason: str, *, recommended: bool = True) -> Suggestion:
    """One-click removal of a draft order (CDS Hooks 2.0 delete with resourceId list), with its intent."""
    return removal(order, reason, recommended=recommended)


@dataclass
class CardList:
    """Collects cards, dropping exact repeats (same topic and summary)."""

    cards: list[Card] = field(default_factory=list)

    def add(self, card: Card) -> None:
        key = (card.topic_code, card.summary)
        if all((c.topic_code, c.summary) != key for c in self.cards):
            self.cards.append(card)
