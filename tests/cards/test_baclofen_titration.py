"""baclofen-titration from typed facts: the plan by indication, continuations, the label as the floor.

Rewritten for issue 11: the old tests judged every order by the source's 10 → 30 mg/day plan (a
spasticity patient at 40 mg/day got a warning; an expired-supply renewal was a "start"). Now the plan
applies to cramps in liver disease only; everything else is judged by the label.
"""

from __future__ import annotations

import pytest

from cds_service.cards.baclofen_titration import RULE, evaluate
from cds_service.facts.model import Indication, OrderRelation, Route
from tests.support.facts import ago, continues, dose_of, egfr, facts, history, indicated, med, only

CRAMPS_LIVER = Indication.CRAMPS_WITH_LIVER_DISEASE


def _start(mg: float, indication: Indication = Indication.UNKNOWN, **kw) -> list:
    draft = med(mg_per_day=mg, draft=True)
    return evaluate(facts(drafts=(draft,), indications=indicated(indication, draft), **kw))


def _increase(current: float, new: float, days: float = 10, hours: float = 0, indication=Indication.UNKNOWN) -> list:
    changed = ago(days, hours)
    existing = med(mg_per_day=current, start=changed)
    draft = med(mg_per_day=new, draft=True)
    relation = OrderRelation.INCREASE if new > current else OrderRelation.RENEWAL
    if new < current:
        relation = OrderRelation.DECREASE
    return evaluate(
        facts(
            drafts=(draft,),
            meds=(existing,),
            dose_histories=history(current, changed),
            indications=indicated(indication, draft),
            continuations=continues(draft, relation, existing),
        )
    )


def test_rule_is_registered_for_order_hooks_only() -> None:
    from cds_service.cards import RULES_BY_TOPIC

    assert RULES_BY_TOPIC["baclofen-titration"] is RULE
    assert RULE.hooks == {"order-select", "order-sign"}


# --- the label (spasticity, unknown indication): start 5 mg TID, +5 mg per dose every 3 days ----------


@pytest.mark.parametrize("indication", [Indication.UNKNOWN, Indication.SPASTICITY])
@pytest.mark.parametrize(("mg", "fires"), [(5, False), (15, False), (15.01, True), (60, True)])
def test_label_start_edge_at_15_mg_per_day(indication: Indication, mg: float, fires: bool) -> None:
    cards = _start(mg, indication)
    if not fires:
        assert cards == []  # the label's own start is quiet
        return
    card = only(cards)
    assert card.indicator == "warning"
    assert "start baclofen at 15 mg/day or less" in card.summary.lower()
    action = card.suggestions[0].actions[0]
    assert action.type == "update" and action.resource["id"] == "draft-baclofen"
    assert dose_of(action.resource) == (5, 3)  # 15 mg/day as 5 mg three times daily


@pytest.mark.parametrize(("new", "fires"), [(30, False), (30.01, True)])
def test_label_step_edge_at_plus_15_mg_per_day(new: float, fires: bool) -> None:
    cards = _increase(15, new)
    if not fires:
        assert cards == []
        return
    card = only(cards)
    assert card.indicator == "warning"
    assert "raise baclofen by 15 mg/day at most" in card.summary.lower()
    assert dose_of(card.suggestions[0].actions[0].resource) == (10, 3)  # 30 mg/day


@pytest.mark.parametrize(("days", "hours", "fires", "below_72h"), [(3, 0, False, False), (2, 23, True, True)])
def test_label_interval_edge_at_3_days(days: int, hours: int, fires: bool, below_72h: bool) -> None:
    cards = _increase(15, 30, days, hours)
    if not fires:
        assert cards == []
        return
    card = only(cards)
    assert card.indicator == "warning"
    assert ("<72 h" in card.summary) is below_72h
    assert dose_of(card.suggestions[0].actions[0].resource) == (5, 3)  # keep 15 mg/day until due


@pytest.mark.parametrize("indication", [Indication.UNKNOWN, Indication.SPASTICITY, Indication.CRAMPS])
def test_label_30_to_80_is_quiet(indication: Indication) -> None:
    assert _increase(30, 40, indication=indication) == []
    assert _increase(70, 80, indication=indication) == []


@pytest.mark.parametrize(("new", "indicator"), [(80, None), (80.01, "critical"), (95, "critical")])
def test_label_maximum_edge_at_80_mg_per_day_is_critical(new: float, indicator: str | None) -> None:
    cards = _increase(70, new)
    if indicator is None:
        assert cards == []
        return
    card = only(cards)
    assert card.indicator == "critical"
    assert "label maximum, 80 mg/day" in card.summary
    assert card.source.label.startswith("Muscle-spasm treatment summary")
    assert "FDA oral baclofen label" in card.source.label


def test_renewal_or_reduction_above_the_label_maximum_is_critical_without_a_cut() -> None:
    for new in (100, 90):
        card = only(_increase(100, new))
        assert card.indicator == "critical"
        assert card.suggestions is None  # never a one-click abrupt cut


# --- the source's plan: cramps in liver disease only -----------------------------------------------


@pytest.mark.parametrize(("mg", "fires"), [(10, False), (10.01, True)])
def test_cramp_plan_start_edge_at_10_mg_per_day(mg: float, fires: bool) -> None:
    cards = _start(mg, CRAMPS_LIVER)
    if not fires:
        assert cards == []
        return
    card = only(cards)
    assert "start baclofen at 10 mg/day or less" in card.summary.lower()
    assert "EASL 2018" in card.source.label
    assert dose_of(card.suggestions[0].actions[0].resource) == (5, 2)  # 10 mg/day


@pytest.mark.parametrize(
    ("current", "new", "days", "phrase"),
    [
        (10, 20, 7, None),
        (10, 20.01, 7, "raise baclofen by 10 mg/day at most"),
        (10, 20, 6.9, "7-day steps"),
        (20, 30, 7, None),
        (30, 40, 7, "30 mg/day or less for cramps"),
    ],
)
def test_cramp_plan_step_interval_and_ceiling(current: float, new: float, days: float, phrase: str | None) -> None:
    cards = _increase(current, new, days, indication=CRAMPS_LIVER)
    if phrase is None:
        assert cards == []
        return
    card = only(cards)
    assert card.indicator == "warning"
    assert phrase in card.summary.lower()
    assert "summary S1" in card.detail


# --- continuations: never a start when the draft continues an order --------------------------------


def test_expired_supply_renewal_at_60_is_not_a_start() -> None:
    """The old bug: 60 mg/day renewed after its supply ran out got "start above 10" and a cut to 10."""
    previous = med(mg_per_day=60, status="completed", start=ago(40), supply_days=30)
    draft = med(mg_per_day=60, draft=True)
    cards = evaluate(
        facts(
            drafts=(draft,),
            meds=(previous,),
            continuations=continues(draft, OrderRelation.RENEWAL, previous, ended=ago(10)),
        )
    )
    assert cards == []


def test_restart_is_judged_as_a_start_and_names_the_previous_course() -> None:
    previous = med(mg_per_day=60, status="completed", start=ago(200), supply_days=30)
    draft = med(mg_per_day=60, draft=True)
    card = only(
        evaluate(
            facts(
                drafts=(draft,),
                meds=(previous,),
                continuations=continues(draft, OrderRelation.RESTART, previous, ended=ago(170)),
            )
        )
    )
    assert card.indicator == "warning"
    assert "start 60 mg/day" in card.summary
    assert "restart" in card.detail.lower()
    assert "60 mg/day" in card.detail and ago(170).date().isoformat() in card.detail


def test_a_step_down_is_never_a_titration_warning() -> None:
    assert _increase(60, 30) == []
    assert _increase(30, 25, indication=CRAMPS_LIVER) == []


def test_without_continuation_facts_the_current_regimen_is_the_reference() -> None:
    """A draft the facts layer gave no continuation for: an increase over the active order."""
    existing = med(mg_per_day=15, start=ago(2))
    card = only(evaluate(facts(drafts=(med(mg_per_day=30, draft=True),), meds=(existing,))))
    assert "<72 h" in card.summary


# --- indications ------------------------------------------------------------------------------------


def test_musculoskeletal_spasm_is_told_the_label_says_not_indicated() -> None:
    card = only(_start(15, Indication.ACUTE_MUSCULOSKELETAL))
    assert card.indicator == "info"
    assert "not indicated" in card.summary
    assert "rheumatic" in card.detail


def test_cramps_without_liver_disease_use_the_label_and_say_why() -> None:
    assert _start(15, Indication.CRAMPS) == []
    card = only(_start(30, Indication.CRAMPS))
    assert card.indicator == "warning"
    assert "cirrhosis" in card.detail


def test_unknown_indication_is_dosed_by_the_label_and_the_source_plan_is_on_the_guideline_page() -> None:
    from cds_service.protocol.pages import guideline_page

    card = only(_start(30))
    assert "start baclofen at 15 mg/day" in card.summary.lower()
    assert "Dose by the label" in card.detail
    assert "cramps" not in card.summary
    assert card.links[0].url == "/guideline/baclofen-titration"
    page = guideline_page("baclofen-titration") or ""
    assert "start 10 mg/day, +10 mg/day every 7 days, up to 30 mg/day" in page  # the cramp plan, in full there


# --- age -----------------------------------------------------------------------------------------------


def test_children_get_only_the_label_maximum() -> None:
    assert _start(60, age=10) == []
    assert only(_start(90, age=10)).indicator == "critical"
    assert _start(60, age=12) != []  # the adult start applies from 12


def test_older_adult_start_without_renal_data_is_a_line_in_the_dose_card_not_a_card() -> None:
    """Issue 11: one info line in the baclofen card, not a card of its own."""
    assert _start(15, age=70) == []  # a label start: no dose card, so nothing to add a line to
    card = only(_start(30, age=70))  # too high a start: the dose card carries both lines
    assert card.indicator == "warning"
    assert "start low" in card.detail.lower() and "check renal function" in card.detail.lower()
    assert "renal" not in only(_start(30, age=70, renal=egfr(75))).detail.lower()


def test_older_adult_renewal_is_quiet() -> None:
    assert _increase(30, 30) == []


# --- dose arithmetic and suggestions ---------------------------------------------------------------


def test_unknown_dose_is_reported_not_guessed() -> None:
    draft = med(mg_per_day=None, draft=True, unknown_reason="dose in tablets, strength unknown")
    card = only(evaluate(facts(drafts=(draft,))))
    assert card.indicator == "info"
    assert "could not be computed" in card.summary
    assert "strength unknown" in card.detail
    assert card.suggestions is None


def test_two_drafts_are_summed_and_the_suggestion_fits_the_other() -> None:
    morning = med(mg_per_day=15, draft=True, ref="MedicationRequest/morning")
    night = med(mg_per_day=30, draft=True, ref="MedicationRequest/night")
    card = only(evaluate(facts(drafts=(night,), other_drafts=(morning,))))
    assert "start 45 mg/day" in card.summary
    action = card.suggestions[0].actions[0]
    assert action.type == "delete"  # the morning order already gives the 15 mg/day start
    assert action.resourceId == ["MedicationRequest/night"]


def test_suggestion_recomputes_quantity_and_supply_with_a_real_tablet() -> None:
    draft = med(mg_per_day=60, draft=True, strength_mg=20, supply_days=30, display="baclofen 20 MG Oral Tablet")
    card = only(evaluate(facts(drafts=(draft,))))
    resource = card.suggestions[0].actions[0].resource
    assert dose_of(resource) == (5, 3)
    dispense = resource["dispenseRequest"]
    assert dispense["expectedSupplyDuration"]["value"] == 30
    # 5 mg from 20 mg tablets is not whole or half tablets: the product changes, or quarter tablets are
    # never ordered; either way the quantity is what 30 days of the new regimen need.
    tablets = 90 if resource["medicationCodeableConcept"].get("coding") else None
    if tablets:
        assert dispense["quantity"] == {"value": 90, "unit": "tablet"}


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
    assert evaluate(facts("order-select", other_drafts=(med(mg_per_day=60, draft=True),))) == []


def test_markdown_in_ehr_text_is_escaped() -> None:
    draft = med(mg_per_day=40, draft=True, display="baclofen <img src=x> [x](http://evil)")
    card = only(evaluate(facts(drafts=(draft,))))
    assert "<img" not in card.detail
    assert "](http" not in card.detail


@pytest.mark.parametrize(("value", "speaks"), [(30, True), (29.9, False)])
def test_no_titration_card_where_the_kidney_leaves_no_labelled_dose(value: float, speaks: bool) -> None:
    """Issue 19, item 2: at eGFR < 30 the normal-kidney start (5 mg three times a day) is not a dose to
    offer; the titration rule stays silent and renal-dosing says why. At 30 it still speaks."""
    cards = _start(30, renal=egfr(value))
    if speaks:
        card = only(cards)
        assert card.suggestions and "15 mg/day" in card.suggestions[0].label
    else:
        assert cards == []


def test_no_titration_card_on_dialysis() -> None:
    assert _start(30, renal=egfr(None, dialysis=True)) == []
