"""order-unreadable from typed facts: an in-scope order with problems is never "all clear"."""

from __future__ import annotations

from cds_service.cards.order_unreadable import RULE, evaluate
from tests.support.facts import facts, med, only


def test_an_unreadable_draft_gets_a_warning_naming_what_was_not_read() -> None:
    draft = med(mg_per_day=None, draft=True, problems=("authoredOn has no timezone", "dose <b>NaN</b>"))
    card = only(evaluate(facts(drafts=(draft,))))
    assert card.indicator == "warning"
    assert card.topic_code == "order-unreadable"
    assert "authoredOn has no timezone" in card.detail
    assert "<b>" not in card.detail
    assert "did **not** run" in card.detail


def test_readable_orders_and_stops_are_quiet() -> None:
    assert evaluate(facts(drafts=(med(mg_per_day=30, draft=True),))) == []
    stop = med(mg_per_day=None, draft=True, status="stopped", problems=("dose NaN",))
    assert evaluate(facts(drafts=(stop,))) == []


def test_patient_view_names_a_current_unreadable_order() -> None:
    current = med("tizanidine", None, problems=("frequency 0",))
    assert "frequency 0" in only(evaluate(facts("patient-view", meds=(current,)))).detail
    assert RULE.statements == ("S23",)
