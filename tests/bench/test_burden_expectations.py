"""Issue 19's expectations in the alert-burden benchmark, scored on hand-made outcomes (no service call)."""

from __future__ import annotations

from bench.alert_burden import Call, CardSeen, Outcome, suggests_dose
from bench.burden_expectations import cards_per_order, expectations, render
from bench.burden_population import generate


def _outcome(situation: str, cards: list[CardSeen], **kw: object) -> Outcome:
    return Outcome("P", situation, "g", [], {}, False, [Call("order-sign", cards, orders=2)], **kw)


def test_a_forbidden_topic_a_one_click_dose_and_a_forbidden_phrase_each_fail_their_expectation() -> None:
    report = expectations(
        [
            _outcome(
                "iv",
                [CardSeen("max-daily-dose", "warning", "Lower dantrolene")],
                forbidden_topics=frozenset({"max-daily-dose"}),
            ),
            _outcome("iv", [CardSeen("dantrolene-liver", "info")], forbidden_topics=frozenset({"max-daily-dose"})),
            _outcome("renal", [CardSeen("baclofen-titration", "warning", suggests_dose=True)], no_dose_suggestion=True),
            _outcome(
                "toxic",
                [CardSeen("baclofen-withdrawal", "warning", "Taper baclofen")],
                forbidden_phrases=frozenset({"Taper"}),
            ),
            _outcome(
                "toxic",
                [CardSeen("baclofen-withdrawal", "warning", "Stop baclofen now: toxicity")],
                forbidden_phrases=frozenset({"Taper"}),
            ),
            _outcome("plain", [CardSeen("max-daily-dose", "warning")]),  # no expectation: not counted
        ]
    )
    assert {s: (e["held"], e["patients"], e["pass"]) for s, e in report.items()} == {
        "iv": (1, 2, False),
        "renal": (0, 1, False),
        "toxic": (1, 2, False),
    }
    lines = render({"expectations": report})
    assert lines[0].startswith("FAIL  expectation iv: 1/2 patients — e.g. P: order-sign: max-daily-dose")


def test_a_suggestion_that_creates_a_medication_request_is_a_dose_in_one_click() -> None:
    lab = {"actions": [{"type": "create", "resource": {"resourceType": "ServiceRequest"}}]}
    dose = {"actions": [{"type": "update", "resource": {"resourceType": "MedicationRequest"}}]}
    removal = {"actions": [{"type": "delete", "resourceId": ["MedicationRequest/x"]}]}
    assert suggests_dose({"suggestions": [lab, dose]})
    assert not suggests_dose({"suggestions": [lab, removal]})
    assert not suggests_dose({})


def test_cards_per_order_counts_orders_in_scope() -> None:
    report = cards_per_order([_outcome("s", [CardSeen("a", "info"), CardSeen("b", "warning"), CardSeen("c", "info")])])
    assert report["order-sign"] == {
        "calls": 1,
        "orders": 2,
        "cards": 3,
        "cards_per_order": 1.5,
        "max_cards_per_order": 1.5,
    }


def test_the_population_carries_issue_19s_situations_and_their_expectations() -> None:
    scenarios = generate(2000, 1)
    by = {s.situation: s for s in scenarios}
    assert by["iv-dantrolene-malignant-hyperthermia"].forbidden_topics == {"max-daily-dose"}
    assert by["baclofen-titration-egfr-below-30"].no_dose_suggestion
    toxic = by["baclofen-toxic-stop"]
    assert toxic.no_dose_suggestion and "Taper" in toxic.forbidden_phrases
    assert [d.reason for d in toxic.drafts if d.action == "stop"] == ["baclofen-toxicity"]
    benzo = by["elderly-benzodiazepine-for-spasm-on-opioid"]
    assert {(n.topic, n.min_indicator, n.hook) for n in benzo.needs} >= {
        ("elderly-caution", "warning", "order"),
        ("sedation-risk", "critical", "order"),
    }
    cirrhosis = [s for s in scenarios if s.situation == "cyclobenzaprine-cirrhosis"]
    assert any(n.topic == "cyclobenzaprine-hepatic" for s in cirrhosis for n in s.needs)
    chart = [s for s in scenarios if s.situation == "mild-low-potassium-magnesium-chart"]
    assert any(s.acceptable.get("electrolyte-correction") == "info" for s in chart)
