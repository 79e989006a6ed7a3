"""albumin-liver-cramps from typed facts: cramps and cirrhosis both needed (issue 11: not fatty liver)."""

from __future__ import annotations

import pytest

from cds_service.cards.albumin_liver_cramps import RULE, evaluate
from cds_service.facts.model import ConditionCategory
from tests.support.facts import cond, facts, med, only
from tests.support.fhir import condition, draft, hook_request, magnesium, potassium
from tests.support.http import days_ago, post_hook, topics

CRAMPS = cond(ConditionCategory.MUSCLE_CRAMPS, "R25.2", "Cramp and spasm")
CIRRHOSIS = cond(ConditionCategory.CIRRHOSIS, "K70.30", "Alcoholic cirrhosis of liver")
FATTY_LIVER = cond(ConditionCategory.LIVER_DISEASE, "K76.0", "Fatty liver")
HEPATITIS = cond(ConditionCategory.ACTIVE_LIVER_DISEASE, "K73.9", "Chronic hepatitis")


RELAXANT = med(mg_per_day=10, draft=True)


def test_a_relaxant_ordered_for_cramps_in_cirrhosis() -> None:
    card = only(evaluate(facts(drafts=(RELAXANT,), conditions=(CRAMPS, CIRRHOSIS))))
    assert card.indicator == "info"
    assert card.topic_code == "albumin-liver-cramps"
    assert "albumin 20-40 g/week" in card.summary.lower()
    assert "EASL 2018" in card.source.label
    assert "Alcoholic cirrhosis of liver" in card.detail
    assert "summary, statement S9" in card.source.label.replace("statements", "statement")


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_order_hooks_fire_when_a_relaxant_is_ordered(hook: str) -> None:
    assert only(evaluate(facts(hook, drafts=(med(mg_per_day=10, draft=True),), conditions=(CRAMPS, CIRRHOSIS))))
    unrelated = med("lisinopril", 10, draft=True)
    assert evaluate(facts(hook, drafts=(unrelated,), conditions=(CRAMPS, CIRRHOSIS))) == []


@pytest.mark.parametrize(
    "conditions",
    [(CRAMPS,), (CIRRHOSIS,), (), (CRAMPS, FATTY_LIVER), (CRAMPS, HEPATITIS)],
    ids=["cramps-only", "liver-only", "none", "fatty-liver", "hepatitis-alone"],
)
def test_quiet_without_both_conditions(conditions) -> None:
    assert evaluate(facts(drafts=(RELAXANT,), conditions=conditions)) == []


def test_quiet_when_already_on_albumin_and_on_chart_opening() -> None:
    albumin = med("albumin human", None, display="Albumin Human 25 % Injectable Solution")
    assert evaluate(facts(drafts=(RELAXANT,), conditions=(CRAMPS, CIRRHOSIS), meds=(albumin,))) == []
    # Issue 12: nothing here needs action at a chart opening; the card waits for a cramp treatment order.
    assert evaluate(facts("patient-view", conditions=(CRAMPS, CIRRHOSIS), meds=(med(mg_per_day=10),))) == []
    assert RULE.hooks == {"order-select", "order-sign"}


# --------------------------------------------------------------------------- FHIR through HTTP


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_e2e_cramps_with_cirrhosis(client, hook: str) -> None:
    """Recent potassium and magnesium: no lab-request card to carry albumin as a line (see
    tests/e2e/test_electrolytes.py for that case), so it is a card of its own."""
    conditions = [condition("R25.2", "Cramp and spasm"), condition("K70.30", "Alcoholic cirrhosis of liver")]
    drafts = [draft("197391", "baclofen 10 MG Oral Tablet", dose=5, frequency=2)]
    labs = {"potassium_results": [potassium(4.0, days_ago(2))], "magnesium_results": [magnesium(2.0, days_ago(2))]}
    body = post_hook(client, hook_request(hook, drafts=drafts, conditions=conditions, **labs))
    assert topics(body) == ["albumin-liver-cramps"]
    # Cramps without liver disease: quiet.
    quiet = post_hook(client, hook_request(hook, drafts=drafts, conditions=conditions[:1], **labs))
    assert "albumin-liver-cramps" not in topics(quiet)
