"""Runs the rules over one patient's facts and assembles the cards of one response.

A failing rule must not silence the others, and must not look like "all clear": it becomes an
info card saying which check could not run. Data the edge could not obtain (FHIR server down,
OperationOutcome in prefetch) becomes one card listing what was not checked.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from pydantic import PrivateAttr

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
from cds_service.cards.suggestions import MEDICATION_ONLY, SuggestionStyle, for_client
from cds_service.cards.text import escape_md, quote
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, Thresholds
from cds_service.cdshooks import ORDER_HOOKS, Card, Coding, Indicator, Source
from cds_service.facts.judgment import suggestion_outside
from cds_service.facts.model import ConditionCategory, DataGap, MedicationFact, PatientFacts

log = logging.getLogger("cds_service.engine")

DATA_UNAVAILABLE_TOPIC = "data-unavailable"
RULE_ERROR_TOPIC = "check-failed"

_INDICATOR_ORDER = {"critical": 0, "warning": 1, "info": 2}


@dataclass
class Evaluation:
    cards: list[Card] = field(default_factory=list)
    rule_errors: list[str] = field(default_factory=list)  # topic codes whose rule raised


def evaluate(
    facts: PatientFacts,
    rules: tuple[Rule, ...] | None = None,
    thresholds: Thresholds = DEFAULT_THRESHOLDS,
    *,
    suggestions: SuggestionStyle = MEDICATION_ONLY,
) -> Evaluation:
    """The cards of one call: every rule for this hook, critical first, then what could not run.
    `suggestions`, how the client applies one (clients file): a button it would not apply is a line."""
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
            collected.add(for_client(keep_doses_inside_judgment(card, facts, thresholds), suggestions))
    for card in gap_cards(relevant_gaps(facts)):
        collected.add(card)
    cards = sorted(one_concern_per_card(collected.cards, facts.hook), key=lambda c: _INDICATOR_ORDER[c.indicator])
    if result.rule_errors:
        cards.append(_rule_error_card(result.rule_errors))
    result.cards = cards
    return result


# The electrolyte topics: one card for potassium, magnesium and the labs to check (issue 20: each
# card told to check the other).
ELECTROLYTE_TOPICS = (
    "electrolyte-potassium",
    "electrolyte-magnesium",
    "electrolyte-monitoring",
    "electrolyte-correction",
)
MAX_CARDS_PER_ORDER = 2  # beside criticals, which always have their own card


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
    """Few cards per order, each about what matters most; the other concerns as lines ("Also: ...").

    - one card per topic per order;
    - potassium, magnesium and the labs to check make one card (the most serious hosts the others);
    - a critical card about an order has nothing beside it about that order but other criticals: a
      drug that must not be given makes a lesser concern about it secondary, on every hook (the chart
      and the order say the same; tried in the sandbox, "Stop cyclobenzaprine: contraindicated" stood
      beside "Limit cyclobenzaprine to 21 days"); its buttons go, a limit on a drug not to give is moot;
    - on order hooks an info card without buttons is a line in a warning about the same orders (or in
      an info card with buttons when its rule `accompanies`: albumin beside the lab request), and an
      order has at most `MAX_CARDS_PER_ORDER` other cards: a third concern is a line in its first
      card, with its buttons.

    A line keeps its reasoning link and override reasons, and changes the host's fingerprint: an
    override of the card with the line is not an override of the card without it.
    """
    kept: list[Card] = []
    seen: set[tuple[str | None, str]] = set()
    # Most serious first; among equals, cards with buttons first (they host, they are not folded).
    for card in sorted(cards, key=lambda c: (_INDICATOR_ORDER[c.indicator], not c.suggestions)):
        refs = card.about if isinstance(card, RuleCard) else ()
        keys = {(card.topic_code, ref) for ref in refs}
        if keys and keys <= seen:
            continue
        seen |= keys
        kept.append(card)
    kept = _one_electrolyte_card(kept)
    order_hook = hook in ("order-select", "order-sign")
    out: list[Card] = []
    by_order: dict[str, list[Card]] = {}
    for card in kept:
        about = set(card.about) if isinstance(card, RuleCard) else set()
        host, buttons = _host_for(card, about, out, by_order, order_hook)
        if host is None:
            out.append(card)
            for ref in about:
                by_order.setdefault(ref, []).append(card)
            continue
        fold_into(host, card, keep_buttons=buttons)
    return out


def _host_for(
    card: Card, about: set[str], out: list[Card], by_order: dict[str, list[Card]], order_hook: bool
) -> tuple[Card | None, bool]:
    """The card `card` becomes a line in, and whether its buttons go along; (None, _): its own card."""
    if not about or card.indicator == "critical":
        return None, False
    critical = next(
        (c for c in out if c.indicator == "critical" and isinstance(c, RuleCard) and about & set(c.about)), None
    )
    if critical is not None:
        return critical, False
    if card.topic_code == DATA_UNAVAILABLE_TOPIC:  # a missing datum: a line in its drug's card, any hook
        drug_card = next(
            (c for c in out if c.indicator == "warning" and isinstance(c, RuleCard) and about <= set(c.about)), None
        )
        if drug_card is not None:
            return drug_card, False
    if not order_hook:
        return None, False
    if not card.suggestions:
        host = next((c for c in out if isinstance(c, RuleCard) and about <= set(c.about) and _may_host(c, card)), None)
        if host is not None:
            return host, False
    full = next((ref for ref in sorted(about) if len(by_order.get(ref, ())) >= MAX_CARDS_PER_ORDER), None)
    if full is not None:
        return by_order[full][0], True
    return None, False


def _one_electrolyte_card(cards: list[Card]) -> list[Card]:
    """Potassium, magnesium and the lab request in one card: the first (most serious) hosts the others."""
    host: Card | None = None
    out: list[Card] = []
    for card in cards:
        if card.topic_code not in ELECTROLYTE_TOPICS:
            out.append(card)
        elif host is None:
            host = card
            out.append(card)
        else:
            fold_into(host, card, keep_buttons=True)
            if isinstance(host, RuleCard) and isinstance(card, RuleCard):
                host._about = tuple(dict.fromkeys((*host.about, *card.about)))
    return out


def fold_into(host: Card, card: Card, *, keep_buttons: bool) -> None:
    """`card` as a line of `host`: its summary, its reasoning link, its override reasons (and buttons)."""
    line = f"\n\nAlso: {card.line if isinstance(card, GapCard) else card.summary}."
    if len(host.detail or "") + len(line) > DETAIL_MAX:
        title = card.source.topic.display if card.source.topic is not None else None
        line = f"\n\nAlso: {title or card.summary} (see its reasoning)."
    # the lines the folded card already carried come along (a potassium line in the magnesium card)
    carried = [part for part in (card.detail or "").split("\n\n") if part.startswith("Also: ")]
    for text in [line, *(f"\n\n{part}" for part in carried)]:
        if len(host.detail or "") + len(text) <= DETAIL_MAX:
            host.detail = (host.detail or "") + text
    _link_reasoning_of(card, host)
    host.links = [*(host.links or []), *(link for link in card.links or () if link.label.startswith("Also: "))]
    reasons = {r.code for r in host.overrideReasons or ()}
    extra = [r for r in card.overrideReasons or () if r.code not in reasons]
    if extra:
        host.overrideReasons = [*(host.overrideReasons or ()), *extra]
    if keep_buttons and card.suggestions:
        host.suggestions = [*(host.suggestions or ()), *card.suggestions]
        host.selectionBehavior = "any"
    if isinstance(card, RuleCard) and isinstance(host, RuleCard):
        host._fingerprint = fingerprint_of(host.fingerprint, (), (card.fingerprint,))


def _link_reasoning_of(card: Card, host: Card) -> None:
    """The folded line keeps its reasoning one click away: a link to its topic's guideline page
    (also how the alert-burden benchmark sees which concern a line carries)."""
    guide = next((link for link in card.links or () if link.url.startswith(f"{GUIDELINE_PATH}/")), None)
    if guide is None or card.source.topic is None:
        return
    label = f"Also: {card.source.topic.display or card.source.topic.code} (reasoning)"
    host.links = [*(host.links or []), guide.model_copy(update={"label": label})]


def _may_host(host: Card, card: Card) -> bool:
    """On order hooks: an info card without buttons is a line in a warning, or in an info card with
    buttons when its rule `accompanies` (albumin beside the lab request)."""
    if card.indicator != "info":
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


# What each missing datum feeds (issue 19, item 9): "not checked" only where it could change a check for
# a drug in scope, and then at most information, except where it could hide a critical card.
_LAB_KEYS = frozenset({"potassium", "magnesium"})
_MEDICATIONS_KEY = "medications"


@dataclass(frozen=True, slots=True)
class RelevantGap:
    """A data gap that could change an answer, how serious its absence is, and the orders it is about."""

    gap: DataGap
    indicator: str  # "warning" or "info"
    about: tuple[MedicationFact, ...] = ()


def _orders_in_scope(facts: PatientFacts) -> tuple[MedicationFact, ...]:
    """The orders this call speaks about: the drafts in scope (stops aside), or on a chart the current ones."""
    if facts.hook in ORDER_HOOKS:
        return tuple(m for m in facts.drafts_in_scope if not m.is_stop)
    return facts.active_medications()


def _kidney_checked(order: MedicationFact) -> bool:
    """Kidney function feeds a check of this order: oral baclofen (renally cleared) or tizanidine (CrCl)."""
    return (order.has("baclofen") and order.is_oral) or order.has("tizanidine")


def _hides_a_critical_contraindication(order: MedicationFact) -> bool:
    """Missing conditions could hide a critical card about this order: cyclobenzaprine's cardiac and thyroid
    contraindications, oral dantrolene in active liver disease."""
    return order.has("cyclobenzaprine") or (order.has("dantrolene") and order.is_oral)


def relevant_gaps(facts: PatientFacts) -> tuple[RelevantGap, ...]:
    """The data gaps that could change an answer, each with its indicator (issues 12 and 19).

    Medications that could not be had are a warning whoever the patient (they may hold a relaxant, or
    an MAOI beside one), and so is a medication given by reference that was worth fetching. The other
    data matter only for the drugs in scope whose checks they feed, as information: kidney function for
    oral baclofen and tizanidine (not intrathecal baclofen, not cyclobenzaprine: their labels carry no
    renal adjustment); potassium and magnesium for any relaxant, or on a chart for cramps or spasm on the
    problem list; age for any relaxant (Beers, pediatric labels, CKD-EPI). Conditions feed every relaxant's
    indication, and stay a warning beside cyclobenzaprine or oral dantrolene, where they could hide a
    critical contraindication.
    """
    if not facts.gaps:
        return ()
    orders = _orders_in_scope(facts)
    relaxants = tuple(m for m in orders if is_muscle_relaxant(m))
    kept: list[RelevantGap] = []
    for gap in facts.gaps:
        key = gap.prefetch_key
        if key is None or key == _MEDICATIONS_KEY:
            kept.append(RelevantGap(gap, "warning"))
        elif key == "renal":
            fed = tuple(m for m in relaxants if _kidney_checked(m))
            if fed:
                kept.append(RelevantGap(gap, "info", fed))
        elif key in _LAB_KEYS:
            spasm = facts.hook not in ORDER_HOOKS and bool(
                facts.conditions_in(ConditionCategory.MUSCLE_CRAMPS, ConditionCategory.MUSCLE_SPASM)
            )
            if relaxants or spasm:
                kept.append(RelevantGap(gap, "info", relaxants))
        elif key == "conditions" and relaxants:
            serious = any(_hides_a_critical_contraindication(m) for m in relaxants)
            kept.append(RelevantGap(gap, "warning" if serious else "info", relaxants))
        elif relaxants:  # the patient's age, and any key added later: for the relaxants in scope
            kept.append(RelevantGap(gap, "info", relaxants))
    return tuple(kept)


def gap_cards(gaps: tuple[RelevantGap, ...]) -> list[Card]:
    """One card naming every gap: a warning when one of them could hide a warning, else information about
    the orders the data feed (the engine then makes it a line in the card about those orders, if any)."""
    if not gaps:
        return []
    if any(g.indicator == "warning" for g in gaps):
        return [_data_unavailable_card(tuple(g.gap for g in gaps))]
    about = tuple(dict.fromkeys(m for g in gaps for m in g.about))
    return [_data_unavailable_card(tuple(g.gap for g in gaps), indicator="info", about=about)]


def _gap_summary(whats: list[str]) -> str:
    """'Review in the chart: potassium results, magnesium results could not be retrieved', within
    `SUMMARY_MAX`: without the parenthesized details if need be, else counted."""
    for names in (whats, [re.sub(r"\s*\(.*?\)", "", w) for w in whats]):
        summary = "Review in the chart: " + ", ".join(names) + " could not be retrieved"
        if len(summary) <= SUMMARY_MAX:
            return summary
    return f"Review the chart: {len(whats)} kinds of patient data could not be retrieved, checks incomplete"


def _data_unavailable_card(
    gaps: tuple[DataGap, ...], *, indicator: Indicator = "warning", about: tuple[MedicationFact, ...] = ()
) -> Card:
    lines = [f"- **{quote(g.what, 50)}**: {quote(g.reason, 100)}" for g in gaps]
    summary = _gap_summary(sorted({g.what for g in gaps}))
    intro = "The checks ran without this data; a missing warning does **not** mean there is no problem:\n"
    outro = "\n\nReview these items in the chart before signing."
    detail = intro + "\n".join(lines) + outro
    if len(detail) > DETAIL_MAX:
        detail = intro + "\n".join(lines[:2]) + f"\n- and {len(lines) - 2} more" + outro
    card = GapCard(
        summary=summary,
        detail=detail,
        indicator=indicator,
        source=Source(
            label=SOURCE_LABEL,
            url=f"{GUIDELINE_PATH}",
            topic=Coding(system=TOPIC_SYSTEM, code=DATA_UNAVAILABLE_TOPIC, display="Data that could not be checked"),
        ),
    )
    # About the orders the missing data feed: an information card becomes a line in their own card.
    # No fingerprint: a notice of missing data is never held back by an override (routes.card_fingerprint).
    card._about = tuple(dict.fromkeys(m.reference for m in about))
    card._line = "not checked: " + "; ".join(f"{quote(g.what, 50)} ({quote(g.reason, 100)})" for g in gaps)
    return card


class GapCard(RuleCard):
    """The data-unavailable card; `line` is what it says as a line in its drug's card (with the reasons)."""

    _line: str = PrivateAttr(default="")

    @property
    def line(self) -> str:
        return self._line
