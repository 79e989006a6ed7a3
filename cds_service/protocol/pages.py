"""Static HTML pages for each rule's guideline statements (the target of every card's source.url)."""

from __future__ import annotations

from html import escape

from cds_service.cards import RULES, RULES_BY_TOPIC
from cds_service.cards.guideline import SOURCE_CAVEAT, SOURCE_TITLE, STATEMENTS
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS

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


def guideline_index() -> str:
    rules = "".join(
        f"<li><a href='/guideline/{escape(r.topic)}'>{escape(r.title)}</a> (<code>{escape(r.topic)}</code>)</li>"
        for r in RULES
    )
    statements = "".join(_statement_html(sid) for sid in STATEMENTS)
    return _page(
        SOURCE_TITLE,
        f"<h1>{escape(SOURCE_TITLE)}</h1><p>{escape(SOURCE_CAVEAT)}</p><h2>Rules</h2><ul>{rules}</ul>"
        f"<h2>Statements</h2>{statements}",
    )


def guideline_page(topic: str) -> str | None:
    rule = RULES_BY_TOPIC.get(topic)
    if rule is None:
        return None
    statements = "".join(_statement_html(sid) for sid in rule.statements)
    return _page(
        rule.title,
        f"<h1>{escape(rule.title)}</h1><p>Topic code <code>{escape(rule.topic)}</code>; hooks: "
        f"{escape(', '.join(sorted(rule.hooks)))}.</p><p>{escape(rule.describe(DEFAULT_THRESHOLDS))}</p>"
        f"<h2>Guideline statements applied</h2>{statements}<p>{escape(SOURCE_CAVEAT)}</p>"
        "<p><a href='/guideline'>All statements</a></p>",
    )
