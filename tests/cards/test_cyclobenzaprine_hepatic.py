"""cyclobenzaprine-hepatic (FDA cyclobenzaprine IR and Amrix labels; issue 19, item 7) on typed facts.

Each quiet case sits beside its firing case: the label's own dose in mild impairment, fatty liver
alone, a stop, no liver condition.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from cds_service.cards.cyclobenzaprine_hepatic import evaluate
from cds_service.cards.thresholds import Thresholds
from cds_service.facts.model import ConditionCategory as Cat
from tests.support.facts import T, actions, cond, facts, med, only

CIRRHOSIS = replace(cond(Cat.CIRRHOSIS, "K74.60", "Unspecified cirrhosis of liver"),
                    categories=frozenset({Cat.CIRRHOSIS, Cat.ACTIVE_LIVER_DISEASE, Cat.LIVER_DISEASE}))  # fmt: skip
ASCITES_CIRRHOSIS = replace(
    cond(Cat.CIRRHOSIS, "K70.31", "Alcoholic cirrhosis of liver with ascites"),
    categories=frozenset(
        {Cat.CIRRHOSIS, Cat.ACTIVE_LIVER_DISEASE, Cat.LIVER_DISEASE, Cat.HEPATIC_DECOMPENSATION, Cat.ASCITES}
    ),
)
FATTY_LIVER = cond(Cat.LIVER_DISEASE, "K76.0", "Fatty (change of) liver")


def ir(mg_per_day: float | None, **kw: object) -> object:
    return med(
        "cyclobenzaprine", mg_per_day, draft=True, display="Cyclobenzaprine hydrochloride 5 MG Oral Tablet", **kw
    )


def amrix(**kw: object) -> object:
    return med(
        "cyclobenzaprine",
        15,
        draft=True,
        extended_release=True,
        display="24 HR Cyclobenzaprine hydrochloride 15 MG Extended Release Oral Capsule [Amrix]",
        **kw,
    )


@pytest.mark.parametrize("liver", [CIRRHOSIS, ASCITES_CIRRHOSIS], ids=["mild", "moderate-severe"])
def test_amrix_is_not_recommended_in_any_hepatic_impairment(liver: object) -> None:
    card = only(evaluate(facts(drafts=[amrix()], conditions=[liver])))
    assert card.indicator == "warning"
    assert card.summary.startswith("Avoid extended-release cyclobenzaprine")
    assert "not recommended in any hepatic impairment, mild included" in card.detail
    assert "FDA Amrix label" in card.detail
    [action] = actions(card)
    assert action.type == "delete" and action.resourceId == ["MedicationRequest/draft-cyclobenzaprine"]


def test_amrix_in_mild_impairment_points_to_immediate_release_5_mg_but_not_in_decompensation() -> None:
    assert "immediate release 5 mg" in only(evaluate(facts(drafts=[amrix()], conditions=[CIRRHOSIS]))).detail
    severe = only(evaluate(facts(drafts=[amrix()], conditions=[ASCITES_CIRRHOSIS])))
    assert "immediate release 5 mg" not in severe.detail
    assert "moderate to severe" in severe.summary


def test_immediate_release_in_moderate_to_severe_impairment_is_not_recommended_whatever_the_dose() -> None:
    card = only(evaluate(facts(drafts=[ir(5)], conditions=[ASCITES_CIRRHOSIS])))
    assert (card.indicator, card.summary) == (
        "warning", "Avoid cyclobenzaprine: moderate to severe hepatic impairment (label: not recommended)")  # fmt: skip
    assert "K70.31" in card.detail


def test_mild_impairment_threshold_edge() -> None:
    """15 mg/day (5 mg three times a day) is the label's dose: quiet; anything above is a warning."""
    assert evaluate(facts(drafts=[ir(T.cyclobenzaprine_mild_hepatic_max_mg_per_day)], conditions=[CIRRHOSIS])) == []
    card = only(
        evaluate(facts(drafts=[ir(T.cyclobenzaprine_mild_hepatic_max_mg_per_day + 0.5)], conditions=[CIRRHOSIS]))
    )
    assert card.indicator == "warning"
    assert card.summary == "Lower cyclobenzaprine to 5 mg per dose, less often: mild hepatic impairment"
    assert "**15.5 mg/day** ordered" in card.detail and "at most 15 mg/day" in card.detail
    assert card.suggestions is None  # no dose offered in one click: the judgment of the dose is the prescriber's


def test_a_site_threshold_moves_the_edge() -> None:
    stricter = Thresholds(cyclobenzaprine_mild_hepatic_max_mg_per_day=10)
    assert only(evaluate(facts(drafts=[ir(15)], conditions=[CIRRHOSIS]), stricter)).indicator == "warning"


def test_mild_impairment_with_a_dose_that_cannot_be_read_is_information() -> None:
    card = only(evaluate(facts(drafts=[ir(None)], conditions=[CIRRHOSIS])))
    assert card.indicator == "info" and "dose not computed" in card.summary


@pytest.mark.parametrize("conditions", [[], [FATTY_LIVER]], ids=["no-liver-condition", "fatty-liver-only"])
def test_quiet_without_hepatic_impairment(conditions: list) -> None:
    assert evaluate(facts(drafts=[amrix(), ir(30)], conditions=conditions)) == []


def test_quiet_on_a_stop_and_for_other_relaxants() -> None:
    stop = med("cyclobenzaprine", 15, draft=True, status="stopped", extended_release=True)
    assert evaluate(facts(drafts=[stop], conditions=[ASCITES_CIRRHOSIS])) == []
    assert evaluate(facts(drafts=[med("methocarbamol", 3000, draft=True)], conditions=[ASCITES_CIRRHOSIS])) == []


def test_chart_opening_speaks_only_where_a_change_is_needed() -> None:
    held_amrix = replace(amrix(), is_draft=False, status="active", reference="MedicationRequest/amrix-1")
    card = only(evaluate(facts("patient-view", meds=[held_amrix], conditions=[CIRRHOSIS])))
    assert card.indicator == "warning" and card.suggestions is None  # no draft to remove on a chart
    unknown = replace(ir(None), is_draft=False, status="active", reference="MedicationRequest/ir-1")
    assert evaluate(facts("patient-view", meds=[unknown], conditions=[CIRRHOSIS])) == []
