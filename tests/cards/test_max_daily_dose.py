"""max-daily-dose from typed facts: each relaxant's label maximum, quiet at it."""

from __future__ import annotations

import pytest

from cds_service.cards.max_daily_dose import RULE, evaluate
from cds_service.facts.model import OrderRelation, Route
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


def test_iv_dantrolene_for_malignant_hyperthermia_gets_no_oral_maximum() -> None:
    """Issue 19, item 1: 2.5 mg/kg repeated (175 mg a dose at 70 kg, 700 mg in a day) is the IV label's
    antidote dosing; the oral 400 mg/day maximum never applies to it. The oral capsule beside it does."""
    iv = med("dantrolene", 700, draft=True, route=Route.INJECTION, display="dantrolene sodium 20 MG Injection")
    assert evaluate(facts(drafts=(iv,))) == []
    oral = med(
        "dantrolene", 500, draft=True, ref="MedicationRequest/oral-dan", display="dantrolene 100 MG Oral Capsule"
    )
    card = only(evaluate(facts(drafts=(iv, oral))))
    assert "500 mg/day" in card.detail and "700" not in card.detail  # the IV dose is not added to the oral total


def test_amrix_in_cirrhosis_names_no_dose_the_judgment_rules_out() -> None:
    from cds_service.facts.model import ConditionCategory
    from tests.support.facts import cond

    amrix = med("cyclobenzaprine", 45, draft=True, extended_release=True, display="Amrix 15 MG ER Capsule")
    card = only(evaluate(facts(drafts=(amrix,), conditions=(cond(ConditionCategory.CIRRHOSIS, "K74.60"),))))
    assert card.summary.startswith("Review cyclobenzaprine: 45 mg/day") and "30 mg/day or less" not in card.summary
    assert "not recommended in hepatic impairment" in card.detail
    assert only(evaluate(facts(drafts=(amrix,)))).summary.startswith("Lower cyclobenzaprine to 30 mg/day")
