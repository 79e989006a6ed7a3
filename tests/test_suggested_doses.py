"""No card suggests a dose its order's judgment forbids (issue 19); every button reaches its dose and
supply however its client applies it (issue 20).

Every rule runs, directly (before the engine's guard, which would hide a rule's mistake), on every
dose scenario of the scenario matrix (`scripts/dose_scenarios.py`) and on every call of the
alert-burden population (`bench/burden_population.py`, built into facts as the service builds them);
each suggested MedicationRequest is read back and checked against its order's judgment
(`engine.doses_outside_judgment`). The guard itself is shown to catch a planted bad suggestion.
"""

from __future__ import annotations

import importlib.util
import logging
import re
import sys
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from bench.alert_burden import RecordSearch, hook_request, prefetch_for
from bench.burden_population import generate
from cds_service.cards import RULES
from cds_service.cards.baclofen_titration import RULE as TITRATION
from cds_service.cards.base import make_card, suggestion
from cds_service.cards.cyclobenzaprine_hepatic import RULE as HEPATIC
from cds_service.cards.suggestions import SUGGESTION_STYLES, SuggestionStyle
from cds_service.cdshooks import ORDER_HOOKS, Action, Card
from cds_service.engine import doses_outside_judgment, evaluate, keep_doses_inside_judgment
from cds_service.facts.build import build_facts
from cds_service.facts.judgment import RenalBand, judgment_of
from cds_service.facts.model import ConditionCategory as Cat
from cds_service.facts.model import PatientFacts
from cds_service.facts.orders import with_daily_dose
from cds_service.protocol.services import PREFETCH_TEMPLATES
from tests.support.facts import T, cond, egfr, facts, med
from tests.support.suggestions import check_applied

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("dose_scenarios", ROOT / "scripts" / "dose_scenarios.py")
assert _spec is not None and _spec.loader is not None
dose_scenarios = importlib.util.module_from_spec(_spec)
sys.modules["dose_scenarios"] = dose_scenarios
_spec.loader.exec_module(dose_scenarios)


def _rule_cards(f: PatientFacts) -> list[Card]:
    return [card for rule in RULES if f.hook in rule.hooks for card in rule.evaluate(f, T)]


def _check(f: PatientFacts, where: str, seen: list[int]) -> list[str]:
    problems = []
    for card in _rule_cards(f):
        seen[0] += len(card.suggestions or ())
        for index, why in doses_outside_judgment(card, f, T):
            label = (card.suggestions or [])[index].label
            problems.append(f"{where}: {card.topic_code} suggests '{label}': {why}")
    return problems


def test_no_rule_suggests_a_dose_outside_its_order_judgment_in_the_dose_scenarios() -> None:
    seen = [0]
    problems: list[str] = []
    count = 0
    for s in dose_scenarios.all_scenarios():
        count += 1
        problems += _check(s.facts, f"{s.product.name} / {s.order} / {s.kidney} / {s.age}", seen)
    assert count == 600
    assert seen[0] >= 60, seen  # the scenarios do offer doses: the check has something to catch
    assert problems == []


TODAY = date(2026, 12, 2)


@pytest.fixture(scope="module")
def population_facts() -> list[tuple[str, PatientFacts]]:
    out = []
    now = datetime(TODAY.year, TODAY.month, TODAY.day, 15, tzinfo=UTC)
    for scenario in generate(400, seed=1, today=TODAY):
        fhir = scenario.fhir()
        search = RecordSearch(fhir["resources"])
        hooks = ["patient-view"] + (list(ORDER_HOOKS) if scenario.drafts else [])
        for hook in sorted(hooks):
            request = hook_request(hook, scenario, fhir, prefetch_for(PREFETCH_TEMPLATES, scenario, search))
            f = build_facts(hook, request["context"], request["prefetch"], now)
            out.append((f"{scenario.pid} {scenario.situation} {hook}", f))
    return out


def test_no_rule_suggests_a_dose_outside_its_order_judgment_in_the_alert_burden_population(
    population_facts: list[tuple[str, PatientFacts]],
) -> None:
    seen = [0]
    problems: list[str] = []
    for where, f in population_facts:
        problems += _check(f, where, seen)
    assert seen[0] >= 20, seen
    assert problems == []


def test_the_guard_drops_a_dose_the_judgment_forbids_and_logs_no_patient_data(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The check can fail: a planted 'Change to 5 mg 3× daily' at eGFR 22 is outside, and the engine drops it."""
    draft = med(mg_per_day=30, draft=True, strength_mg=10)
    f = facts(drafts=(draft,), renal=egfr(22))
    change = Action(type="update", description="x", resource=with_daily_dose(draft, 15, 3))
    planted = make_card(
        TITRATION,
        summary="planted",
        indicator="warning",
        detail="planted",
        suggestions=[suggestion("Change to 5 mg 3× daily", change)],
        drugs=("baclofen",),
        basis=("planted",),
    )
    [(index, why)] = doses_outside_judgment(planted, f, T)
    assert index == 0 and why.startswith("no labelled dose here (oral: no labelled oral baclofen dose at eGFR below 30")
    with caplog.at_level(logging.WARNING, logger="cds_service.engine"):
        kept = keep_doses_inside_judgment(planted, f, T)
    assert kept.suggestions is None and kept.selectionBehavior is None
    # what was logged, not when: the formatted text carries the time, and 22:xx contains "22"
    standard = set(vars(logging.makeLogRecord({})))
    logged = " ".join(
        f"{r.getMessage()} {[v for k, v in vars(r).items() if k not in standard]}" for r in caplog.records
    )
    assert caplog.records and "pat1" not in logged and "22" not in logged
    normal = facts(drafts=(draft,), renal=egfr(75))
    assert doses_outside_judgment(planted, normal, T) == []  # the label start at a normal kidney is inside


def test_the_engine_answers_no_one_click_dose_at_egfr_22() -> None:
    draft = med(mg_per_day=30, draft=True, strength_mg=10)
    cards = evaluate(facts(drafts=(draft,), renal=egfr(22))).cards
    assert [c.topic_code for c in cards] == ["renal-dosing"] and not any(c.suggestions for c in cards)


_PROPOSES_A_DOSE = re.compile(
    r"Change to|Taper: change|next \*\*|Start \w+ at [\d.]+|Lower \w+ to|Raise \w+ by|Keep \w+ at|Wait until"
)


def test_no_card_states_a_dose_where_the_kidney_leaves_none() -> None:
    """Where an order's judgment leaves no labelled dose (oral baclofen at eGFR < 30 or on dialysis), no
    card about it proposes one in its words either: it says why and what to consider."""
    judged = 0
    for s in dose_scenarios.all_scenarios():
        judgment = judgment_of(s.facts, s.draft, T)
        if judgment.has_labelled_dose or judgment.kidney is None or judgment.kidney.band is not RenalBand.SEVERE:
            continue
        judged += 1
        for card in evaluate(s.facts).cards:
            text = f"{card.summary}\n{card.detail}"
            assert not _PROPOSES_A_DOSE.search(text), (s.product.name, s.order, s.kidney, card.summary)
    assert judged == 4 * 5 * 3 * 2  # four oral baclofen products, five order kinds, three severe kidneys, two ages
    # the check can fail: at a normal kidney the same start is told its labelled dose
    normal = dose_scenarios.scenario(dose_scenarios.PRODUCTS[0], "start", "eGFR 90", 40)
    assert any(_PROPOSES_A_DOSE.search(c.summary) for c in evaluate(normal.facts).cards)


def test_no_cyclobenzaprine_dose_in_moderate_or_severe_hepatic_impairment() -> None:
    """The engine's guard and the cards read the same liver judgment: immediate-release cyclobenzaprine
    with cirrhosis and ascites has no labelled dose, so no card proposes one and a planted one is dropped;
    in mild impairment 5 mg three times a day (15 mg/day) is inside, 10 mg three times a day is not."""
    ascites = replace(
        cond(Cat.CIRRHOSIS, "K70.31", "Alcoholic cirrhosis of liver with ascites"),
        categories=frozenset({Cat.CIRRHOSIS, Cat.LIVER_DISEASE, Cat.HEPATIC_DECOMPENSATION, Cat.ASCITES}),
    )
    draft = med("cyclobenzaprine", 40, draft=True, strength_mg=10, display="Cyclobenzaprine 10 MG Oral Tablet")
    severe = facts(drafts=(draft,), conditions=(ascites,))
    cards = evaluate(severe).cards
    assert "cyclobenzaprine-hepatic" in [c.topic_code for c in cards]
    for card in cards:
        assert not _PROPOSES_A_DOSE.search(f"{card.summary}\n{card.detail}"), card.summary
        for s in card.suggestions or ():
            for a in s.actions or ():  # a lab order may be offered; a cyclobenzaprine order only removed
                assert a.type == "delete" or (a.resource or {}).get("resourceType") != "MedicationRequest", s.label

    def planted(mg_per_day: float) -> Card:
        change = Action(type="update", description="x", resource=with_daily_dose(draft, mg_per_day, 3))
        return make_card(
            HEPATIC,
            summary="planted",
            indicator="warning",
            detail="planted",
            suggestions=[suggestion("Change", change)],
            drugs=("cyclobenzaprine",),
            basis=("planted",),
        )

    [(_, why)] = doses_outside_judgment(planted(15), severe, T)
    assert why.startswith("no labelled dose here") and "moderate or severe hepatic impairment" in why
    mild = facts(drafts=(draft,), conditions=(cond(Cat.CIRRHOSIS, "K74.60", "Unspecified cirrhosis of liver"),))
    assert doses_outside_judgment(planted(15), mild, T) == []
    [(_, why)] = doses_outside_judgment(planted(30), mild, T)
    assert "above the 15 mg/day allowed" in why


@pytest.mark.parametrize("style", SUGGESTION_STYLES)
def test_every_button_reaches_its_dose_and_supply_as_its_client_applies_it(
    population_facts: list[tuple[str, PatientFacts]], style: SuggestionStyle
) -> None:
    """Issue 20, over the scenario matrix (every dose scenario) and the alert-burden population: the
    engine's answer for each kind of client (clients file `suggestions`), every order button applied
    as that client applies it (the medication alone with the sig and supply kept, like the CDS Hooks
    sandbox; or the whole resource), read back with the service's own arithmetic, reaches the daily
    dose and supply it says. A supply limit is a button only for a whole-resource client; for the
    other it is a line saying what to enter."""
    problems: list[str] = []
    buttons = supply_buttons = supply_lines = 0
    everything = [
        (f"{s.product.name} / {s.order} / {s.kidney} / {s.age}", s.facts) for s in dose_scenarios.all_scenarios()
    ]
    for where, f in everything + population_facts:
        orders = f.drafts_in_scope + f.other_drafts
        for card in evaluate(f, suggestions=style).cards:
            supply_lines += (card.detail or "").count("enter on the order: days' supply")
            for s in card.suggestions or ():
                buttons += 1
                supply_buttons += s.label.startswith("Limit the supply")
                problems += [f"{where}: {p}" for p in check_applied(card.topic_code or "", s, orders, style)]
    assert problems == []
    assert buttons >= 20, buttons  # the check has buttons to apply
    if style == "whole-resource":
        assert supply_buttons >= 3 and supply_lines == 0, (supply_buttons, supply_lines)
    else:
        assert supply_buttons == 0 and supply_lines >= 3, (supply_buttons, supply_lines)
