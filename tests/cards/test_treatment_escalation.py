"""treatment-escalation from typed facts: 30 mg/day held for 14 days, next step by condition."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cds_service.cards.treatment_escalation import RULE, evaluate
from cds_service.facts.model import ConditionCategory, DoseChange, DoseHistory, Route
from tests.support.facts import ago, cond, facts, history, med, only
from tests.support.fhir import condition, draft, hook_request, medication_request
from tests.support.http import post_hook, topics


def _view(mg: float, days: float, **kw):
    medications = (med(mg_per_day=mg, start=ago(days)),)
    return evaluate(facts("patient-view", meds=medications, dose_histories=history(mg, ago(days)), **kw))


@pytest.mark.parametrize(("mg", "days", "fires"), [(30, 14, True), (30, 13.9, False), (20, 60, False), (40, 21, True)])
def test_edges_30_mg_per_day_for_14_days(mg: float, days: float, fires: bool) -> None:
    cards = _view(mg, days)
    if not fires:
        assert cards == []
        return
    card = only(cards)
    assert card.indicator == "info"
    assert card.topic_code == "treatment-escalation"
    assert f"Baclofen {mg:g} mg/day for {int(days)} days" in card.summary
    assert "Guideline S17" in card.detail
    assert "botulinum toxin" in card.detail


@pytest.mark.parametrize(
    ("category", "display", "expected", "absent"),
    [
        (ConditionCategory.CEREBRAL_SPASTICITY, "Multiple sclerosis", "tizanidine", "cyclobenzaprine"),
        (ConditionCategory.ACUTE_MUSCULOSKELETAL, "Muscle spasm of back", "cyclobenzaprine", "tizanidine"),
        (ConditionCategory.SPINAL_SPASTICITY, "Paraplegia", "intrathecal baclofen", "tizanidine"),
    ],
)
def test_next_step_follows_the_kind_of_spasm(category, display, expected, absent) -> None:
    card = only(_view(30, 21, conditions=(cond(category, display=display),)))
    assert expected in card.detail
    assert display in card.detail
    assert absent not in card.detail.split("Localized")[0].lower()


def test_run_at_ceiling_is_measured_from_dose_history() -> None:
    steps = (DoseChange(20, ago(40)), DoseChange(30, ago(20)), DoseChange(40, ago(5)))
    hist = {"baclofen": DoseHistory("baclofen", 40, ago(5), 30, ago(5), steps)}
    card = only(evaluate(facts("patient-view", meds=(med(mg_per_day=40, start=ago(5)),), dose_histories=hist)))
    assert "for 20 days" in card.summary


@pytest.mark.parametrize(
    "extra",
    [
        med("tizanidine", 12, ref="MedicationRequest/tiz"),
        med("cyclobenzaprine", 15, ref="MedicationRequest/cyc"),
        med(mg_per_day=0.4, ref="MedicationRequest/itb", route=Route.INTRATHECAL),
    ],
    ids=["tizanidine", "cyclobenzaprine", "intrathecal"],
)
def test_quiet_when_already_escalated(extra) -> None:
    base = med(mg_per_day=30, start=ago(30))
    assert evaluate(facts("patient-view", meds=(base, extra), dose_histories=history(30, ago(30)))) == []


def test_order_hooks_fire_for_a_baclofen_draft_continuing_the_ceiling() -> None:
    existing = med(mg_per_day=30, start=ago(21))
    renewal = med(mg_per_day=30, draft=True)
    card = only(evaluate(facts(drafts=(renewal,), meds=(existing,), dose_histories=history(30, ago(21)))))
    assert "21 days" in card.summary
    # A draft for another drug, or a reduction, does not raise it.
    assert evaluate(facts(drafts=(med("lisinopril", 10, draft=True),), meds=(existing,))) == []
    assert evaluate(facts(drafts=(med(mg_per_day=20, draft=True),), meds=(existing,))) == []
    # The same rule on all three hooks.
    assert RULE.hooks == {"order-select", "order-sign", "patient-view"}


def test_quiet_without_baclofen_or_with_unknown_dose() -> None:
    assert evaluate(facts("patient-view")) == []
    unknown = med(mg_per_day=None, start=ago(40))
    assert evaluate(facts("patient-view", meds=(unknown,))) == []


# --------------------------------------------------------------------------- FHIR through HTTP


def _days_ago(days: float) -> str:

    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.parametrize("hook", ["order-select", "order-sign", "patient-view"])
def test_e2e_baclofen_30_mg_for_three_weeks_with_multiple_sclerosis(client, hook: str) -> None:

    active = medication_request(
        "197391", "baclofen 10 MG Oral Tablet", dose=1, dose_unit="tablet", timing_code="TID", authored_on=_days_ago(21)
    )
    drafts = [draft("197391", "baclofen 10 MG Oral Tablet", dose=10, frequency=3)] if hook != "patient-view" else None
    body = post_hook(
        client,
        hook_request(hook, drafts=drafts, meds=[active], conditions=[condition("G35", "Multiple sclerosis")]),
    )
    card = next(c for c in body["cards"] if c["source"]["topic"]["code"] == "treatment-escalation")
    assert card["indicator"] == "info"
    assert "30 mg/day for 21 days" in card["summary"]
    assert "tizanidine" in card["detail"]


def test_e2e_quiet_below_the_ceiling_or_for_an_unrelated_order(client) -> None:

    low = medication_request("197391", "baclofen 10 MG Oral Tablet", dose=10, frequency=2, authored_on=_days_ago(60))
    assert "treatment-escalation" not in topics(post_hook(client, hook_request("patient-view", meds=[low])))
    high = medication_request("197391", "baclofen 10 MG Oral Tablet", dose=10, frequency=3, authored_on=_days_ago(60))
    unrelated = draft("314076", "lisinopril 10 MG Oral Tablet", dose=10, frequency=1)
    request = hook_request("order-sign", drafts=[unrelated], meds=[high])
    assert "treatment-escalation" not in topics(post_hook(client, request))
