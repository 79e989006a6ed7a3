"""Static HTML pages for each rule (the target of every card's source.url and first link).

A card carries the patient's numbers, one recommendation and one citation line; its rule's page
carries the rest: what the rule checks, the full reasoning and label wording, how the dose is worked
out, the values in force and every guideline statement applied, with what the labels say beside it.
"""

from __future__ import annotations

from html import escape

from cds_service.cards import RULES, RULES_BY_TOPIC
from cds_service.cards.base import Rule
from cds_service.cards.guideline import SOURCE_CAVEAT, SOURCE_TITLE, STATEMENTS
from cds_service.cards.text import fmt_number
from cds_service.cards.thresholds import Thresholds
from cds_service.ruleset import DEFAULT_RULE_SET, RuleSet, threshold_unit

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.5}"
    "blockquote{border-left:4px solid #888;margin:1rem 0;padding:.2rem 1rem;background:#f6f6f6}"
    ".label{color:#6a3d00}"
)


def _page(title: str, body: str) -> str:
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _statement_html(statement_id: str) -> str:
    s = STATEMENTS[statement_id]
    note = (
        f"<p class=label><b>Checked against the FDA label / Beers 2023 — where they say more, cards follow them:</b> "
        f"{escape(s.label_note)}</p>"
        if s.label_note
        else "<p class=label><b>Checked against the labels:</b> no stricter statement found.</p>"
    )
    applies = f"<p><b>Applies to:</b> {escape(s.applies_to or 'any indication')}</p>"
    scope = f"<p><b>Not applied:</b> {escape(s.out_of_scope)}</p>" if s.out_of_scope else ""
    return (
        f"<blockquote id={escape(s.id)}><p><b>Muscle-spasm treatment summary, statement {escape(s.id)}</b> — "
        f"<i>{escape(s.section)}</i></p>"
        f"<p>{escape(s.text)} [{escape(s.source_refs)}]</p>{applies}{note}{scope}</blockquote>"
    )


def guideline_index(rule_set: RuleSet = DEFAULT_RULE_SET) -> str:
    off = set(rule_set.disabled)
    rules = "".join(
        f"<li><a href='/guideline/{escape(r.topic)}'>{escape(r.title)}</a> (<code>{escape(r.topic)}</code>)"
        + (" — <b>switched off at this site</b>" if r.topic in off else "")
        + "</li>"
        for r in RULES
    )
    statements = "".join(_statement_html(sid) for sid in STATEMENTS)
    return _page(
        SOURCE_TITLE,
        f"<h1>{escape(SOURCE_TITLE)}</h1><p>{escape(SOURCE_CAVEAT)}</p><h2>Rules</h2><ul>{rules}</ul>"
        f"<h2>Statements</h2>{statements}",
    )


def _values_in_force(rule: Rule, rule_set: RuleSet) -> str:
    if not rule.thresholds:
        return ""
    rows = "".join(
        f"<tr><td><code>{escape(name)}</code></td><td>{escape(fmt_number(getattr(rule_set.thresholds, name)))} "
        f"{escape(threshold_unit(name))}</td><td>{escape(Thresholds.model_fields[name].description or '')}</td></tr>"
        for name in rule.thresholds
    )
    return f"<h2>Values in force</h2><table><tr><th>Setting</th><th>Value</th><th>Source</th></tr>{rows}</table>"


def guideline_page(topic: str, rule_set: RuleSet = DEFAULT_RULE_SET) -> str | None:
    rule = RULES_BY_TOPIC.get(topic)
    if rule is None:
        return None
    effective = next((r for r in rule_set.rules if r.topic == topic), None)
    state = (
        f"hooks: {escape(', '.join(sorted(effective.hooks)))}"
        if effective is not None
        else "<b>switched off at this site</b>"
    )
    statements = "".join(_statement_html(sid) for sid in rule.statements)
    reasoning = "".join(f"<p>{escape(p)}</p>" for p in rule.explain(rule_set.thresholds))
    return _page(
        rule.title,
        f"<h1>{escape(rule.title)}</h1><p>Topic code <code>{escape(rule.topic)}</code>; {state}.</p>"
        f"<p>{escape(rule.describe(rule_set.thresholds))}</p>"
        + (f"<h2>Why, in full</h2>{reasoning}" if reasoning else "")
        + f"{_values_in_force(rule, rule_set)}"
        f"<h2>Guideline statements applied</h2>{statements}<p>{escape(SOURCE_CAVEAT)}</p>"
        "<p><a href='/guideline'>All statements</a></p>",
    )
