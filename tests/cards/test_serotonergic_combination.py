"""serotonergic-combination (S23; cyclobenzaprine label 2013, MAOI 14-day washout) on typed facts.

Issue 11 rewrote two tests: a combination without a muscle relaxant (tramadol + sertraline, an MAOI
+ an SSRI) is the EHR's general interaction screening, not this service's.
"""

from __future__ import annotations

import pytest

from cds_service.cards.serotonergic_combination import RULE, evaluate
from tests.support import fhir as fb
from tests.support.facts import actions, ago, facts, med, only
from tests.support.http import cards_of, days_ago, delete_targets, one_card, post_hook


@pytest.mark.parametrize("partner", ["sertraline", "duloxetine", "tramadol", "sumatriptan", "trazodone"])
def test_cyclobenzaprine_draft_with_active_serotonergic_drug_warns(partner: str) -> None:
    card = only(evaluate(facts(drafts=[med("cyclobenzaprine", draft=True)], meds=[med(partner, start=ago(90))])))
    assert card.indicator == "warning"
    assert card.topic_code == "serotonergic-combination"
    assert "cyclobenzaprine" in card.summary and partner in card.summary
    assert card.detail.startswith(f"This order: cyclobenzaprine; current: {partner}.")
    assert "summary, statement S23" in card.source.label.replace("statements", "statement")
    [action] = actions(card)
    assert action.type == "delete" and action.resourceId == ["MedicationRequest/draft-cyclobenzaprine"]
    assert {o.code for o in card.overrideReasons or []} == {
        "already-tolerating",
        "benefit-outweighs-risk",
        "will-monitor",
    }


def test_cyclobenzaprine_recognized_by_ingredient_without_serotonergic_class() -> None:
    bare = med("cyclobenzaprine", draft=True, classes=frozenset())
    assert only(evaluate(facts(drafts=[bare], meds=[med("sertraline", start=ago(9))]))).indicator == "warning"


def test_serotonergic_order_for_a_patient_on_cyclobenzaprine_warns() -> None:
    card = only(evaluate(facts(drafts=[med("sertraline", draft=True)], meds=[med("cyclobenzaprine", start=ago(3))])))
    assert actions(card)[0].resourceId == ["MedicationRequest/draft-sertraline"]


@pytest.mark.parametrize(
    ("drafted", "taken"), [("tramadol", "sertraline"), ("ondansetron", "sertraline"), ("verapamil", "sertraline")]
)
def test_combinations_without_a_relaxant_are_left_to_the_ehr(drafted: str, taken: str) -> None:
    assert evaluate(facts(drafts=[med(drafted, draft=True)], meds=[med(taken, start=ago(9))])) == []


def test_verapamil_counts_beside_cyclobenzaprine_only() -> None:
    card = only(evaluate(facts(drafts=[med("cyclobenzaprine", draft=True)], meds=[med("verapamil", start=ago(9))])))
    assert "verapamil" in card.summary
    assert evaluate(facts(drafts=[med("baclofen", draft=True)], meds=[med("verapamil", start=ago(9))])) == []


def test_all_partners_listed_on_one_card() -> None:
    meds = [med("sertraline", start=ago(90)), med("tramadol", start=ago(4)), med("trazodone", start=ago(40))]
    card = only(evaluate(facts(drafts=[med("cyclobenzaprine", draft=True)], meds=meds)))
    for name in ("cyclobenzaprine", "sertraline", "tramadol", "trazodone"):
        assert name in card.summary


def test_renewal_of_the_same_drug_is_not_a_combination() -> None:
    current = med("cyclobenzaprine", start=ago(5))
    assert evaluate(facts(drafts=[med("cyclobenzaprine", draft=True)], meds=[current])) == []


def test_single_serotonergic_drug_is_quiet() -> None:
    assert evaluate(facts(drafts=[med("cyclobenzaprine", draft=True)], meds=[med("lisinopril")])) == []


def test_unrelated_draft_is_quiet_even_if_patient_takes_a_combination() -> None:
    meds = [med("cyclobenzaprine", start=ago(5)), med("sertraline", start=ago(90))]
    assert evaluate(facts(drafts=[med("ibuprofen", draft=True)], meds=meds)) == []


def test_completed_serotonergic_order_is_not_a_partner() -> None:
    done = med("sertraline", status="completed", start=ago(120), end=ago(30))
    assert evaluate(facts(drafts=[med("cyclobenzaprine", draft=True)], meds=[done])) == []


def test_active_maoi_makes_it_critical() -> None:
    card = only(evaluate(facts(drafts=[med("cyclobenzaprine", draft=True)], meds=[med("phenelzine", start=ago(200))])))
    assert card.indicator == "critical"
    assert "MAOI phenelzine" in card.summary and "contraindicated" in card.summary
    assert {o.code for o in card.overrideReasons or []} == {"data-outdated", "specialist-directed"}


@pytest.mark.parametrize(("days_ago", "indicator"), [(13, "critical"), (14, "critical")])
def test_maoi_stopped_within_14_days_is_critical(days_ago: int, indicator: str) -> None:
    maoi = med("linezolid", status="stopped", start=ago(days_ago + 10), end=ago(days_ago))
    card = only(evaluate(facts(drafts=[med("cyclobenzaprine", draft=True)], meds=[maoi])))
    assert card.indicator == indicator
    assert f"{days_ago} days ago" in card.detail
    assert "linezolid" in card.summary


def test_maoi_stopped_15_days_ago_is_past_the_washout() -> None:
    maoi = med("linezolid", status="stopped", start=ago(25), end=ago(15))
    assert evaluate(facts(drafts=[med("cyclobenzaprine", draft=True)], meds=[maoi])) == []


def test_maoi_stopped_15_days_ago_still_listed_if_other_partners_fire_but_not_critical() -> None:
    maoi = med("selegiline", status="completed", start=ago(60), end=ago(15))
    card = only(
        evaluate(facts(drafts=[med("cyclobenzaprine", draft=True)], meds=[maoi, med("sertraline", start=ago(9))]))
    )
    assert card.indicator == "warning"
    assert "selegiline" not in card.detail


def test_maoi_stopped_early_within_14_days_of_its_start_is_critical() -> None:
    # Stopped before its planned end (validity end in the future): the stop date is not recorded,
    # but it cannot be earlier than the start 5 days ago.
    maoi = med("linezolid", status="stopped", start=ago(5), end=ago(-5))
    card = only(evaluate(facts(drafts=[med("cyclobenzaprine", draft=True)], meds=[maoi])))
    assert card.indicator == "critical"
    assert "date not recorded" in card.detail


def test_maoi_stopped_with_no_date_is_a_warning_asking_to_confirm() -> None:
    maoi = med("phenelzine", status="stopped", start=None)
    card = only(evaluate(facts(drafts=[med("cyclobenzaprine", draft=True)], meds=[maoi])))
    assert card.indicator == "warning"
    assert "stop date not recorded" in card.detail


def test_cancelled_maoi_is_ignored() -> None:
    maoi = med("phenelzine", status="cancelled", start=ago(3))
    assert evaluate(facts(drafts=[med("cyclobenzaprine", draft=True)], meds=[maoi])) == []


def test_patient_view_shows_the_combination_in_place() -> None:
    """The combination may have been assembled by several prescribers: the chart opening shows it."""
    meds = [med("cyclobenzaprine", start=ago(5)), med("sertraline", start=ago(90))]
    card = only(evaluate(facts("patient-view", meds=meds)))
    assert card.indicator == "warning" and not card.suggestions
    card = only(evaluate(facts("patient-view", meds=[med("cyclobenzaprine", start=ago(5)), med("phenelzine")])))
    assert card.indicator == "critical" and not card.suggestions


def test_patient_view_antidepressant_pair_without_cyclobenzaprine_is_quiet() -> None:
    meds = [med("sertraline", start=ago(300)), med("trazodone", start=ago(300))]
    assert evaluate(facts("patient-view", meds=meds)) == []


def test_order_select_unselected_draft_still_counts_as_partner_but_not_as_subject() -> None:
    selected = med("cyclobenzaprine", draft=True)
    unselected = med("tramadol", draft=True)
    card = only(evaluate(facts("order-select", drafts=[selected], other_drafts=[unselected])))
    assert [a.resourceId for a in actions(card)] == [["MedicationRequest/draft-cyclobenzaprine"]]
    assert (
        evaluate(facts("order-select", drafts=[med("lisinopril", draft=True)], other_drafts=[selected, unselected]))
        == []
    )


def test_rule_metadata() -> None:
    assert RULE.statements == ("S23",)


# --------------------------------------------------------------------- end to end (FHIR → HTTP)

CYCLO_10 = ("828348", "cyclobenzaprine hydrochloride 10 MG Oral Tablet")
SERTRALINE_50 = ("312941", "sertraline 50 MG Oral Tablet")
TRAMADOL_50 = ("835603", "tramadol hydrochloride 50 MG Oral Tablet")
PHENELZINE_15 = ("312347", "phenelzine 15 MG Oral Tablet")
LINEZOLID_600 = ("311347", "linezolid 600 MG Oral Tablet")


def _cyclo_draft() -> dict:
    return fb.draft(*CYCLO_10, dose=5, frequency=3, supply_days=7)


@pytest.mark.parametrize("hook", ["order-select", "order-sign"])
def test_e2e_cyclobenzaprine_draft_with_active_sertraline_warns(client, hook: str) -> None:
    sertraline = fb.medication_request(*SERTRALINE_50, rid="sert", authored_on=days_ago(120), dose=50, frequency=1)
    body = post_hook(client, fb.hook_request(hook, drafts=[_cyclo_draft()], meds=[sertraline]))
    card = one_card(body, "serotonergic-combination")
    assert card["indicator"] == "warning"
    assert "cyclobenzaprine" in card["summary"] and "sertraline" in card["summary"]
    assert "current: sertraline" in card["detail"]
    assert delete_targets(card) == [["MedicationRequest/draft-1"]]


def test_e2e_tramadol_order_for_patient_on_cyclobenzaprine_via_contained_medication(client) -> None:
    cyclo = fb.medication_request(
        None,
        "cyclobenzaprine (FLEXERIL) 10 mg tablet",
        rid="cyclo",
        authored_on=days_ago(4),
        medication_reference="#m1",
        contained=[fb.medication("m1", *CYCLO_10)],
        dose=10,
        frequency=3,
        supply_days=14,
    )
    tramadol = fb.draft(*TRAMADOL_50, dose=50, frequency=4, as_needed=True, supply_days=5)
    body = post_hook(client, fb.hook_request("order-sign", drafts=[tramadol], meds=[cyclo]))
    card = one_card(body, "serotonergic-combination")
    assert "tramadol" in card["summary"]
    assert delete_targets(card) == [["MedicationRequest/draft-1"]]


def test_e2e_linezolid_stopped_10_days_ago_is_critical(client) -> None:
    # Authored 20 days ago for 10 days: ended 10 days ago, inside the 14-day washout.
    linezolid = fb.medication_request(
        *LINEZOLID_600, status="completed", authored_on=days_ago(20), dose=600, frequency=2, supply_days=10
    )
    body = post_hook(client, fb.hook_request("order-sign", drafts=[_cyclo_draft()], meds=[linezolid]))
    card = one_card(body, "serotonergic-combination")
    assert card["indicator"] == "critical"
    assert "linezolid" in card["summary"]
    assert days_ago(10) in card["detail"]


def test_e2e_linezolid_stopped_30_days_ago_is_quiet(client) -> None:
    linezolid = fb.medication_request(
        *LINEZOLID_600, status="completed", authored_on=days_ago(40), dose=600, frequency=2, supply_days=10
    )
    body = post_hook(client, fb.hook_request("order-sign", drafts=[_cyclo_draft()], meds=[linezolid]))
    assert cards_of(body, "serotonergic-combination") == []


def test_e2e_patient_view_active_phenelzine_and_cyclobenzaprine_is_critical(client) -> None:
    meds = [
        fb.medication_request(*PHENELZINE_15, authored_on=days_ago(200), dose=15, frequency=3),
        fb.medication_request(*CYCLO_10, authored_on=days_ago(2), dose=10, frequency=3, supply_days=10),
    ]
    card = one_card(post_hook(client, fb.hook_request("patient-view", meds=meds)), "serotonergic-combination")
    assert card["indicator"] == "critical" and "phenelzine" in card["summary"]
    assert "suggestions" not in card


def test_e2e_quiet_for_unrelated_order_and_single_serotonergic_drug(client) -> None:
    sertraline = fb.medication_request(*SERTRALINE_50, authored_on=days_ago(120), dose=50, frequency=1)
    lisinopril = fb.draft("314076", "lisinopril 10 MG Oral Tablet", dose=10, frequency=1)
    body = post_hook(client, fb.hook_request("order-sign", drafts=[lisinopril], meds=[sertraline]))
    assert cards_of(body, "serotonergic-combination") == []
    body = post_hook(client, fb.hook_request("order-sign", drafts=[_cyclo_draft()]))
    assert cards_of(body, "serotonergic-combination") == []


def test_recently_stopped_maoi_is_listed_once_with_its_stop_date() -> None:
    maoi = med("linezolid", status="completed", start=ago(20), end=ago(10))
    card = only(evaluate(facts(drafts=[med("cyclobenzaprine", draft=True)], meds=[maoi])))
    assert card.detail.count("linezolid") == 1
    assert "ended **2026-11-15**, 10 days ago" in card.detail


def test_maoi_draft_for_a_patient_on_cyclobenzaprine_is_critical_and_offers_removing_the_maoi() -> None:
    meds = [med("sertraline", start=ago(90)), med("cyclobenzaprine", start=ago(3))]
    card = only(evaluate(facts(drafts=[med("selegiline", draft=True)], meds=meds)))
    assert card.indicator == "critical"
    assert [a.resourceId for a in actions(card)] == [["MedicationRequest/draft-selegiline"]]
