"""electrolyte-potassium, electrolyte-magnesium and electrolyte-monitoring from typed facts.

Edges: K 3.5 / 3.49 / 2.5 mmol/L; Mg 0.70 / 0.5 mmol/L, 1.7 / 1.69 / 1.2 mg/dL, 1.4 mEq/L.
Scope: order hooks need a muscle-relaxant draft; patient-view needs a relaxant or a spasm condition.
"""

from __future__ import annotations

import pytest

from cds_service.cards import electrolyte_magnesium, electrolyte_monitoring, electrolyte_potassium
from cds_service.facts.model import ConditionCategory, DataGap, DrugClass, Indication
from tests.support.facts import ago, cond, facts, indicated, magnesium, med, only, potassium

RELAXANT_DRAFT = med(mg_per_day=10, draft=True)


def _order(**kw):
    return facts("order-sign", drafts=(RELAXANT_DRAFT,), **kw)


# --------------------------------------------------------------------------- potassium


@pytest.mark.parametrize(
    ("value", "indicator"),
    [
        (3.5, None),
        (3.49, "info"),
        (3.0, "info"),
        (2.99, "warning"),
        (2.5, "warning"),
        (2.49, "critical"),
        (1.9, "critical"),
    ],
)
def test_potassium_edges(value: float, indicator: str | None) -> None:
    cards = electrolyte_potassium.evaluate(_order(potassium=potassium(value)))
    if indicator is None:
        assert cards == []
        return
    card = only(cards)
    assert card.indicator == indicator
    assert card.topic_code == "electrolyte-potassium"
    assert f"K {value:g} mmol/L" in card.summary
    assert "2026-11-23" in card.detail  # the result's date (2 days before NOW)
    assert "potassium chloride" in card.detail
    assert "magnesium" in card.detail.lower()
    assert "summary, statement S16" in card.source.label.replace("statements", "statement")
    assert len(card.summary) <= 140


def test_potassium_in_meq_per_l_shows_the_unit_as_reported_and_normalized() -> None:
    card = only(electrolyte_potassium.evaluate(_order(potassium=potassium(3.1, "mEq/L"))))
    assert "K 3.1 mEq/L" in card.summary
    assert "3.1 mEq/L (3.1 mmol/L)" in card.detail


def test_preliminary_and_comparator_and_lab_flag() -> None:
    prelim = only(electrolyte_potassium.evaluate(_order(potassium=potassium(3.2, status="preliminary"))))
    assert "prelim" in prelim.summary
    assert "preliminary result" in prelim.detail
    below = only(electrolyte_potassium.evaluate(_order(potassium=potassium(2.5, comparator="<"))))
    assert below.indicator == "critical"  # "<2.5" is below 2.5
    assert electrolyte_potassium.evaluate(_order(potassium=potassium(3.0, comparator=">"))) == []
    flagged = only(electrolyte_potassium.evaluate(_order(potassium=potassium(2.7, interpretation="LL"))))
    assert flagged.indicator == "critical"


# --------------------------------------------------------------------------- magnesium


@pytest.mark.parametrize(
    ("value", "unit", "indicator"),
    [
        (0.70, "mmol/L", None),
        (0.69, "mmol/L", "info"),
        (0.5, "mmol/L", "warning"),
        (0.49, "mmol/L", "critical"),
        (1.7, "mg/dL", None),  # 1.7 × 0.4114 = 0.6994 mmol/L: judged as reported, not low
        (1.69, "mg/dL", "info"),
        (1.2, "mg/dL", "warning"),
        (1.19, "mg/dL", "critical"),
        (1.4, "mEq/L", None),
        (1.39, "mEq/L", "info"),
    ],
)
def test_magnesium_edges_in_each_unit(value: float, unit: str, indicator: str | None) -> None:
    cards = electrolyte_magnesium.evaluate(_order(magnesium=magnesium(value, unit)))
    if indicator is None:
        assert cards == []
        return
    card = only(cards)
    assert card.indicator == indicator
    assert card.topic_code == "electrolyte-magnesium"
    assert f"Mg {value:g} {unit}" in card.summary
    if unit != "mmol/L":
        assert "mmol/L)" in card.detail  # normalized value shown beside the reported one
    assert "magnesium sulfate" in card.detail


def test_magnesium_in_an_unlisted_unit_is_judged_on_the_normalized_value() -> None:
    card = only(electrolyte_magnesium.evaluate(_order(magnesium=magnesium(0.59, "mmol/l", mmol=0.59))))
    assert card.indicator == "warning"  # issue 12 bands: < 0.60 warning, 0.60-0.69 info


# --------------------------------------------------------------------------- scope (both rules)


@pytest.mark.parametrize("rule", [electrolyte_potassium, electrolyte_magnesium])
def test_quiet_for_patients_this_guideline_is_not_about(rule) -> None:
    low = {"potassium": potassium(2.0), "magnesium": magnesium(0.3)}
    # Order for an unrelated drug.
    assert rule.evaluate(facts("order-sign", drafts=(med("lisinopril", 10, draft=True),), **low)) == []
    # Patient-view of a patient with no relaxant and no spasm condition.
    assert rule.evaluate(facts("patient-view", meds=(med("lisinopril", 10),), **low)) == []
    # A baclofen stop order is not "ordering a muscle relaxant".
    stop = med(mg_per_day=10, draft=True, status="stopped")
    assert rule.evaluate(facts("order-sign", drafts=(stop,), **low)) == []
    # order-select: a relaxant that is not selected.
    assert rule.evaluate(facts("order-select", other_drafts=(RELAXANT_DRAFT,), **low)) == []


@pytest.mark.parametrize("rule", [electrolyte_potassium, electrolyte_magnesium])
def test_patient_view_fires_for_relaxant_or_spasm_condition(rule) -> None:
    low = {"potassium": potassium(2.9), "magnesium": magnesium(0.55)}  # the warning band
    on_relaxant = only(rule.evaluate(facts("patient-view", meds=(med("tizanidine", 12),), **low)))
    assert "tizanidine" in on_relaxant.detail
    cramps = cond(ConditionCategory.MUSCLE_CRAMPS, "R25.2", "Cramp and spasm")
    with_condition = only(rule.evaluate(facts("patient-view", conditions=(cramps,), **low)))
    assert "Cramp and spasm" in with_condition.detail


@pytest.mark.parametrize("rule", [electrolyte_potassium, electrolyte_magnesium])
def test_patient_view_is_quiet_in_the_mild_band(rule) -> None:
    """Issue 12: a mildly low value needs no action at a chart opening; the next relaxant order shows it."""
    mild = {"potassium": potassium(3.2), "magnesium": magnesium(0.65)}
    assert rule.evaluate(facts("patient-view", meds=(med("tizanidine", 12),), **mild)) == []
    assert only(rule.evaluate(_order(**mild))).indicator == "info"


# --------------------------------------------------------------------------- monitoring
# Issue 12: only with a reason to expect a deficit, never on every relaxant order.

FUROSEMIDE = med("furosemide", 40, classes=frozenset({DrugClass.LOOP_DIURETIC}))
HCTZ = med("hydrochlorothiazide", 25, classes=frozenset({DrugClass.THIAZIDE_DIURETIC}))


def _ppi(days: float) -> object:
    return med("omeprazole", 20, start=ago(days), classes=frozenset({DrugClass.PROTON_PUMP_INHIBITOR}))


def _monitor(*meds, **kw):
    return electrolyte_monitoring.evaluate(_order(meds=meds, **kw))


def _codes(card) -> list[str]:
    return [s.actions[0].resource["code"]["coding"][0]["code"] for s in card.suggestions]


def test_a_healthy_adults_relaxant_order_without_labs_is_quiet() -> None:
    assert electrolyte_monitoring.evaluate(facts("order-sign", age=40, drafts=(RELAXANT_DRAFT,))) == []


def test_a_loop_diuretic_asks_for_both_labs_names_the_reason_and_preselects_nothing() -> None:
    card = only(_monitor(FUROSEMIDE))
    assert card.indicator == "info"
    assert card.topic_code == "electrolyte-monitoring"
    assert card.summary == "Check potassium and magnesium before treating spasm: loop diuretic, none in 30 days"
    assert "furosemide (loop diuretic)" in card.detail
    assert _codes(card) == ["2823-3", "19123-9"]
    for s in card.suggestions:
        assert s.isRecommended is False
        action = s.actions[0]
        assert action.type == "create"
        assert action.resource["resourceType"] == "ServiceRequest"
        assert action.resource["subject"] == {"reference": "Patient/pat1"}


def test_a_loop_diuretic_being_ordered_with_the_relaxant_counts() -> None:
    drafted = med("furosemide", 40, draft=True, classes=frozenset({DrugClass.LOOP_DIURETIC}))
    assert only(electrolyte_monitoring.evaluate(facts(drafts=(RELAXANT_DRAFT,), other_drafts=(drafted,))))


def test_a_thiazide_cirrhosis_and_alcohol_use_disorder_are_reasons() -> None:
    assert "thiazide diuretic" in only(_monitor(HCTZ)).summary
    cirrhosis = cond(ConditionCategory.CIRRHOSIS, "K70.30", "Alcoholic cirrhosis of liver")
    card = only(_monitor(conditions=(cirrhosis,)))
    assert "Alcoholic cirrhosis of liver on record" in card.detail and "cirrhosis" in card.summary
    aud = cond(ConditionCategory.ALCOHOL_USE_DISORDER, "F10.20", "Alcohol dependence")
    assert "alcohol use disorder" in only(_monitor(conditions=(aud,))).summary


def test_cramps_as_the_indication_or_on_the_problem_list_are_reasons() -> None:
    card = only(
        electrolyte_monitoring.evaluate(
            facts(drafts=(RELAXANT_DRAFT,), indications=indicated(Indication.CRAMPS, RELAXANT_DRAFT))
        )
    )
    assert "cramps, what the relaxant treats" in card.detail
    cramps = cond(ConditionCategory.MUSCLE_CRAMPS, "R25.2", "Cramp and spasm")
    assert "Cramp and spasm on record" in only(_monitor(conditions=(cramps,))).detail


@pytest.mark.parametrize(("days", "fires"), [(89, False), (90, True), (400, True)])
def test_a_long_term_proton_pump_inhibitor_asks_for_magnesium_only(days: float, fires: bool) -> None:
    cards = _monitor(_ppi(days))
    if not fires:
        assert cards == []
        return
    card = only(cards)
    assert card.summary.startswith("Check magnesium before treating spasm: long-term PPI")
    assert _codes(card) == ["19123-9"]
    assert "omeprazole since" in card.detail


@pytest.mark.parametrize(("days", "missing"), [(30, False), (30.1, True), (200, True)])
def test_monitoring_edge_at_30_days(days: float, missing: bool) -> None:
    cards = _monitor(FUROSEMIDE, potassium=potassium(4.0, days_ago=days), magnesium=magnesium(0.8, days_ago=1))
    if not missing:
        assert cards == []
        return
    card = only(cards)
    assert card.summary.startswith("Check potassium before treating spasm")
    assert _codes(card) == ["2823-3"]
    assert "4 mmol/L" in card.detail  # the stale value is shown with its date


def test_monitoring_does_not_call_an_unretrieved_lab_missing() -> None:
    gap = DataGap(what="potassium results", reason="FHIR server answered 500", prefetch_key="potassium")
    card = only(_monitor(FUROSEMIDE, magnesium=None, gaps=(gap,)))
    assert _codes(card) == ["19123-9"]


def test_monitoring_scope() -> None:
    recent = {"potassium": potassium(4.0), "magnesium": magnesium(0.8)}
    assert _monitor(FUROSEMIDE, **recent) == []
    on_diuretic = {"meds": (FUROSEMIDE,)}
    assert electrolyte_monitoring.evaluate(facts(drafts=(med("lisinopril", 10, draft=True),), **on_diuretic)) == []
    # A reason without a muscle relaxant is the EHR's general lab monitoring, not this service's.
    cramps = cond(ConditionCategory.MUSCLE_CRAMPS, "R25.2", "Cramp and spasm")
    assert electrolyte_monitoring.evaluate(facts("patient-view", conditions=(cramps,), meds=(FUROSEMIDE,))) == []
    # Issue 12: a chart opening is not the moment to order labs, even for a patient on a relaxant.
    on_relaxant = (FUROSEMIDE, med(mg_per_day=30))
    assert electrolyte_monitoring.evaluate(facts("patient-view", conditions=(cramps,), meds=on_relaxant)) == []
    assert electrolyte_monitoring.RULE.hooks == {"order-select", "order-sign"}


# --- issue 11: the newest result could not be read ---------------------------------------------------


def test_unreadable_newest_potassium_flagged_ll_is_critical_and_the_old_value_is_previous() -> None:
    from cds_service.cards.electrolyte_potassium import evaluate as potassium_rule
    from cds_service.facts.model import LabKind
    from tests.support.facts import facts as _facts
    from tests.support.facts import med as _med
    from tests.support.facts import only as _only
    from tests.support.facts import potassium as _k
    from tests.support.facts import unreadable

    newest = unreadable(LabKind.POTASSIUM, "<b>hemolyzed</b>", flag="LL")
    card = _only(
        potassium_rule(_facts(drafts=[_med(draft=True)], potassium=_k(3.8, days_ago=20), potassium_unreadable=newest))
    )
    assert card.indicator == "critical"
    assert "could not be read" in card.detail and "<b>" not in card.detail
    assert "Previous readable potassium" in card.detail
    assert "Latest" not in card.detail


def test_unreadable_newest_magnesium_makes_the_older_low_value_previous() -> None:
    from cds_service.cards.electrolyte_magnesium import evaluate as magnesium_rule
    from cds_service.facts.model import LabKind
    from tests.support.facts import facts as _facts
    from tests.support.facts import magnesium as _mg
    from tests.support.facts import med as _med
    from tests.support.facts import only as _only
    from tests.support.facts import unreadable

    newest = unreadable(LabKind.MAGNESIUM, "pending", unit="mg/dL")
    card = _only(magnesium_rule(_facts(drafts=[_med(draft=True)], magnesium=_mg(0.6), magnesium_unreadable=newest)))
    assert "previous" in card.summary
    assert "Previous readable magnesium" in card.detail and "pending" in card.detail
    high = unreadable(LabKind.MAGNESIUM, "x", flag="H")
    assert magnesium_rule(_facts(drafts=[_med(draft=True)], magnesium=_mg(0.6), magnesium_unreadable=high)) == []


def test_a_current_supplement_quiets_all_but_the_critical_band() -> None:
    from cds_service.cards import electrolyte_potassium as rule
    from cds_service.facts.model import DrugClass
    from tests.support.facts import facts as _facts
    from tests.support.facts import med as _med
    from tests.support.facts import potassium as _k

    kcl = _med("potassium chloride", 40, classes=frozenset({DrugClass.POTASSIUM_SUPPLEMENT}))
    assert rule.evaluate(_facts(drafts=[_med(draft=True)], meds=[kcl], potassium=_k(2.8))) == []
    assert only(rule.evaluate(_facts(drafts=[_med(draft=True)], meds=[kcl], potassium=_k(2.4)))).indicator == "critical"
