"""pediatric-caution from typed facts: each label's age edge; adults and renewals quiet."""

from __future__ import annotations

import pytest

from cds_service.cards.pediatric_caution import RULE, evaluate
from cds_service.facts.model import OrderRelation
from tests.support.facts import continues, facts, med, only


@pytest.mark.parametrize(
    ("ingredient", "below"),
    [
        ("baclofen", 12),
        ("cyclobenzaprine", 15),
        ("methocarbamol", 16),
        ("carisoprodol", 16),
        ("metaxalone", 13),
        ("orphenadrine", 17),
        ("chlorzoxazone", 17),
        ("tizanidine", 17),
        ("dantrolene", 5),
    ],
)
def test_label_age_edges(ingredient: str, below: int) -> None:
    card = only(evaluate(facts(age=below - 1, drafts=(med(ingredient, draft=True),))))
    assert card.indicator == "warning"
    assert card.topic_code == "pediatric-caution"
    assert "weight" in card.detail
    quiet = evaluate(facts(age=below, drafts=(med(ingredient, draft=True),)))
    assert all(c.indicator == "info" for c in quiet)  # dantrolene from 5: weight-based dosing info


def test_extended_release_cyclobenzaprine_in_any_child() -> None:
    er = med("cyclobenzaprine", draft=True, extended_release=True)
    assert only(evaluate(facts(age=16, drafts=(er,)))).indicator == "warning"


def test_dantrolene_from_5_is_info_on_weight_based_dosing() -> None:
    card = only(evaluate(facts(age=8, drafts=(med("dantrolene", 50, draft=True),))))
    assert card.indicator == "info" and "0.5 mg/kg" in card.detail


def test_adults_unknown_age_and_renewals_are_quiet() -> None:
    assert evaluate(facts(age=40, drafts=(med("baclofen", draft=True),))) == []
    assert evaluate(facts(age=None, drafts=(med("baclofen", draft=True),))) == []
    current = med("baclofen")
    draft = med("baclofen", draft=True)
    renewal = continues(draft, OrderRelation.RENEWAL, current)
    assert evaluate(facts(age=8, drafts=(draft,), meds=(current,), continuations=renewal)) == []
    assert RULE.hooks == {"order-select", "order-sign"}
