"""treatment-escalation from typed facts: a renewal or increase after 2-3 weeks at the indication's ceiling.

Rewritten for issue 11/12: the ceiling depends on the indication (30 mg/day for cramps in liver
disease, the 80 mg/day label maximum otherwise), the options never include a drug the indication or
the record rules out, and chart openings are quiet (escalation is a prescribing decision).
"""

from __future__ import annotations

import pytest

from cds_service.cards.treatment_escalation import RULE, evaluate
from cds_service.facts.model import ConditionCategory, Indication, OrderRelation
from tests.support.facts import ago, cond, continues, facts, history, indicated, med, only


def _renew(mg: float, days: float, indication: Indication, new: float | None = None, **kw):
    current = med(mg_per_day=mg, start=ago(days))
    draft = med(mg_per_day=mg if new is None else new, draft=True)
    relation = OrderRelation.RENEWAL if new is None or new == mg else OrderRelation.INCREASE
    return evaluate(
        facts(
            drafts=(draft,),
            meds=(current,),
            dose_histories=history(mg, ago(days)),
            indications=indicated(indication, draft),
            continuations=continues(draft, relation, current),
            **kw,
        )
    )


CRAMPS_LIVER = Indication.CRAMPS_WITH_LIVER_DISEASE


def _body(card) -> str:
    """The card's own words, without its citation line."""
    return card.detail or ""


def test_order_hooks_only() -> None:
    assert RULE.hooks == {"order-select", "order-sign"}
    assert evaluate(facts("patient-view", meds=(med(mg_per_day=30, start=ago(60)),))) == []


@pytest.mark.parametrize(("mg", "days", "fires"), [(30, 14, True), (30, 13.9, False), (20, 60, False)])
def test_cramp_ceiling_30_mg_per_day_for_14_days(mg: float, days: float, fires: bool) -> None:
    cards = _renew(mg, days, CRAMPS_LIVER)
    if not fires:
        assert cards == []
        return
    card = only(cards)
    assert card.indicator == "info"
    assert "Reassess baclofen" in card.summary
    assert "albumin" in _body(card)
    assert "cyclobenzaprine" not in _body(card)
    assert "summary, statement S17" in card.source.label.replace("statements", "statement")


@pytest.mark.parametrize(("days", "fires"), [(42, True), (42.1, False), (174, False)])
def test_the_reassessment_moment_ends_six_weeks_after_reaching_the_ceiling(days: float, fires: bool) -> None:
    """A regimen held at the ceiling for months is established: its renewals are not the S17 moment."""
    assert bool(_renew(30, days, CRAMPS_LIVER)) is fires
    assert bool(_renew(80, days, Indication.SPASTICITY)) is fires


def test_spasticity_at_30_or_60_is_not_a_ceiling() -> None:
    assert _renew(30, 30, Indication.SPASTICITY) == []
    assert _renew(60, 30, Indication.SPASTICITY) == []


def test_spasticity_at_the_label_maximum_offers_tizanidine_not_cyclobenzaprine() -> None:
    card = only(_renew(80, 21, Indication.SPASTICITY))
    assert "tizanidine" in _body(card) and "intrathecal baclofen" in _body(card)
    assert "cyclobenzaprine" not in _body(card)


def test_tizanidine_is_not_offered_beside_ciprofloxacin() -> None:
    current = med(mg_per_day=80, start=ago(21))
    draft = med(mg_per_day=80, draft=True)
    card = only(
        evaluate(
            facts(
                drafts=(draft,),
                meds=(current, med("ciprofloxacin", 1000)),
                dose_histories=history(80, ago(21)),
                indications=indicated(Indication.SPASTICITY, draft),
                continuations=continues(draft, OrderRelation.RENEWAL, current),
            )
        )
    )
    assert "tizanidine" not in _body(card)


def test_musculoskeletal_spasm_offers_cyclobenzaprine_only_without_a_contraindication() -> None:
    card = only(_renew(80, 21, Indication.ACUTE_MUSCULOSKELETAL))
    assert "not indicated" in _body(card) and "cyclobenzaprine" in _body(card)
    hf = cond(ConditionCategory.HEART_FAILURE, "I50.9", "Heart failure")
    assert "cyclobenzaprine" not in _body(only(_renew(80, 21, Indication.ACUTE_MUSCULOSKELETAL, conditions=(hf,))))
    assert "cyclobenzaprine" not in _body(only(_renew(80, 21, Indication.ACUTE_MUSCULOSKELETAL, age=70)))


def test_cramps_never_get_cyclobenzaprine() -> None:
    assert _renew(80, 21, Indication.CRAMPS) != []
    assert "cyclobenzaprine" not in _body(only(_renew(80, 21, Indication.CRAMPS)))


def test_an_increase_past_the_ceiling_after_weeks_there_fires_a_start_does_not() -> None:
    assert only(_renew(30, 20, CRAMPS_LIVER, new=40)).indicator == "info"
    assert evaluate(facts(drafts=(med(mg_per_day=30, draft=True),), indications={})) == []


@pytest.mark.parametrize("extra", ["tizanidine", "cyclobenzaprine"])
def test_quiet_when_already_on_a_next_step_agent(extra: str) -> None:
    current = med(mg_per_day=30, start=ago(30))
    draft = med(mg_per_day=30, draft=True)
    cards = evaluate(
        facts(
            drafts=(draft,),
            meds=(current, med(extra, 10, ref=f"MedicationRequest/{extra}")),
            indications=indicated(CRAMPS_LIVER, draft),
            continuations=continues(draft, OrderRelation.RENEWAL, current),
            dose_histories=history(30, ago(30)),
        )
    )
    assert cards == []
