"""Runs the rules over one patient's facts and assembles the cards of one response.

A failing rule must not silence the others, and must not look like "all clear": it becomes an
info card saying which check could not run. Data the edge could not obtain (FHIR server down,
OperationOutcome in prefetch) becomes one card listing what was not checked.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from cds_service.cards import RULES
from cds_service.cards.base import (
    DETAIL_MAX,
    GUIDELINE_PATH,
    SOURCE_LABEL,
    SUMMARY_MAX,
    TOPIC_SYSTEM,
    CardList,
    Rule,
    RuleCard,
    fingerprint_of,
)
from cds_service.cards.scope import is_muscle_relaxant
from cds_service.cards.text import escape_md, quote
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import Card, Coding, Source
from cds_service.facts.judgment import suggestion_outside
from cds_service.facts.model import ConditionCategory, DataGap, PatientFacts

log = logging.getLogger("cds_service.engine")

DATA_UNAVAILABLE_TOPIC = "data-unavailable"
RULE_ERROR_TOPIC = "check-failed"

_INDICATOR_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass
class Evaluation:
    cards: list[Card] = field(default_factory=list)
    rule_errors: list[str] = field(default_factory=list)  # topic codes whose rule raised


def evaluate(
    facts: PatientFacts, rules: tuple[Rule, ...] | None = None, thresholds: Thresholds = DEFAULT_THRESHOLDS
) -> Evaluation:
    """The cards of one call: every rule for this hook, critical first, then what could not run."""
    rules = RULES if rules is None else rules
    result = Evaluation()
    collected = CardList()
    for rule in rules:
        if facts.hook not in rule.hooks:
            continue
        try:
            cards = rule.evaluate(facts, thresholds)
        except Exception:  # a bug in one rule must not hide the others
            log.exception("rule failed", extra={"topic": rule.topic, "hook": facts.hook})
            result.rule_errors.append(rule.topic)
            continue
        for card in cards:
            collected.add(keep_doses_inside_judgment(card, facts, thresholds))
    cards = sorted(one_concern_per_card(collected.cards, facts.hook), key=lambda c: _INDICATOR_ORDER[c.indicator])
    if result.rule_errors:
        cards.append(_rule_error_card(result.rule_errors))
    gaps = relevant_gaps(facts)
    if gaps:
        cards.append(_data_unavailable_card(gaps))
    result.cards = cards
    return result


def doses_outside_judgment(card: Card, facts: PatientFacts, thresholds: Thresholds) -> list[tuple[int, str]]:
    """(index, why) of each suggestion of `card` whose order dose is outside its order's judgment
    (`facts.judgment`): the one place every suggested dose is checked (issue 19)."""
    outside = []
    for index, suggestion in enumerate(card.suggestions or ()):
        for action in suggestion.actions or ():
            resource = action.resource if isinstance(action.resource, dict) else None
            why = suggestion_outside(facts, thresholds, resource) if resource is not None else None
            if why is not None:
                outside.append((index, why))
                break
    return outside


def keep_doses_inside_judgment(card: Card, facts: PatientFacts, thresholds: Thresholds) -> Card:
    """The card without the suggestions whose dose its order's judgment forbids, each drop logged
    (topic and why, no patient data); a card left without buttons keeps its text."""
    outside = doses_outside_judgment(card, facts, thresholds)
    if not outside:
        return card
    for _, why in outside:
        reason = "no labelled dose" if why.startswith("no labelled dose") else "dose outside the envelope"
        log.warning("suggestion dropped: dose outside judgment", extra={"topic": card.topic_code, "reason": reason})
    dropped = {index for index, _ in outside}
    kept = [s for i, s in enumerate(card.suggestions or ()) if i not in dropped]
    card.suggestions = kept or None
    if not kept:
        card.selectionBehavior = None
    return card


def one_concern_per_card(cards: list[Card], hook: str) -> list[Card]:
    """At most one card per topic per order, and fewer cards about the same order where one says it all.

    A card without buttons becomes a line ("Also: ...") in the first, most serious card about the
    same orders when that card is critical (a drug that must not be given makes a lesser concern
    about it secondary: tried in the sandbox, a chart with "Stop cyclobenzaprine: contraindicated"
    also showed "Reassess cyclobenzaprine: taken 35 days"), or, on order hooks, when it is an info
    card and the host a warning, or the host an info card with buttons and the folded card's rule
    `accompanies` (albumin beside the lab request for cramps in cirrhosis: one card, not two).

    A card with suggestions keeps its own card (a lab order or a dose change would be lost in a
    line), and so does one whose line would take the host's detail past `DETAIL_MAX`. A folded line
    changes the host's fingerprint: an override of the card with the line is not an override of the
    card without it.
    """
    kept: list[Card] = []
    seen: set[tuple[str | None, str]] = set()
    # Most serious first; among equals, cards with buttons first (they host, they are not folded).
    for card in sorted(cards, key=lambda c: (_INDICATOR_ORDER[c.indicator], not c.suggestions)):
        about = card.about if isinstance(card, RuleCard) else ()
        keys = {(card.topic_code, ref) for ref in about}
        if keys and keys <= seen:
            continue
        seen |= keys
        kept.append(card)
    order_hook = hook in ("order-select", "order-sign")
    out: list[Card] = []
    for card in kept:
        about = set(card.about) if isinstance(card, RuleCard) else set()
        line = f"\n\nAlso: {card.summary}."
        host = None
        if about and not card.suggestions and card.indicator != "critical":
            host = next(
                (
                    c
                    for c in out
                    if isinstance(c, RuleCard)
                    and about <= set(c.about)
                    and len(c.detail or "") + len(line) <= DETAIL_MAX
                    and _may_host(c, card, order_hook)
                ),
                None,
            )
        if host is None:
            out.append(card)
            continue
        host.detail = (host.detail or "") + line
        _link_reasoning_of(card, host)
        if isinstance(card, RuleCard) and isinstance(host, RuleCard):
            host._fingerprint = fingerprint_of(host.fingerprint, (), (card.fingerprint,))
    return out


def _link_reasoning_of(card: Card, host: Card) -> None:
    """The folded line keeps its reasoning one click away: a link to its topic's guideline page
    (also how the alert-burden benchmark sees which concern a line carries)."""
    guide = next((link for link in card.links or () if link.url.startswith(f"{GUIDELINE_PATH}/")), None)
    if guide is None or card.source.topic is None:
        return
    label = f"Also: {card.source.topic.display or card.source.topic.code} (reasoning)"
    host.links = [*(host.links or []), guide.model_copy(update={"label": label})]


def _may_host(host: Card, card: Card, order_hook: bool) -> bool:
    if host.indicator == "critical":
        return True
    if not order_hook or card.indicator != "info":
        return False
    accompanies = isinstance(card, RuleCard) and card.accompanies
    return host.indicator == "warning" or (accompanies and bool(host.suggestions))


def _rule_error_card(topics: list[str]) -> Card:
    names = ", ".join(topics) if len(", ".join(topics)) <= 300 else f"{len(topics)} checks"
    return Card(
        summary="Review this order by hand: some muscle-spasm checks could not run",
        detail=(
            f"An internal error stopped these checks: **{escape_md(names)}**. "
            "Their absence from this list does not mean the order is safe. The error was logged."
        ),
        indicator="warning",
        source=Source(
            label=SOURCE_LABEL,
            url=f"{GUIDELINE_PATH}",
            topic=Coding(system=TOPIC_SYSTEM, code=RULE_ERROR_TOPIC, display="Checks that could not run"),
        ),
    )


# Prefetch keys whose absence matters only for a patient this service is about: on (or being ordered)
# a muscle relaxant, or with cramps (the electrolyte statements are about spasm and cramps).
_LAB_KEYS = frozenset({"potassium", "magnesium"})
_RELAXANT_ONLY_KEYS = frozenset({"renal", "conditions", "patient"})


def relevant_gaps(facts: PatientFacts) -> tuple[DataGap, ...]:
    """The data gaps that could change an answer (issue 12: "not checked" only where it matters).

    Medications that could not be had always matter (they may hold a relaxant or a partner drug),
    and so does a medication given by reference that was worth fetching. Labs, kidney function,
    conditions and age matter only when a muscle relaxant is current or being ordered, or (labs)
    when the patient has cramps: for anyone else no card could come of them.
    """
    if not facts.gaps:
        return ()
    drafts = [m for m in facts.drafts_in_scope + facts.other_drafts if not m.is_stop]
    relaxant = any(is_muscle_relaxant(m) for m in [*drafts, *facts.active_medications()])
    cramps = bool(facts.conditions_in(ConditionCategory.MUSCLE_CRAMPS))
    kept = []
    for gap in facts.gaps:
        if gap.prefetch_key in _LAB_KEYS and not (relaxant or cramps):
            continue
        if gap.prefetch_key in _RELAXANT_ONLY_KEYS and not relaxant:
            continue
        kept.append(gap)
    return tuple(kept)


def _gap_summary(whats: list[str]) -> str:
    """'Review in the chart: potassium results, magnesium results could not be retrieved', within
    `SUMMARY_MAX`: without the parenthesized details if need be, else counted."""
    for names in (whats, [re.sub(r"\s*\(.*?\)", "", w) for w in whats]):
        summary = "Review in the chart: " + ", ".join(names) + " could not be retrieved"
        if len(summary) <= SUMMARY_MAX:
            return summary
    return f"Review the chart: {len(whats)} kinds of patient data could not be retrieved, checks incomplete"


def _data_unavailable_card(gaps: tuple[DataGap, ...]) -> Card:
    lines = [f"- **{quote(g.what, 50)}**: {quote(g.reason, 100)}" for g in gaps]
    summary = _gap_summary(sorted({g.what for g in gaps}))
    intro = "The checks ran without this data; a missing warning does **not** mean there is no problem:\n"
    outro = "\n\nReview these items in the chart before signing."
    detail = intro + "\n".join(lines) + outro
    if len(detail) > DETAIL_MAX:
        detail = intro + "\n".join(lines[:2]) + f"\n- and {len(lines) - 2} more" + outro
    return Card(
        summary=summary,
        detail=detail,
        indicator="warning",
        source=Source(
            label=SOURCE_LABEL,
            url=f"{GUIDELINE_PATH}",
            topic=Coding(system=TOPIC_SYSTEM, code=DATA_UNAVAILABLE_TOPIC, display="Data that could not be checked"),
        ),
    )
