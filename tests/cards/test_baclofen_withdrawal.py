"""baclofen-withdrawal from typed facts: stops, cuts at the one-step edge, intrathecal pumps."""

from __future__ import annotations

import pytest

from cds_service.cards.baclofen_withdrawal import RULE, evaluate
from cds_service.facts.model import Route
from tests.support.facts import ago, dose_of, facts, med, only


def _change(current: float, new: float) -> list:
    return evaluate(
        facts(
            drafts=(med(mg_per_day=new, draft=True),),
            meds=(med(mg_per_day=current, start=ago(20)),),
        )
    )


def test_registered_for_order_hooks() -> None:
    assert RULE.topic == "baclofen-withdrawal"
    assert RULE.hooks == {"order-select", "order-sign"}


@pytest.mark.parametrize(("current", "new", "fires"), [(30, 20, False), (30, 19.99, True), (30, 10, True)])
def test_cut_edge_at_one_step(current: float, new: float, fires: bool) -> None:
    cards = _change(current, new)
    if not fires:
        assert cards == []
        return
    card = only(cards)
    assert card.indicator == "warning"
    assert card.topic_code == "baclofen-withdrawal"
    assert "30 → " in card.summary
    assert "taper" in card.summary.lower()
    assert "seizures" in card.detail
    # First taper step: 20 mg/day on the draft (10 mg twice daily).
    action = card.suggestions[0].actions[0]
    assert action.type == "update"
    assert action.resource["id"] == "draft-baclofen"
    assert dose_of(action.resource) == (10, 2)


def test_stop_order_for_the_active_order_fires_with_the_current_dose() -> None:
    active = med(mg_per_day=30, ref="MedicationRequest/bac-1", start=ago(60))
    stop = med(mg_per_day=30, draft=True, status="stopped", ref="MedicationRequest/bac-1")
    card = only(evaluate(facts(drafts=(stop,), meds=(active,))))
    assert card.indicator == "warning"
    assert card.summary.startswith("Taper baclofen: 30 mg/day stopped abruptly")
    assert "20 mg/day" in card.detail  # the suggested first taper step
    assert card.suggestions is None  # a stop order carries no dose to rewrite
    assert {o.code for o in card.overrideReasons} == {"stopping-for-adverse-effect", "specialist-directed"}


@pytest.mark.parametrize(("mg", "warns"), [(10, False), (10.5, True), (5, False), (15, True)])
def test_stopping_from_one_taper_step_is_the_end_of_a_taper(mg: float, warns: bool) -> None:
    active = med(mg_per_day=mg, ref="MedicationRequest/bac-1", start=ago(60))
    stop = med(mg_per_day=mg, draft=True, status="stopped", ref="MedicationRequest/bac-1")
    assert bool(evaluate(facts(drafts=(stop,), meds=(active,)))) is warns


def test_stop_order_with_a_new_id_stops_oral_baclofen() -> None:
    active = med(mg_per_day=20, ref="MedicationRequest/bac-1", start=ago(60))
    stop = med(mg_per_day=None, draft=True, status="cancelled", ref="MedicationRequest/other")
    assert "stopped abruptly" in only(evaluate(facts(drafts=(stop,), meds=(active,)))).summary


def test_stop_order_whose_active_version_is_not_listed_stands_for_it() -> None:
    """The facts layer keeps only the draft when it has the active order's id: its dose is what stops."""
    stop = med(mg_per_day=30, draft=True, status="stopped", ref="MedicationRequest/bac-1")
    card = only(evaluate(facts(drafts=(stop,))))
    assert "30 mg/day stopped abruptly" in card.summary


def test_intrathecal_stop_without_the_pump_order_listed_still_warns() -> None:
    stop = med(mg_per_day=None, draft=True, status="stopped", ref="MedicationRequest/itb", route=Route.INTRATHECAL)
    assert "Taper intrathecal baclofen" in only(evaluate(facts(drafts=(stop,)))).summary


def test_intrathecal_stop_carries_the_boxed_warning() -> None:
    pump = med(mg_per_day=0.4, ref="MedicationRequest/itb", route=Route.INTRATHECAL, display="Gablofen 500 MCG/ML")
    stop = med(
        mg_per_day=0.4,
        draft=True,
        status="stopped",
        ref="MedicationRequest/itb",
        route=Route.INTRATHECAL,
        display="Gablofen 500 MCG/ML",
    )
    card = only(evaluate(facts(drafts=(stop,), meds=(pump,))))
    assert card.indicator == "warning"
    assert card.summary.startswith("Taper intrathecal baclofen, do not interrupt it")
    assert "Boxed warning" in card.detail
    assert "rhabdomyolysis" in card.detail
    assert "summary S20" in card.detail


def test_intrathecal_dose_is_not_added_to_the_oral_total() -> None:
    pump = med(mg_per_day=0.4, ref="MedicationRequest/itb", route=Route.INTRATHECAL)
    oral = med(mg_per_day=20, ref="MedicationRequest/oral", start=ago(20))
    draft = med(mg_per_day=10, draft=True)
    # 20 → 10 mg/day is one step; counting the pump's 0.4 mg would make it 10.4 and fire.
    assert evaluate(facts(drafts=(draft,), meds=(pump, oral))) == []


@pytest.mark.parametrize(
    ("drafts", "medications"),
    [
        ((med("lisinopril", 10, draft=True),), (med(mg_per_day=30),)),  # unrelated order
        ((med(mg_per_day=10, draft=True),), ()),  # a start, nothing to withdraw
        ((med(mg_per_day=40, draft=True),), (med(mg_per_day=30),)),  # an increase
        ((med(mg_per_day=None, draft=True),), (med(mg_per_day=30),)),  # unknown new dose: not guessed
    ],
    ids=["unrelated", "start", "increase", "unknown-dose"],
)
def test_quiet(drafts, medications) -> None:
    assert evaluate(facts(drafts=drafts, meds=medications)) == []


def test_quiet_when_the_stop_is_not_selected_in_order_select() -> None:
    active = med(mg_per_day=30, ref="MedicationRequest/bac-1")
    stop = med(mg_per_day=30, draft=True, status="stopped", ref="MedicationRequest/bac-1")
    assert evaluate(facts("order-select", other_drafts=(stop,), meds=(active,))) == []


_T42 = ("http://hl7.org/fhir/sid/icd-10-cm", "T42.8X5A", "Adverse effect of baclofen, initial encounter")


def _stop(days: float, *, reason: tuple = (), **kw) -> list:
    from dataclasses import replace

    current = med(mg_per_day=60, start=ago(days))
    stop = replace(med(mg_per_day=60, draft=True, status="stopped", ref=current.reference), reason_codings=reason)
    return evaluate(facts(drafts=(stop,), meds=(current,), **kw))


@pytest.mark.parametrize(("days", "little_risk"), [(4, True), (7, False)])
def test_a_stop_for_toxicity_gets_the_label_exception_never_a_taper_dose(days: float, little_risk: bool) -> None:
    """Issue 19, item 5: baclofen 60 mg/day stopped after a few days for an adverse effect (T42.8X5A)."""
    card = only(_stop(days, reason=(_T42,)))
    assert card.indicator == "info" and not card.suggestions
    assert "rapid withdrawal is allowed" in card.summary
    assert "Taper" not in card.summary and "next" not in card.detail
    assert "Adverse effect of baclofen" in card.detail and f"60 mg/day for {days} days" in card.detail
    assert ("little withdrawal risk" in card.detail) is little_risk


def test_an_encephalopathy_on_the_problem_list_is_a_toxicity_stop() -> None:
    from cds_service.facts.model import ConditionCategory
    from tests.support.facts import cond

    enc = cond(ConditionCategory.ENCEPHALOPATHY, "G92.8", "Toxic encephalopathy")
    card = only(_stop(3, conditions=(enc,)))
    assert "encephalopathy" in card.summary and "Toxic encephalopathy" in card.detail


def test_a_stop_without_a_toxic_reason_still_tapers() -> None:
    card = only(_stop(60))
    assert card.indicator == "warning" and "next **50 mg/day**" in card.detail and card.suggestions is None


def test_at_egfr_below_30_no_taper_dose_is_stated_or_offered() -> None:
    from tests.support.facts import egfr

    cards = evaluate(
        facts(
            drafts=(med(mg_per_day=30, draft=True),),
            meds=(med(mg_per_day=60, start=ago(90)),),
            renal=egfr(22),
        )
    )
    card = only(cards)
    assert "nephrology" in card.detail and "next" not in card.detail and not card.suggestions
