"""max-daily-dose from typed facts: each relaxant's label maximum, quiet at it."""

from __future__ import annotations

import pytest

from cds_service.cards.max_daily_dose import RULE, evaluate
from cds_service.facts.model import OrderRelation
from tests.support.facts import continues, facts, med, only


@pytest.mark.parametrize(
    ("ingredient", "limit"),
    [
        ("cyclobenzaprine", 30),
        ("tizanidine", 36),
        ("methocarbamol", 8000),
        ("carisoprodol", 1400),
        ("metaxalone", 3200),
        ("orphenadrine", 200),
        ("chlorzoxazone", 3000),
        ("dantrolene", 400),
    ],
)
def test_label_maximum_edges(ingredient: str, limit: float) -> None:
    assert evaluate(facts(drafts=(med(ingredient, limit, draft=True),))) == []
    card = only(evaluate(facts(drafts=(med(ingredient, limit + 0.01, draft=True),))))
    assert card.indicator == "warning"
    assert card.topic_code == "max-daily-dose"
    assert card.summary.startswith(f"Lower {ingredient} to")


def test_extended_release_cyclobenzaprine_and_children_are_checked() -> None:
    er = med("cyclobenzaprine", 45, draft=True, extended_release=True)
    assert "extended-release" in only(evaluate(facts(drafts=(er,)))).detail
    assert only(evaluate(facts(age=10, drafts=(med("tizanidine", 40, draft=True),)))).indicator == "warning"


def test_a_continued_order_is_not_counted_twice_and_baclofen_is_not_here() -> None:
    current = med("tizanidine", 24)
    draft = med("tizanidine", 24, draft=True)
    renewal = continues(draft, OrderRelation.RENEWAL, current)
    assert evaluate(facts(drafts=(draft,), meds=(current,), continuations=renewal)) == []
    assert evaluate(facts(drafts=(med("baclofen", 120, draft=True),))) == []


def test_older_tizanidine_patient_gets_the_start_low_line_in_the_dose_card() -> None:
    card = only(evaluate(facts(age=70, drafts=(med("tizanidine", 40, draft=True),))))
    assert "start low" in card.detail
    assert RULE.hooks == {"order-select", "order-sign"}
