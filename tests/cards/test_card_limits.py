"""Issue 12: cards a busy prescriber reads. Every card any test builds goes through the limits (the
autouse fixture in conftest.py); here each rule is driven to its longest card, with the longest and
most hostile EHR text, to show the limits hold beyond the ordinary cases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from cds_service.cards import RULES, RULES_BY_TOPIC
from cds_service.cards.base import DETAIL_MAX, SUMMARY_MAX
from cds_service.cdshooks import Card
from cds_service.facts.model import ConditionCategory as Cat
from cds_service.facts.model import DrugClass, Indication, LabKind, MatchMethod, OrderRelation, Route
from cds_service.protocol.pages import guideline_page
from tests.support.facts import (
    ago,
    cond,
    continues,
    egfr,
    facts,
    history,
    indicated,
    magnesium,
    med,
    potassium,
    unreadable,
)

HOSTILE = '<img src=x onerror=alert(1)> [click](http://evil) "quoted" & *starred* ' * 4  # 280 characters


def _long(ingredient: str, *args, **kw) -> object:
    return med(ingredient, *args, display=f"{ingredient} {HOSTILE}", **kw)


def _titration() -> list[Card]:
    from cds_service.cards import baclofen_titration

    draft = _long("baclofen", mg_per_day=95, draft=True, explanation=HOSTILE)
    previous = _long("baclofen", mg_per_day=20, start=ago(1, 2))
    return baclofen_titration.evaluate(
        facts(
            age=70,
            drafts=(draft,),
            meds=(previous,),
            dose_histories=history(20, ago(1, 2)),
            indications=indicated(Indication.CRAMPS_WITH_LIVER_DISEASE, draft),
            continuations=continues(draft, OrderRelation.INCREASE, previous),
        )
    )


def _withdrawal() -> list[Card]:
    from cds_service.cards import baclofen_withdrawal

    pump = _long("baclofen", mg_per_day=0.4, ref="MedicationRequest/itb", route=Route.INTRATHECAL)
    stop = _long("baclofen", draft=True, status="stopped", ref="MedicationRequest/itb", route=Route.INTRATHECAL)
    oral = [_long("baclofen", mg_per_day=30, ref=f"MedicationRequest/o{i}", start=ago(40)) for i in range(4)]
    oral_stop = _long("baclofen", draft=True, status="stopped", ref="MedicationRequest/o0")
    return baclofen_withdrawal.evaluate(facts(drafts=(stop, oral_stop), meds=(pump, *oral)))


def _cardiac() -> list[Card]:
    from cds_service.cards import cyclobenzaprine_cardiac

    conditions = [
        cond(c, "I99.99", HOSTILE, onset=ago(5), verification_status="provisional")
        for c in (Cat.CARDIAC_ARRHYTHMIA, Cat.CARDIAC_CONDUCTION, Cat.HEART_FAILURE, Cat.RECENT_MI, Cat.HYPERTHYROIDISM)
    ]
    drafts = [
        _long("cyclobenzaprine", draft=True, ref=f"MedicationRequest/c{i}", match=MatchMethod.NAME) for i in range(3)
    ]
    return cyclobenzaprine_cardiac.evaluate(facts(drafts=drafts, conditions=conditions))


def _duration() -> list[Card]:
    from cds_service.cards import cyclobenzaprine_duration

    course = [
        _long(
            "cyclobenzaprine",
            ref=f"MedicationRequest/c{i}",
            status="completed",
            start=ago(40 - 5 * i),
            end=ago(36 - 5 * i),
        )
        for i in range(5)
    ]
    draft = _long("cyclobenzaprine", draft=True, supply_days=30, supply_explanation=HOSTILE)
    return cyclobenzaprine_duration.evaluate(facts(drafts=[draft], meds=course))


def _elderly() -> list[Card]:
    from cds_service.cards import elderly_caution

    names = ["cyclobenzaprine", "methocarbamol", "carisoprodol", "chlorzoxazone", "metaxalone", "orphenadrine"]
    drafts = [_long(n, draft=True) for n in names] + [_long("cyclobenzaprine", draft=True, extended_release=True)]
    lorazepam = _long("lorazepam", draft=True)
    drafts.append(lorazepam)
    return elderly_caution.evaluate(
        facts(age=88, drafts=drafts, indications=indicated(Indication.SPASTICITY, lorazepam))
    )


def _potassium() -> list[Card]:
    from cds_service.cards import electrolyte_potassium

    newest = unreadable(LabKind.POTASSIUM, HOSTILE, unit=HOSTILE, flag="LL", problem=HOSTILE)
    relaxants = [_long(n, draft=True) for n in ("baclofen", "tizanidine", "cyclobenzaprine")]
    return electrolyte_potassium.evaluate(
        facts(drafts=relaxants, potassium=potassium(2.1, HOSTILE, status="preliminary"), potassium_unreadable=newest)
    )


def _magnesium() -> list[Card]:
    from cds_service.cards import electrolyte_magnesium

    cramps = cond(Cat.MUSCLE_CRAMPS, "R25.2", HOSTILE)
    low = magnesium(0.3, "mmol/L", status="preliminary", comparator="<", interpretation="LL")
    return electrolyte_magnesium.evaluate(facts("patient-view", conditions=(cramps,), magnesium=low))


def _monitoring() -> list[Card]:
    from cds_service.cards import electrolyte_monitoring

    furosemide = _long("furosemide", 40, classes=frozenset({DrugClass.LOOP_DIURETIC}))
    relaxants = [_long(n, draft=True) for n in ("baclofen", "tizanidine", "cyclobenzaprine")]
    return electrolyte_monitoring.evaluate(
        facts(
            drafts=relaxants,
            meds=(furosemide,),
            potassium=potassium(4.0, days_ago=400),
            magnesium=magnesium(0.8, days_ago=400),
        )
    )


def _renal() -> list[Card]:
    from cds_service.cards import renal_dosing

    drafts = (_long("baclofen", draft=True), _long("tizanidine", 12, draft=True))
    return renal_dosing.evaluate(facts(drafts=drafts, renal=egfr(12, method=HOSTILE, dialysis=True)))


def _sedation() -> list[Card]:
    from cds_service.cards import sedation_risk

    diazepam = _long("diazepam", draft=True)
    meds = [_long(n, ref=f"MedicationRequest/{n}", start=ago(30)) for n in ("oxycodone", "gabapentin", "zolpidem")]
    meds += [
        _long("sertraline", ref="MedicationRequest/s", classes=frozenset({DrugClass.SSRI, DrugClass.ANTIDEPRESSANT}))
    ]
    meds += [_long("tizanidine", ref="MedicationRequest/t"), _long("pregabalin", ref="MedicationRequest/p")]
    return sedation_risk.evaluate(
        facts(age=80, drafts=[diazepam], meds=meds, indications=indicated(Indication.SPASTICITY, diazepam))
    )


def _serotonergic() -> list[Card]:
    from cds_service.cards import serotonergic_combination

    partners = [_long(n, ref=f"MedicationRequest/{n}", start=ago(30)) for n in ("sertraline", "tramadol", "trazodone")]
    maois = [
        _long("linezolid", ref="MedicationRequest/l1", status="stopped", start=ago(12), end=ago(10)),
        _long("selegiline", ref="MedicationRequest/l2", status="stopped", start=ago(5), end=ago(-5)),
        _long("phenelzine", ref="MedicationRequest/l3", status="stopped", start=None),
    ]
    return serotonergic_combination.evaluate(
        facts(drafts=[_long("cyclobenzaprine", draft=True)], meds=[*partners, *maois])
    )


def _tizanidine() -> list[Card]:
    from cds_service.cards import tizanidine_interaction

    meds = [_long(n, ref=f"MedicationRequest/{n}", start=ago(3)) for n in ("fluvoxamine", "ciprofloxacin")]
    return tizanidine_interaction.evaluate(facts(drafts=[_long("tizanidine", draft=True)], meds=meds))


def _escalation() -> list[Card]:
    from cds_service.cards import treatment_escalation

    current = _long("baclofen", mg_per_day=80, start=ago(30))
    draft = _long("baclofen", mg_per_day=80, draft=True)
    return treatment_escalation.evaluate(
        facts(
            drafts=(draft,),
            meds=(current,),
            dose_histories=history(80, ago(30)),
            indications=indicated(Indication.ACUTE_MUSCULOSKELETAL, draft),
            continuations=continues(draft, OrderRelation.RENEWAL, current),
            conditions=(cond(Cat.LIVER_DISEASE, "K76.0", HOSTILE),),
        )
    )


def _others() -> list[Card]:
    from cds_service.cards import (
        albumin_liver_cramps,
        dantrolene_liver,
        max_daily_dose,
        medication_code_mismatch,
        order_unreadable,
        pediatric_caution,
    )

    cards: list[Card] = []
    conditions = (cond(Cat.MUSCLE_CRAMPS, "R25.2", HOSTILE), cond(Cat.CIRRHOSIS, "K70.30", HOSTILE))
    cards += albumin_liver_cramps.evaluate(facts(drafts=(_long("baclofen", draft=True),), conditions=conditions))
    hepatitis = cond(Cat.ACTIVE_LIVER_DISEASE, "K73.9", HOSTILE)
    cards += dantrolene_liver.evaluate(facts(drafts=(_long("dantrolene", 500, draft=True),), conditions=(hepatitis,)))
    cards += dantrolene_liver.evaluate(facts(drafts=(_long("dantrolene", 500, draft=True),)))
    orders = [_long("tizanidine", 20, ref=f"MedicationRequest/t{i}", explanation=HOSTILE) for i in range(5)]
    big = _long("tizanidine", 40, draft=True, explanation=HOSTILE)
    cards += max_daily_dose.evaluate(
        facts(age=80, drafts=(big,), meds=orders, continuations=continues(big, OrderRelation.DECREASE, orders[0]))
    )
    conflicted = replace(_long("carisoprodol", draft=True), name_conflict=("baclofen" * 20,) * 5, rxnorm_code="197446")
    cards += medication_code_mismatch.evaluate(facts(drafts=(conflicted,)))
    cards += order_unreadable.evaluate(facts(drafts=(_long("baclofen", None, draft=True, problems=(HOSTILE,) * 6),)))
    cards += pediatric_caution.evaluate(
        facts(age=3, drafts=(_long("dantrolene", draft=True), _long("baclofen", draft=True)))
    )
    cards += pediatric_caution.evaluate(facts(age=8, drafts=(_long("dantrolene", 50, draft=True),)))
    return cards


def _electrolyte_correction() -> list[Card]:
    from cds_service.cards import electrolyte_correction

    kcl = _long("potassium chloride", 40, ref="MedicationRequest/kcl", start=ago(90))
    mgo = _long("magnesium oxide", 400, ref="MedicationRequest/mgo", start=ago(90))
    k = replace(potassium(3.25, "mEq/L"), unit=HOSTILE, comparator="<")
    mg = magnesium(1.65, "mg/dL")
    return electrolyte_correction.evaluate(
        facts("patient-view", meds=(_long("baclofen", 30), kcl, mgo), potassium=k, magnesium=mg)
    )


def _cyclobenzaprine_hepatic() -> list[Card]:
    from cds_service.cards import cyclobenzaprine_hepatic

    liver = replace(cond(Cat.ASCITES, "R18.8", HOSTILE), stage=HOSTILE)
    cirrhosis = replace(cond(Cat.CIRRHOSIS, "K74.60", HOSTILE), stage=f"Child-Pugh class A {HOSTILE}")
    drafts = (
        _long("cyclobenzaprine", 30, draft=True, extended_release=True, ref="MedicationRequest/er"),
        _long("cyclobenzaprine", 30, draft=True, ref="MedicationRequest/ir"),
    )
    cards = cyclobenzaprine_hepatic.evaluate(facts(drafts=drafts, conditions=(cirrhosis,)))
    cards += cyclobenzaprine_hepatic.evaluate(facts(drafts=drafts, conditions=(cirrhosis, liver)))
    cards += cyclobenzaprine_hepatic.evaluate(facts(drafts=(_long("cyclobenzaprine", None, draft=True),),
                                                    conditions=(cirrhosis,)))  # fmt: skip
    return cards


SCENARIOS: dict[str, Callable[[], list[Card]]] = {
    "baclofen-titration": _titration,
    "baclofen-withdrawal": _withdrawal,
    "cyclobenzaprine-cardiac": _cardiac,
    "cyclobenzaprine-duration": _duration,
    "elderly-caution": _elderly,
    "electrolyte-potassium": _potassium,
    "electrolyte-magnesium": _magnesium,
    "electrolyte-monitoring": _monitoring,
    "cyclobenzaprine-hepatic": _cyclobenzaprine_hepatic,
    "electrolyte-correction": _electrolyte_correction,
    "renal-dosing": _renal,
    "sedation-risk": _sedation,
    "serotonergic-combination": _serotonergic,
    "tizanidine-interaction": _tizanidine,
    "treatment-escalation": _escalation,
    "others": _others,
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_the_longest_cards_stay_within_the_limits(name: str) -> None:
    cards = SCENARIOS[name]()
    assert cards, f"{name}: the worst case built no card"
    for card in cards:
        assert len(card.summary) <= SUMMARY_MAX, card.summary
        assert len(card.detail or "") <= DETAIL_MAX, (card.topic_code, len(card.detail or ""), card.detail)
        assert "<img" not in (card.detail or "") and "](http" not in (card.detail or "")


def test_every_rule_is_driven_to_its_longest_card_here() -> None:
    built = {c.topic_code for scenario in SCENARIOS.values() for c in scenario()}
    assert built == set(RULES_BY_TOPIC), sorted(set(RULES_BY_TOPIC) - built)


def test_detail_ends_with_one_citation_line_and_the_card_links_the_reasoning_and_the_label() -> None:
    [card] = _tizanidine()
    last = (card.detail or "").split("\n\n")[-1]
    assert last == "Source: Muscle-spasm treatment summary S4 · FDA tizanidine label."
    assert "> **Guideline" not in card.detail and "[" not in last
    assert [link.url for link in card.links or []] == [
        "/guideline/tizanidine-interaction",
        "https://dailymed.nlm.nih.gov/dailymed/search.cfm?labeltype=all&query=tizanidine",
    ]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.topic)
def test_each_guideline_page_carries_the_reasoning_the_card_leaves_out(rule) -> None:
    page = guideline_page(rule.topic) or ""
    assert rule.reasoning, f"{rule.topic} has no reasoning for its guideline page"
    assert "<h2>Why, in full</h2>" in page
    for statement in rule.statements:
        assert f"statement {statement}</b>" in page


def test_safety_facts_stay_on_the_card_and_the_full_label_words_are_on_the_page() -> None:
    from tests.support.facts import only

    [withdrawal] = [c for c in _withdrawal() if "intrathecal" in c.summary]
    assert "death" in (withdrawal.detail or "") and "rhabdomyolysis" in (withdrawal.detail or "")
    page = guideline_page("baclofen-withdrawal") or ""
    assert "Hallucinations and seizures".lower() in page.lower() and "pump alarms" in page
    stop = only([c for c in _withdrawal() if "intrathecal" not in c.summary])
    assert "seizures" in (stop.detail or "")


def test_the_data_unavailable_card_names_what_is_missing_within_the_limits() -> None:
    from cds_service import engine
    from cds_service.facts.model import DataGap

    gaps = (
        DataGap("kidney function (eGFR and creatinine results)", "the FHIR server did not answer", "renal"),
        DataGap("magnesium results", "the FHIR server did not answer", "magnesium"),
        DataGap("potassium results", "the FHIR server did not answer", "potassium"),
    )
    on_baclofen = (med(mg_per_day=30),)  # gaps matter for a patient this service is about
    [card] = engine.evaluate(facts("patient-view", meds=on_baclofen, gaps=gaps)).cards
    assert card.summary == (
        "Review in the chart: kidney function, magnesium results, potassium results could not be retrieved"
    )
    assert r"kidney function \(eGFR and creatinine results\)" in (card.detail or "")  # escaped markdown
    many = tuple(DataGap(f"{HOSTILE} {i}", HOSTILE * 3, None) for i in range(6))
    [card] = engine.evaluate(facts("patient-view", meds=on_baclofen, gaps=many)).cards
    assert len(card.summary) <= SUMMARY_MAX and len(card.detail or "") <= DETAIL_MAX
    assert "and 4 more" in (card.detail or "") and "does **not** mean" in (card.detail or "")
