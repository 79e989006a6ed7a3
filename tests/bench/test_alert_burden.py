"""The alert-burden benchmark's own sanity: its population, its ground truth, its arithmetic.

The benchmark itself (`bench/alert_burden.py`, 2,000 patients) is a measurement, not a test: here it
runs end to end on 30 patients only to show that every report field is produced. Nothing is timed.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from bench import alert_burden
from bench.alert_burden import Call, CardSeen, Outcome, RecordSearch, classify, prefetch_for, score
from bench.burden_catalogue import DRUGS, RELAXANT
from bench.burden_population import (
    INDICATORS,
    NEED_HOOKS,
    SITUATION_GROUPS,
    SITUATION_WEIGHTS,
    Need,
    PatientBuilder,
    Scenario,
    generate,
)
from bench.burden_truth import TOPICS, assess
from cds_service.protocol.services import PREFETCH_TEMPLATES

TODAY = date(2026, 12, 2)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sample() -> list[Scenario]:
    return generate(300, seed=1, today=TODAY)


# --- the population ----------------------------------------------------------------------------------


def _fingerprint(scenarios: list[Scenario]) -> str:
    return json.dumps(
        [[s.pid, s.situation, s.fhir(), s.selected, [repr(n) for n in s.needs], s.acceptable] for s in scenarios],
        sort_keys=True,
        default=str,
    )


def test_the_generator_is_deterministic_for_a_seed() -> None:
    first, again = generate(60, seed=7, today=TODAY), generate(60, seed=7, today=TODAY)
    assert _fingerprint(first) == _fingerprint(again)
    assert _fingerprint(first) != _fingerprint(generate(60, seed=8, today=TODAY))
    # patient i is the same whatever the population size
    assert _fingerprint(generate(10, seed=7, today=TODAY)) == _fingerprint(first[:10])


def test_each_situation_is_as_prevalent_as_its_weight(sample: list[Scenario]) -> None:
    n = len(sample)
    counts = Counter(s.situation for s in sample)
    assert set(counts) <= set(SITUATION_WEIGHTS)
    for name, weight in SITUATION_WEIGHTS.items():
        p = weight / sum(SITUATION_WEIGHTS.values())
        tolerance = 4 * math.sqrt(n * p * (1 - p)) + 2  # a 4-sigma binomial band
        assert abs(counts[name] - n * p) <= tolerance, (name, counts[name], n * p)
    groups = Counter(SITUATION_GROUPS[s.situation] for s in sample)
    assert 0.62 <= groups["no-relaxant"] / n <= 0.78
    relaxant = sum(1 for s in sample if s.on_relaxant)
    assert 0.2 <= relaxant / n <= 0.38, relaxant  # "most patients on no muscle relaxant"
    ages = [s.age for s in sample]
    assert min(ages) < 5 and max(ages) > 85
    assert 0.04 <= sum(a < 18 for a in ages) / n <= 0.2
    assert 0.2 <= sum(a >= 65 for a in ages) / n <= 0.45


def test_the_mix_is_realistic_beyond_the_situations() -> None:
    population = generate(1000, seed=3, today=TODAY)
    older = [s for s in population if s.age >= 65]
    ckd = [s for s in older if any(c.kind.ckd_stage for c in s.conditions)]
    assert 0.05 <= len(ckd) / len(older) <= 0.2  # ~10 % of older patients, a little more with baclofen-ckd
    meds = [m for s in population for m in s.meds + s.drafts]
    references = sum(1 for m in meds if m.style in ("epic-contained", "epic-bundled"))
    assert 0.15 <= references / len(meds) <= 0.4
    units = Counter((lab.kind, lab.unit) for s in population for lab in s.labs)
    for kind_unit in [
        ("potassium", "mmol/L"),
        ("potassium", "mEq/L"),
        ("magnesium", "mg/dL"),
        ("magnesium", "mmol/L"),
        ("magnesium", "mEq/L"),
        ("egfr", "mL/min/{1.73_m2}"),
        ("creatinine", "mg/dL"),
    ]:
        assert units[kind_unit] > 0, kind_unit
    recent = sum(1 for s in population for lab in s.labs if (TODAY - lab.when.date()).days <= 30)
    total = sum(units.values())
    assert 0.2 <= recent / total <= 0.7  # labs old and recent
    codings = Counter(c.coding for s in population for c in s.conditions)
    assert codings["icd"] and codings["snomed"] and codings["icd+snomed"]
    quiet = [s for s in population if not s.on_relaxant and not s.needs and not s.acceptable]
    assert 0.55 <= len(quiet) / len(population) <= 0.75


def test_every_scenario_is_well_formed(sample: list[Scenario]) -> None:
    for s in sample:
        draft_ids = {d.id for d in s.drafts}
        assert set(s.selected) <= draft_ids
        assert bool(s.selected) == bool(s.drafts)
        for need in s.needs:
            assert isinstance(need, Need)
            assert need.topic in TOPICS and set(need.also) <= set(TOPICS), need
            assert need.min_indicator in ("warning", "critical"), need
            assert need.hook in NEED_HOOKS, need
            assert need.why
            if need.hook == "order":
                assert s.drafts, (s.pid, need)
        assert len({(n.topic, n.hook) for n in s.needs}) == len(s.needs)  # one need per topic and hook
        for topic, level in s.acceptable.items():
            assert topic in TOPICS and level in INDICATORS, (topic, level)
        fhir = s.fhir()
        ids = [r["id"] for r in fhir["resources"]]
        assert len(ids) == len(set(ids)), s.pid
        assert all(d["resourceType"] == "MedicationRequest" for d in fhir["drafts"])


def test_relaxant_codes_are_the_ones_the_service_reads() -> None:
    """The population's relaxant orders carry RxNorm codes the service's table holds, for the same
    ingredient: a miss in the benchmark is then a rule's, not a code the service has never seen."""
    products = json.loads((ROOT / "cds_service/facts/data/rxnorm_products.json").read_text())["products"]
    for drug in DRUGS.values():
        if RELAXANT in drug.classes:
            assert drug.rxcui in products, drug.key
        if drug.rxcui in products:
            assert drug.ingredient in [i["ingredient"] for i in products[drug.rxcui]["ingredients"]], drug.key


# --- the ground truth on hand-made patients --------------------------------------------------------------


def _patient(age: int = 45, sex: str = "female") -> PatientBuilder:
    b = PatientBuilder(random.Random(0), "t1", TODAY, "hand-made", "test")
    b.age, b.sex = age, sex
    return b


def _truth(b: PatientBuilder) -> tuple[set[tuple[str, str, str]], dict[str, str]]:
    scenario = b.build()
    needs, acceptable = assess(scenario)
    return {(n.topic, n.min_indicator, n.hook) for n in needs}, acceptable


def test_truth_a_label_compliant_baclofen_start_needs_nothing() -> None:
    b = _patient()
    b.cond("ms")
    b.potassium(4.2, 5)
    b.magnesium(0.85, 5)
    b.draft("baclofen-5", 5, 3)
    needs, acceptable = _truth(b)
    assert needs == set()
    assert "baclofen-titration" not in acceptable


def test_truth_baclofen_doses_steps_and_stops() -> None:
    b = _patient()
    b.cond("ms")
    held = b.chronic("baclofen-20", 20, 3, current_start=30)
    b.change(held, "baclofen-10", 30, 3)  # 60 -> 90 mg/day
    assert ("max-daily-dose", "critical", "order") in _truth(b)[0]

    b = _patient()
    b.cond("ms")
    held = b.chronic("baclofen-20", 20, 3, current_start=30)
    b.stop(held)  # 60 mg/day stopped at once
    assert ("baclofen-withdrawal", "warning", "order") in _truth(b)[0]

    b = _patient()
    b.cond("ms")
    held = b.chronic("baclofen-5", 5, 2, current_start=30)
    b.stop(held)  # the end of a taper
    assert _truth(b)[0] == set()

    b = _patient()
    b.cond("ms")
    held = b.chronic("baclofen-10", 10, 3, current_start=1)
    b.change(held, "baclofen-5", 15, 3)  # +15 mg/day one day after the last step
    assert ("baclofen-titration", "warning", "order") in _truth(b)[0]


def test_truth_kidney_function() -> None:
    b = _patient(age=72)
    b.cond("ms")
    b.renal(45, 20)
    b.chronic("baclofen-10", 10, 3)
    assert ("renal-dosing", "warning", "patient-view") in _truth(b)[0]

    b = _patient(age=72)
    b.cond("ms")
    b.cond("esrd")
    b.cond("dialysis")
    b.draft("baclofen-5", 5, 3)
    assert ("renal-dosing", "critical", "order") in _truth(b)[0]

    b = _patient(age=72)
    b.cond("ms")
    b.renal(45, 20)
    b.chronic("tizanidine-4", 4, 3)
    needs, acceptable = _truth(b)
    assert needs == set() and "renal-dosing" not in acceptable  # tizanidine: only below 25


def test_truth_interactions_and_out_of_scope_pairs() -> None:
    b = _patient()
    b.cond("ms")
    b.chronic("tizanidine-4", 4, 3)
    b.draft("ciprofloxacin-500", 500, 2, supply=7)
    assert _truth(b)[0] == {("tizanidine-interaction", "critical", "order")}

    b = _patient()
    b.cond("ms")
    b.chronic("tizanidine-4", 4, 3)
    b.draft("famotidine-20", 20, 2)
    assert _truth(b)[0] == {("tizanidine-interaction", "warning", "order")}

    b = _patient()
    b.chronic("sertraline-100")
    b.draft("ondansetron-4", 4, 3, supply=5)
    assert _truth(b) == (set(), {})  # no muscle relaxant: not this service's business

    b = _patient()
    b.cond("low-back-pain")
    b.past("linezolid-600", 600, 2, ended=5, supply=10)
    b.draft("cyclobenzaprine-5", 5, 3, supply=7)
    assert ("serotonergic-combination", "critical", "order") in _truth(b)[0]

    b = _patient()
    b.cond("low-back-pain")
    b.cond("old-mi")
    b.draft("cyclobenzaprine-5", 5, 3, supply=7)
    assert _truth(b)[0] == set()


def test_truth_age_electrolytes_and_sedation() -> None:
    b = _patient(age=78)
    b.cond("low-back-pain")
    b.draft("cyclobenzaprine-5", 5, 2, supply=7)
    assert ("elderly-caution", "warning", "order") in _truth(b)[0]

    b = _patient(age=78)
    b.cond("low-back-pain")
    held = b.chronic("methocarbamol-500", 500, 3)
    b.renew(held)
    needs, acceptable = _truth(b)
    assert needs == set() and "elderly-caution" not in acceptable  # not on every renewal

    b = _patient()
    b.chronic("furosemide-40", 40, 1)
    b.potassium(2.3, 3)
    assert _truth(b) == (set(), {})  # no relaxant, no cramps: nothing from this service

    b = _patient()
    b.cond("ms")
    b.chronic("baclofen-10", 10, 3)
    b.potassium(2.3, 3)
    assert ("electrolyte-potassium", "critical", "patient-view") in _truth(b)[0]

    b = _patient()
    b.cond("ms")
    b.chronic("baclofen-10", 10, 3)
    b.chronic("gabapentin-300", 300, 3)
    needs, acceptable = _truth(b)
    assert needs == set() and acceptable.get("sedation-risk") == "info"  # two depressants under 65

    b = _patient()
    b.cond("ms")
    b.chronic("tizanidine-4", 4, 3)
    b.chronic("oxycodone-apap", 5, 3)
    b.draft("lorazepam-1", None, 2)
    assert ("sedation-risk", "critical", "order") in _truth(b)[0]


# --- scoring arithmetic on hand-made cards ------------------------------------------------------------------


def _outcomes() -> list[Outcome]:
    a = Outcome(
        "A",
        "s",
        "g",
        needs=[Need("tizanidine-interaction", "critical", "order", "tizanidine + ciprofloxacin")],
        acceptable={"electrolyte-potassium": "info"},
        quiet=False,
        calls=[
            Call(
                "patient-view", [CardSeen("electrolyte-potassium", "info"), CardSeen("spasm-treatment-summary", "info")]
            ),
            Call("order-select", [CardSeen("tizanidine-interaction", "critical")]),
            Call(
                "order-sign",
                [CardSeen("tizanidine-interaction", "critical"), CardSeen("electrolyte-potassium", "warning")],
            ),
        ],
    )
    b = Outcome(
        "B",
        "s",
        "g",
        needs=[
            Need("renal-dosing", "warning", "patient-view", "baclofen, eGFR 45"),
            Need("baclofen-withdrawal", "warning", "order", "60 -> 0 mg/day"),
        ],
        acceptable={},
        quiet=False,
        calls=[
            Call("patient-view", []),
            Call("order-select", [CardSeen("baclofen-withdrawal", "info")]),
            Call(
                "order-sign",
                [
                    CardSeen("baclofen-withdrawal", "info"),
                    CardSeen("electrolyte-monitoring", "info"),
                    CardSeen("elderly-caution", "warning"),
                ],
            ),
        ],
    )
    c = Outcome(
        "C",
        "s",
        "g",
        needs=[],
        acceptable={},
        quiet=True,
        calls=[Call("patient-view", [CardSeen("sedation-risk", "warning")])],
    )
    return [a, b, c]


def test_cards_are_classified_by_topic_then_indicator() -> None:
    a, b, c = _outcomes()
    assert classify(CardSeen("tizanidine-interaction", "critical"), a) == "need"
    assert classify(CardSeen("electrolyte-potassium", "info"), a) == "acceptable"
    assert classify(CardSeen("electrolyte-potassium", "warning"), a) == "over-graded"
    assert classify(CardSeen("baclofen-withdrawal", "info"), b) == "under-graded"  # the wrong indicator
    assert classify(CardSeen("elderly-caution", "warning"), b) == "unneeded"
    assert classify(CardSeen("sedation-risk", "warning"), c) == "unneeded"


def test_recall_and_unneeded_arithmetic() -> None:
    report = score(_outcomes())
    assert report["recall"]["critical"] == {"needs": 1, "met": 1, "recall": 1.0}
    assert report["recall"]["warning"] == {"needs": 2, "met": 0, "recall": 0.0}
    assert report["cards"] == 10 and report["calls"] == 7
    assert report["cards_by_class"] == {"need": 2, "acceptable": 1, "under-graded": 2, "over-graded": 1, "unneeded": 4}
    assert report["unneeded_share"] == pytest.approx(0.4)
    missed = {(m["patient"], m["topic"]): m for m in report["misses"]}
    assert set(missed) == {("B", "renal-dosing"), ("B", "baclofen-withdrawal")}
    assert missed[("B", "renal-dosing")]["shown"] == {"patient-view": []}
    assert missed[("B", "baclofen-withdrawal")]["shown"]["order-select"] == ["baclofen-withdrawal:info"]
    hooks = report["per_hook"]
    assert hooks["patient-view"]["calls"] == 3 and hooks["patient-view"]["cards"] == 3
    assert hooks["order-sign"]["calls_with_3_or_more"] == pytest.approx(0.5)
    assert hooks["order-select"]["cards_by_indicator"] == {"critical": 1, "info": 1}
    noise = {n["topic"]: n["cards"] for n in report["noisy_topics"]}
    assert noise == {
        "spasm-treatment-summary": 1,
        "electrolyte-monitoring": 1,
        "elderly-caution": 1,
        "sedation-risk": 1,
    }
    assert report["quiet_cohort"]["cards"] == 1 and report["quiet_cohort"]["cards_by_topic"] == {"sedation-risk": 1}
    targets = report["targets"]
    assert targets["critical_recall"]["pass"] and not targets["warning_recall"]["pass"]
    assert not targets["quiet_cohort_cards"]["pass"]
    assert targets["calls_with_3_or_more_cards"]["value"] == pytest.approx(1 / 7)
    assert not targets["unneeded_share"]["pass"]
    assert report["per_topic"]["tizanidine-interaction"]["critical_met"] == 1


def test_a_need_shown_on_the_wrong_hook_is_missed() -> None:
    outcome = Outcome(
        "D",
        "s",
        "g",
        [Need("renal-dosing", "warning", "order", "x")],
        {},
        False,
        [Call("patient-view", [CardSeen("renal-dosing", "warning")]), Call("order-select", []), Call("order-sign", [])],
    )
    report = score([outcome])
    assert report["recall"]["warning"]["met"] == 0
    assert report["cards_by_class"]["need"] == 1  # the card is on a needed topic: not noise


# --- prefetch from the service's own templates -----------------------------------------------------------------


def test_prefetch_answers_every_template_key_from_the_record() -> None:
    b = _patient(age=70)
    b.flavour = "epic"
    b.cond("ms")
    b.cond("hypertension", status="resolved")
    held = b.chronic("baclofen-10", 10, 3)
    held.style = "epic-bundled"
    b.past("amoxicillin-500", 500, 3, ended=400, status="cancelled")
    for days in range(15):
        b.potassium(4.0, days * 10)
    b.magnesium(0.8, 3)
    scenario = b.build()
    search = RecordSearch(scenario.fhir()["resources"])
    prefetch = prefetch_for(PREFETCH_TEMPLATES, scenario, search)
    assert set(prefetch) == set(PREFETCH_TEMPLATES) and all(v is not None for v in prefetch.values())
    assert prefetch["patient"]["resourceType"] == "Patient"
    statuses = {e["resource"].get("status") for e in prefetch["medications"]["entry"] if e["search"]["mode"] == "match"}
    assert "cancelled" not in statuses
    included = [e["resource"] for e in prefetch["medications"]["entry"] if e["search"]["mode"] == "include"]
    assert [m["resourceType"] for m in included] == ["Medication"]
    dates = [e["resource"]["effectiveDateTime"] for e in prefetch["potassium"]["entry"]]
    assert len(dates) == 10 and dates == sorted(dates, reverse=True)
    conditions = [e["resource"]["code"]["coding"][0]["code"] for e in prefetch["conditions"]["entry"]]
    assert "I10" not in conditions
    assert search.unknown == set()


# --- end to end, tiny ------------------------------------------------------------------------------------------


def test_a_tiny_run_produces_every_report_field(tmp_path: Path) -> None:
    report = alert_burden.run(30, seed=1, progress=False)
    assert report["patients"] == 30
    assert set(report["per_hook"]) == {"patient-view", "order-select", "order-sign"}
    assert report["per_hook"]["patient-view"]["calls"] == 30
    assert report["per_hook"]["order-select"]["calls"] == report["per_hook"]["order-sign"]["calls"]
    for hook in report["per_hook"].values():
        assert {
            "cards_per_call",
            "calls_with_1_or_more",
            "calls_with_3_or_more",
            "cards_by_indicator",
            "cards_by_topic",
        } <= set(hook)
    assert set(report["recall"]) == {"critical", "warning"}
    assert set(report["targets"]) == set(alert_burden.TARGETS)
    assert all(isinstance(t["pass"], bool) for t in report["targets"].values())
    for key in ("misses", "misses_by_topic", "noisy_topics", "per_topic", "quiet_cohort", "cards_by_class"):
        assert key in report
    assert report["errors"] == []  # every generated request is answered
    assert report["meta"]["prefetch_parameters_not_understood"] == []
    assert report["population"]["patients"] == 30
    text = alert_burden.render_text(report)
    assert "PASS" in text or "FAIL" in text
    path = alert_burden.write_report(report, tmp_path)
    assert json.loads(path.read_text())["meta"]["seed"] == 1


def test_the_command_exits_zero_whatever_the_targets(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert alert_burden.main(["--patients", "5", "--seed", "2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "recall" in out and list(tmp_path.glob("alert-burden-*.json"))


def test_dates_follow_the_real_clock_by_default() -> None:
    scenario = generate(1, seed=1)[0]
    assert abs((scenario.today - date.today()).days) <= 1


def test_a_concern_carried_as_a_line_counts_as_seen() -> None:
    """The engine folds a lesser card about the same drug into a critical one ("Also: ..."), linking
    the line to its topic's reasoning page; the benchmark credits the need through that link."""
    host = {
        "source": {"topic": {"code": "cyclobenzaprine-cardiac"}},
        "indicator": "critical",
        "links": [
            {"label": "Why this card: reasoning and sources", "url": "http://h/guideline/cyclobenzaprine-cardiac"},
            {"label": "cyclobenzaprine label (DailyMed)", "url": "https://dailymed.nlm.nih.gov/x"},
            {"label": "Also: Cyclobenzaprine course (reasoning)", "url": "http://h/guideline/cyclobenzaprine-duration"},
        ],
    }
    assert alert_burden.also_topics(host) == ("cyclobenzaprine-duration",)
    need = Need("cyclobenzaprine-duration", "warning", "patient-view", "course of 35 days")
    seen = CardSeen("cyclobenzaprine-cardiac", "critical", "", alert_burden.also_topics(host))
    outcome = Outcome("D", "s", "g", needs=[need], acceptable={}, quiet=False, calls=[Call("patient-view", [seen])])
    assert alert_burden.need_met(need, outcome)
    # Without the line the need is missed, whatever else the card says.
    bare = Outcome("E", "s", "g", needs=[need], acceptable={}, quiet=False,
                   calls=[Call("patient-view", [CardSeen("cyclobenzaprine-cardiac", "critical")])])  # fmt: skip
    assert not alert_burden.need_met(need, bare)
