"""baclofen-titration from typed facts: every threshold edge of the plan and the label maximum."""

from __future__ import annotations

import pytest

from cds_service.cards.baclofen_titration import RULE, evaluate
from cds_service.facts.model import ConditionCategory, Route
from tests.support.facts import ago, cond, dose_of, facts, history, med, only


def _start(mg: float) -> list:
    return evaluate(facts(drafts=(med(mg_per_day=mg, draft=True),)))


def _increase(current: float, new: float, days_since_change: float = 10, hours: float = 0) -> list:
    changed = ago(days_since_change, hours)
    existing = med(mg_per_day=current, start=changed)
    return evaluate(
        facts(
            drafts=(med(mg_per_day=new, draft=True),),
            meds=(existing,),
            dose_histories=history(current, changed),
        )
    )


def test_rule_is_registered_for_order_hooks_only() -> None:
    from cds_service.cards import RULES_BY_TOPIC

    assert RULES_BY_TOPIC["baclofen-titration"] is RULE
    assert RULE.hooks == {"order-select", "order-sign"}


@pytest.mark.parametrize(("mg", "indicator"), [(5, "info"), (10, "info"), (10.01, "warning"), (30, "warning")])
def test_start_dose_edge_at_10_mg_per_day(mg: float, indicator: str) -> None:
    card = only(_start(mg))
    assert card.indicator == indicator
    assert card.topic_code == "baclofen-titration"
    if indicator == "warning":
        assert "start above 10 mg/day" in card.summary
        suggested = card.suggestions[0].actions[0]
        assert suggested.type == "update"
        assert suggested.resource["id"] == "draft-baclofen"
        assert dose_of(suggested.resource) == (5, 2)  # 10 mg/day as 5 mg twice daily


def test_compliant_start_gives_the_plan_and_the_date_the_next_step_is_due() -> None:
    card = only(_start(10))
    assert card.indicator == "info"
    assert "step 1 of 3" in card.summary
    assert "2026-12-02" in card.summary  # now + 7 days
    assert "10 → 20 → 30" in card.detail
    assert card.suggestions is None


@pytest.mark.parametrize(("new", "fires"), [(20, False), (20.01, True), (30, True)])
def test_step_edge_at_plus_10_mg_per_day(new: float, fires: bool) -> None:
    card = only(_increase(10, new))
    if fires:
        assert card.indicator == "warning"
        assert "exceeds +10 mg/day" in card.summary
        assert "10 → " in card.summary
        assert dose_of(card.suggestions[0].actions[0].resource) == (10, 2)  # 20 mg/day
    else:
        assert card.indicator == "info"
        assert "step 2 of 3" in card.summary


@pytest.mark.parametrize(
    ("days", "hours", "fires", "below_72h"),
    [
        (7, 0, False, False),
        (6, 23, True, False),
        (3, 0, True, False),  # exactly 72 h: too early for the weekly plan, not below 72 h
        (2, 23, True, True),
        (1, 0, True, True),
    ],
)
def test_interval_edges_7_days_and_72_hours(days: int, hours: int, fires: bool, below_72h: bool) -> None:
    changed = ago(days, hours)
    existing = med(mg_per_day=10, start=changed)
    cards = evaluate(
        facts(
            drafts=(med(mg_per_day=20, draft=True),),
            meds=(existing,),
            dose_histories=history(10, changed),
        )
    )
    card = only(cards)
    if not fires:
        assert card.indicator == "info"
        return
    assert card.indicator == "warning"
    assert ("<72 h" in card.summary) is below_72h
    assert ("less than 72 hours" in card.detail) is below_72h
    if not below_72h:
        assert "<7 days" in card.summary
    # Too early: keep the current 10 mg/day until the step is due.
    assert dose_of(card.suggestions[0].actions[0].resource) == (5, 2)
    assert "Guideline S19" in card.detail


@pytest.mark.parametrize(
    ("current", "new", "indicator"), [(20, 30, "info"), (30, 30.01, "warning"), (30, 40, "warning")]
)
def test_total_edge_at_30_mg_per_day_cites_plan_and_label(current: float, new: float, indicator: str) -> None:
    card = only(_increase(current, new))
    assert card.indicator == indicator
    if indicator == "warning":
        assert "above plan ceiling 30 mg/day" in card.summary
        assert "80 mg/day" in card.detail
        # Already at the ceiling: keep 30 mg/day (10 mg three times daily).
        assert dose_of(card.suggestions[0].actions[0].resource) == (10, 3)
    else:
        assert "ceiling" in card.summary


@pytest.mark.parametrize(("new", "indicator"), [(80, "warning"), (80.01, "critical"), (120, "critical")])
def test_label_maximum_edge_at_80_mg_per_day(new: float, indicator: str) -> None:
    card = only(_increase(70, new))
    assert card.indicator == indicator
    if indicator == "critical":
        assert "above label max 80 mg/day" in card.summary
        assert "exceeds the FDA label maximum of 80 mg/day" in card.detail


def test_detail_shows_dose_computation_and_both_regimens() -> None:
    existing = med(mg_per_day=10, start=ago(10), explanation="5 mg × 2 per day (BID)")
    draft = med(mg_per_day=30, draft=True, explanation="10 mg × 3 per day (TID)")
    card = only(evaluate(facts(drafts=(draft,), meds=(existing,), dose_histories=history(10, ago(10)))))
    assert "10 mg × 3 per day \\(TID\\)" in card.detail
    assert "5 mg × 2 per day \\(BID\\)" in card.detail
    assert "+20 mg/day" in card.detail
    assert len(card.summary) <= 140
    assert card.source.url == "/guideline/baclofen-titration"
    assert {o.code for o in card.overrideReasons} >= {"specialist-directed"}
    assert card.selectionBehavior == "any"


def test_new_order_replaces_the_active_one_and_says_so() -> None:
    """EHRs send a dose change as a new draft: 20 → 40 mg/day, not 20 + 40."""
    existing = med(mg_per_day=20, start=ago(10))
    draft = med(mg_per_day=40, draft=True, ref="MedicationRequest/new-order")
    card = only(evaluate(facts(drafts=(draft,), meds=(existing,), dose_histories=history(20, ago(10)))))
    assert "20 → 40 mg/day" in card.summary
    assert "if they stay active too, the total is 60 mg/day" in card.detail
    action = card.suggestions[0].actions[0]
    assert action.resource["id"] == "new-order"
    assert dose_of(action.resource) == (10, 3)  # 30 mg/day


def test_two_drafts_are_summed_and_the_suggestion_fits_the_other() -> None:
    morning = med(mg_per_day=10, draft=True, ref="MedicationRequest/morning")
    night = med(mg_per_day=30, draft=True, ref="MedicationRequest/night")
    cards = evaluate(facts(drafts=(night,), other_drafts=(morning,)))
    card = only(cards)
    assert "start 40 mg/day" in card.summary
    # 10 mg/day total is already given by the morning order: remove this one.
    action = card.suggestions[0].actions[0]
    assert action.type == "delete"
    assert action.resourceId == ["MedicationRequest/night"]


def test_replacing_order_is_not_double_counted() -> None:
    existing = med(mg_per_day=20, start=ago(10), ref="MedicationRequest/same")
    draft = med(mg_per_day=30, draft=True, ref="MedicationRequest/same")
    card = only(evaluate(facts(drafts=(draft,), meds=(existing,), dose_histories=history(20, ago(10)))))
    assert card.indicator == "info"
    assert "step 3 of 3" in card.summary


def test_renewal_above_ceiling_warns_without_suggesting_an_abrupt_cut() -> None:
    card = only(_increase(60, 60))
    assert card.indicator == "warning"
    assert "above plan ceiling" in card.summary
    assert card.suggestions is None
    assert "no more than 10 mg/day per step" in card.detail


def test_spasticity_patient_above_30_is_told_the_label_range() -> None:
    changed = ago(10)
    card = only(
        evaluate(
            facts(
                drafts=(med(mg_per_day=40, draft=True),),
                meds=(med(mg_per_day=30, start=changed),),
                dose_histories=history(30, changed),
                conditions=(cond(ConditionCategory.CEREBRAL_SPASTICITY, "G35", "Multiple sclerosis"),),
            )
        )
    )
    assert card.indicator == "warning"
    assert "Multiple sclerosis" in card.detail
    assert "40-80 mg/day" in card.detail


def test_unknown_dose_is_reported_not_guessed() -> None:
    draft = med(mg_per_day=None, draft=True, unknown_reason="dose in tablets, strength unknown")
    card = only(evaluate(facts(drafts=(draft,))))
    assert card.indicator == "info"
    assert "could not be checked" in card.summary
    assert "strength unknown" in card.detail
    assert card.suggestions is None


def test_without_history_the_latest_order_start_is_the_last_change() -> None:
    existing = med(mg_per_day=10, start=ago(2))
    card = only(evaluate(facts(drafts=(med(mg_per_day=20, draft=True),), meds=(existing,))))
    assert "<72 h" in card.summary


def test_future_dated_draft_is_judged_at_its_start() -> None:
    from dataclasses import replace

    draft = replace(med(mg_per_day=20, draft=True), validity_start=ago(-5))  # starts in 5 days
    existing = med(mg_per_day=10, start=ago(3))
    card = only(evaluate(facts(drafts=(draft,), meds=(existing,), dose_histories=history(10, ago(3)))))
    assert card.indicator == "info"  # 8 days after the last change


@pytest.mark.parametrize(
    "draft",
    [
        med("lisinopril", 10, draft=True),
        med(mg_per_day=0.3, draft=True, route=Route.INTRATHECAL, display="baclofen 2 MG/ML Injection"),
        med(mg_per_day=30, draft=True, status="stopped"),
    ],
    ids=["unrelated-drug", "intrathecal", "stop-order"],
)
def test_quiet_for_orders_this_rule_does_not_titrate(draft) -> None:
    assert evaluate(facts(drafts=(draft,))) == []


def test_quiet_on_patient_view_and_for_unselected_drafts() -> None:
    assert evaluate(facts("patient-view", meds=(med(mg_per_day=60),))) == []
    unselected = med(mg_per_day=60, draft=True)
    assert evaluate(facts("order-select", other_drafts=(unselected,))) == []


def test_markdown_in_ehr_text_is_escaped() -> None:
    draft = med(mg_per_day=40, draft=True, display="baclofen <img src=x> [x](http://evil)")
    card = only(evaluate(facts(drafts=(draft,))))
    assert "<img" not in card.detail
    assert "](http" not in card.detail
