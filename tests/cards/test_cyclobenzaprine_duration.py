"""cyclobenzaprine-duration (S3, FDA label: up to 2-3 weeks) on typed facts, at the 21-day edge."""

from __future__ import annotations

import pytest

from cds_service.cards.cyclobenzaprine_duration import RULE, evaluate
from tests.support.facts import actions, ago, facts, med, only


def test_rule_is_registered_for_all_hooks_and_cites_s3() -> None:
    from cds_service.cards import RULES_BY_TOPIC

    assert RULES_BY_TOPIC["cyclobenzaprine-duration"] is RULE
    assert RULE.hooks == {"order-select", "order-sign", "patient-view"}
    assert RULE.statements == ("S3",)


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_new_order_supplying_30_days_warns_and_suggests_21_days(hook: str) -> None:
    order = med("cyclobenzaprine", draft=True, supply_days=30, units_per_day=3)
    card = only(evaluate(facts(hook, drafts=[order])))
    assert card.indicator == "warning"
    assert card.topic_code == "cyclobenzaprine-duration"
    assert "30 days" in card.summary and "21 days" in card.summary
    assert "30 days expected supply" in card.detail
    assert "summary, statement S3" in card.source.label.replace("statements", "statement")
    [action] = actions(card)
    assert action.type == "update"
    assert action.resource["id"] == "draft-cyclobenzaprine"
    supply = action.resource["dispenseRequest"]
    assert supply["expectedSupplyDuration"]["value"] == 21
    assert supply["quantity"]["value"] == 63  # 3 tablets a day for 21 days
    assert "numberOfRepeatsAllowed" not in supply  # refills would extend the course again
    assert card.selectionBehavior == "any"
    assert {o.code for o in card.overrideReasons or []} >= {"benefit-outweighs-risk"}


def test_supply_of_exactly_21_days_is_quiet() -> None:
    assert evaluate(facts(drafts=[med("cyclobenzaprine", draft=True, supply_days=21)])) == []


def test_supply_of_21_point_1_days_warns() -> None:
    card = only(evaluate(facts(drafts=[med("cyclobenzaprine", draft=True, supply_days=21.1)])))
    assert "21.1 days" in card.summary
    assert actions(card)[0].resource["dispenseRequest"]["expectedSupplyDuration"]["value"] == 21


def test_new_order_with_unknown_supply_is_not_guessed() -> None:
    assert evaluate(facts(drafts=[med("cyclobenzaprine", draft=True, supply_days=None)])) == []


def test_unrelated_and_other_muscle_relaxant_orders_are_quiet() -> None:
    drafts = [med("ibuprofen", draft=True, supply_days=90), med("baclofen", draft=True, supply_days=90)]
    assert evaluate(facts(drafts=drafts)) == []


def test_sublingual_tonmya_for_fibromyalgia_is_not_held_to_the_short_course() -> None:
    order = med("cyclobenzaprine", draft=True, supply_days=90, display="Tonmya 2.8 MG Sublingual Tablet")
    assert evaluate(facts(drafts=[order])) == []


def test_renewal_counts_the_days_already_taken() -> None:
    current = med("cyclobenzaprine", start=ago(days=10), supply_days=14)
    renewal = med("cyclobenzaprine", draft=True, supply_days=14)
    card = only(evaluate(facts(drafts=[renewal], meds=[current])))
    assert "24 days" in card.summary  # 10 already + 14 new
    assert "2026-11-15" in card.detail  # course start, the patient's own date
    assert "Days left in a 21-day course: **11**" in card.detail
    assert actions(card)[0].resource["dispenseRequest"]["expectedSupplyDuration"]["value"] == 11


def test_renewal_that_fits_the_course_is_quiet() -> None:
    current = med("cyclobenzaprine", start=ago(days=7), supply_days=7)
    renewal = med("cyclobenzaprine", draft=True, supply_days=14)
    assert evaluate(facts(drafts=[renewal], meds=[current])) == []  # 7 + 14 = 21


def test_chain_of_renewals_is_one_course() -> None:
    first = med("cyclobenzaprine", ref="MedicationRequest/c1", status="completed", start=ago(30), end=ago(16))
    second = med("cyclobenzaprine", ref="MedicationRequest/c2", start=ago(14), supply_days=14)
    renewal = med("cyclobenzaprine", draft=True, supply_days=7)
    card = only(evaluate(facts(drafts=[renewal], meds=[first, second])))
    assert "37 days" in card.summary  # started 30 days ago + 7
    [action] = actions(card)
    assert action.type == "delete"  # no days left in the 21-day course
    assert action.resourceId == ["MedicationRequest/draft-cyclobenzaprine"]


def test_course_separated_by_more_than_a_week_starts_afresh() -> None:
    old = med("cyclobenzaprine", ref="MedicationRequest/c1", status="completed", start=ago(60), end=ago(40))
    new = med("cyclobenzaprine", draft=True, supply_days=14)
    assert evaluate(facts(drafts=[new], meds=[old])) == []


def test_renewal_with_unknown_supply_after_21_days_warns_and_says_supply_unknown() -> None:
    current = med("cyclobenzaprine", start=ago(days=25))
    renewal = med("cyclobenzaprine", draft=True, supply_days=None)
    card = only(evaluate(facts(drafts=[renewal], meds=[current])))
    assert "25 days" in card.summary
    assert "**not known**" in card.detail
    assert actions(card)[0].type == "delete"


def test_order_select_speaks_only_about_the_selected_orders() -> None:
    unselected = med("cyclobenzaprine", draft=True, supply_days=30)
    assert evaluate(facts("order-select", drafts=[], other_drafts=[unselected])) == []


def test_patient_view_course_past_21_days_warns_without_suggestion() -> None:
    current = med("cyclobenzaprine", start=ago(days=22))
    card = only(evaluate(facts("patient-view", meds=[current])))
    assert card.indicator == "warning"
    assert "22 days" in card.summary
    assert not card.suggestions


def test_patient_view_at_exactly_21_days_is_quiet() -> None:
    current = med("cyclobenzaprine", start=ago(days=21), supply_days=21)
    assert evaluate(facts("patient-view", meds=[current])) == []


def test_patient_view_of_a_course_only_planned_past_21_days_is_quiet() -> None:
    """Issue 12: the 30-day supply was warned about when it was ordered; on day 3 nothing needs doing."""
    current = med("cyclobenzaprine", start=ago(days=3), supply_days=30)
    assert evaluate(facts("patient-view", meds=[current])) == []


def test_patient_view_of_a_completed_course_is_quiet() -> None:
    done = med("cyclobenzaprine", status="completed", start=ago(40), end=ago(10))
    assert evaluate(facts("patient-view", meds=[done])) == []


def test_ehr_text_is_escaped_in_the_detail() -> None:
    order = med("cyclobenzaprine", draft=True, supply_days=30, display="cyclobenzaprine <b>10</b> [x](y)")
    card = only(evaluate(facts(drafts=[order])))
    assert "<b>" not in card.detail and "&lt;b&gt;" in card.detail
    assert "[x](y)" not in card.detail
