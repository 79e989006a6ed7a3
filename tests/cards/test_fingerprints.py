"""Issue 12: every card carries a fingerprint of what made it, for override suppression.

The same facts give the same fingerprint (whatever the day, the order ids or the card's uuid); a
changed dose, a new lab value or another drug gives another. It is never part of the response.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from cds_service import engine
from cds_service.cards import (
    baclofen_titration,
    cyclobenzaprine_duration,
    electrolyte_potassium,
    renal_dosing,
    serotonergic_combination,
)
from cds_service.cards.base import fingerprint_of
from cds_service.cdshooks import HookResponse
from cds_service.facts.model import PatientFacts
from tests.support.facts import NOW, ago, egfr, facts, med, only, potassium


def _next_day(f: PatientFacts, days: float = 1) -> PatientFacts:
    return replace(f, now=NOW + timedelta(days=days))


def _titration(mg: float, ref: str = "MedicationRequest/draft-baclofen") -> PatientFacts:
    return facts(drafts=(med(mg_per_day=mg, draft=True, ref=ref),))


def _low_k(value: float, days_ago: float = 2) -> PatientFacts:
    return facts(drafts=(med(mg_per_day=10, draft=True),), potassium=potassium(value, days_ago=days_ago))


def test_the_same_facts_twice_give_the_same_fingerprint() -> None:
    first = only(baclofen_titration.evaluate(_titration(60)))
    second = only(baclofen_titration.evaluate(_titration(60)))
    assert first.uuid != second.uuid
    assert first.fingerprint == second.fingerprint and len(first.fingerprint) == 32


def test_order_ids_do_not_count_but_the_dose_does() -> None:
    card = only(baclofen_titration.evaluate(_titration(60)))
    assert only(baclofen_titration.evaluate(_titration(60, ref="MedicationRequest/other"))).fingerprint == (
        card.fingerprint
    )
    assert only(baclofen_titration.evaluate(_titration(45))).fingerprint != card.fingerprint


def test_a_new_lab_value_gives_another_fingerprint() -> None:
    card = only(electrolyte_potassium.evaluate(_low_k(3.2)))
    assert only(electrolyte_potassium.evaluate(_low_k(3.1))).fingerprint != card.fingerprint
    # The same value measured again is a new result: it may be shown again.
    assert only(electrolyte_potassium.evaluate(_low_k(3.2, days_ago=1))).fingerprint != card.fingerprint


@pytest.mark.parametrize(
    ("rule", "patient"),
    [
        (baclofen_titration, _titration(60)),
        (electrolyte_potassium, _low_k(3.2)),
        # "taken 25 days" becomes "taken 26 days": the course start is what the card rests on
        (cyclobenzaprine_duration, facts("patient-view", meds=(med("cyclobenzaprine", start=ago(25)),))),
        # a renewal: days already run + new supply grows by a day, the days left shrink
        (
            cyclobenzaprine_duration,
            facts(
                drafts=(med("cyclobenzaprine", draft=True, supply_days=14),),
                meds=(med("cyclobenzaprine", start=ago(10), supply_days=14),),
            ),
        ),
        # "ended 10 days ago" becomes 11: the MAOI's end date is what the card rests on
        (
            serotonergic_combination,
            facts(
                drafts=(med("cyclobenzaprine", draft=True),),
                meds=(med("linezolid", status="completed", start=ago(20), end=ago(10)),),
            ),
        ),
    ],
    ids=["titration", "potassium", "course-past-limit", "renewal", "maoi-washout"],
)
def test_the_next_day_gives_the_same_fingerprint(rule, patient: PatientFacts) -> None:
    today = only(rule.evaluate(patient))
    tomorrow = only(rule.evaluate(_next_day(patient)))
    assert tomorrow.fingerprint == today.fingerprint


def test_an_egfr_in_the_same_band_keeps_the_fingerprint_another_band_changes_it() -> None:
    def card(value: float):
        return only(renal_dosing.evaluate(facts(drafts=(med(mg_per_day=15, draft=True),), renal=egfr(value))))

    assert card(45).fingerprint == card(50).fingerprint
    assert card(45).fingerprint != card(25).fingerprint


def test_the_interacting_drug_is_part_of_the_fingerprint() -> None:
    def card(partner: str):
        return only(
            serotonergic_combination.evaluate(
                facts(drafts=(med("cyclobenzaprine", draft=True),), meds=(med(partner, start=ago(30)),))
            )
        )

    assert card("sertraline").fingerprint != card("duloxetine").fingerprint


def test_the_fingerprint_is_not_in_the_response() -> None:
    card = only(baclofen_titration.evaluate(_titration(60)))
    body = HookResponse(cards=[card]).model_dump(mode="json", exclude_none=True)
    assert "fingerprint" not in str(body) and card.fingerprint not in str(body)
    assert "_about" not in str(body)


def test_a_folded_line_changes_the_hosts_fingerprint() -> None:
    from cds_service.cards import max_daily_dose

    patient = facts(drafts=(med("dantrolene", 500, draft=True),))  # above the maximum, and a start
    alone = only(max_daily_dose.evaluate(patient))
    host = next(c for c in engine.evaluate(patient).cards if c.topic_code == "max-daily-dose")
    assert "Also: Check liver tests before and during oral dantrolene" in (host.detail or "")
    assert host.fingerprint != alone.fingerprint


def test_plain_values_only_no_durations_no_records() -> None:
    assert fingerprint_of("t", ("Baclofen",), (30.0, None, NOW)) == fingerprint_of("t", ("baclofen",), (30, None, NOW))
    with pytest.raises(TypeError):
        fingerprint_of("t", ("baclofen",), (timedelta(days=3),))
    with pytest.raises(TypeError):
        fingerprint_of("t", ("baclofen",), (med(),))
