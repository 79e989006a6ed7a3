"""Alert burden: how many cards clinicians would see in a day, and whether they are the right ones.

    .venv/bin/python bench/alert_burden.py --patients 2000 --seed 1

One command, seeded, no network. It generates a synthetic day of patients (`burden_population`: about
70 % on no muscle relaxant, the rest stable on baclofen or tizanidine, starting, renewing, changing or
stopping a relaxant, on interacting drugs, old, with kidney disease, children, low potassium or
magnesium, recent and old results), each with its clinical ground truth (`burden_truth`: which
situations need a warning or critical card, on which hook, and which topics an info card is welcome
on). Every patient then goes through the hook calls a day of care makes, in-process (FastAPI
TestClient on `create_app(load_settings(dev=True, storage_enabled=False))`): `patient-view` once; for
patients with draft orders, `order-select` with the selection, then `order-sign` with every draft.
Prefetch is filled from each service's own discovery templates, evaluated against the patient's
record by a small in-memory FHIR search (`RecordSearch`), so every key the service asks for is present
and nothing is ever fetched; there is no `fhirServer`.

Reported (printed, and written as JSON to `bench/results/alert-burden-<timestamp>.json`):

- per hook: calls, cards per call, share of calls with >= 1 and >= 3 cards, cards per indicator and
  per topic;
- recall of the needs, separately for critical and warning: a need is met when a card on its topic
  with an indicator at least the need's is shown on the hook where it belongs (`order`: order-select
  or order-sign; `patient-view`); every missed need with the patient, why it was needed and what was
  shown instead;
- the unneeded share: cards whose topic is neither a need nor an acceptable topic of that patient,
  with the noisiest topics and examples; also under-graded cards (a need's topic below its indicator)
  and over-graded ones (an acceptable topic above its level), counted apart;
- the quiet cohort: patients with no relaxant and nothing the service should speak about; every card
  they get is reported.

Targets (issue #12): 0 cards for the quiet cohort; recall 100 % of critical and >= 95 % of warning
needs; < 2 % of calls with >= 3 cards; unneeded cards < 10 % of all cards. The benchmark is a
measurement: it prints PASS/FAIL per target and always exits 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import time
import uuid
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.burden_expectations import cards_per_order, expectations  # noqa: E402
from bench.burden_expectations import render as render_expectations  # noqa: E402
from bench.burden_population import (  # noqa: E402
    INDICATOR_RANK,
    SITUATION_GROUPS,
    SITUATION_NAMES,
    SITUATION_WEIGHTS,
    Need,
    Scenario,
    generate,
)
from bench.burden_truth import TOPICS  # noqa: E402

RESULTS = ROOT / "bench" / "results"
HOOKS = ("patient-view", "order-select", "order-sign")
ORDER_HOOKS = ("order-select", "order-sign")
FHIR_BASE = "https://fhir.example.org/r4"

TARGETS = {
    "quiet_cohort_cards": ("cards for patients with no relaxant and nothing to say", "== 0"),
    "critical_recall": ("recall of critical needs", ">= 100 %"),
    "warning_recall": ("recall of warning needs", ">= 95 %"),
    "calls_with_3_or_more_cards": ("share of calls with >= 3 cards", "< 2 %"),
    "unneeded_share": ("share of cards that are not needed nor acceptable", "< 10 %"),
}


# --- an in-memory FHIR search over one patient's record ----------------------------------------------


class RecordSearch:
    """Answers the service's prefetch templates from one patient's resources.

    Understands what the templates use: `Type/{id}` reads and searches with `patient`/`subject`,
    `status`, `clinical-status`, `code` (token lists, `system|code`), `_sort=-date`, `_count`. A
    MedicationRequest search also returns the Medications its matches reference, as `include` entries
    (what `_include=MedicationRequest:medication` gives; the sandbox does the same). Parameters it does
    not understand are collected in `unknown` (reported, so a template change cannot go unnoticed).
    """

    KNOWN = frozenset({"patient", "subject", "status", "clinical-status", "code", "_sort", "_count", "category"})

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for resource in resources:
            self.by_type[resource["resourceType"]].append(resource)
        self.unknown: set[str] = set()

    def answer(self, query: str) -> dict[str, Any] | None:
        if "?" not in query:
            rtype, _, rid = query.partition("/")
            return next((r for r in self.by_type.get(rtype, []) if r.get("id") == rid), None)
        rtype, _, raw = query.partition("?")
        params = {k: ",".join(v) for k, v in parse_qs(raw, keep_blank_values=True).items()}
        self.unknown |= {f"{rtype}?{k}" for k in params if k not in self.KNOWN}
        matches = list(self.by_type.get(rtype, []))
        if "status" in params:
            wanted = set(params["status"].split(","))
            matches = [r for r in matches if r.get("status") in wanted]
        if "clinical-status" in params:
            wanted = set(params["clinical-status"].split(","))
            matches = [r for r in matches if _first_code(r.get("clinicalStatus")) in wanted]
        if "code" in params:
            wanted = {token.rpartition("|")[2] for token in params["code"].split(",")}
            matches = [r for r in matches if wanted & {c.get("code") for c in (r.get("code") or {}).get("coding", [])}]
        if params.get("_sort", "").lstrip("-") == "date":
            matches.sort(key=_date_of, reverse=params["_sort"].startswith("-"))
        if params.get("_count", "").isdigit():
            matches = matches[: int(params["_count"])]
        entries = [_entry(r, "match") for r in matches]
        if rtype == "MedicationRequest":
            wanted_ids = {
                ref.removeprefix("Medication/")
                for r in matches
                if (ref := (r.get("medicationReference") or {}).get("reference", "")).startswith("Medication/")
            }
            entries += [_entry(m, "include") for m in self.by_type.get("Medication", []) if m["id"] in wanted_ids]
        return {"resourceType": "Bundle", "type": "searchset", "total": len(matches), "entry": entries}


def _first_code(concept: Any) -> str | None:
    codings = (concept or {}).get("coding") or []
    return codings[0].get("code") if codings else None


def _date_of(resource: dict[str, Any]) -> str:
    return str(resource.get("effectiveDateTime") or resource.get("authoredOn") or resource.get("recordedDate") or "")


def _entry(resource: dict[str, Any], mode: str) -> dict[str, Any]:
    return {
        "fullUrl": f"{FHIR_BASE}/{resource['resourceType']}/{resource['id']}",
        "resource": resource,
        "search": {"mode": mode},
    }


def prefetch_for(templates: dict[str, str], scenario: Scenario, search: RecordSearch) -> dict[str, Any]:
    prefetch: dict[str, Any] = {}
    for key, template in templates.items():
        query = template.replace("{{context.patientId}}", scenario.pid).replace("{{context.userId}}", "bench")
        prefetch[key] = search.answer(query)
    return prefetch


def hook_request(hook: str, scenario: Scenario, fhir: dict[str, Any], prefetch: dict[str, Any]) -> dict[str, Any]:
    context: dict[str, Any] = {"userId": "Practitioner/bench", "patientId": scenario.pid}
    if hook in ORDER_HOOKS:
        entries = [{"resource": d} for d in fhir["drafts"]] + [{"resource": m} for m in fhir["draft_medications"]]
        context["draftOrders"] = {"resourceType": "Bundle", "type": "collection", "entry": entries}
        if hook == "order-select":
            context["selections"] = [f"MedicationRequest/{rid}" for rid in scenario.selected]
    return {
        "hookInstance": str(uuid.uuid5(uuid.NAMESPACE_URL, f"alert-burden/{scenario.pid}/{hook}")),
        "hook": hook,
        "context": context,
        "prefetch": prefetch,
    }


# --- outcomes and scoring ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardSeen:
    topic: str
    indicator: str
    summary: str = ""
    also: tuple[str, ...] = ()  # topics carried as an "Also:" line in this card (linked to their reasoning)
    suggests_dose: bool = False  # a suggestion creates or updates a MedicationRequest (a dose in one click)


def also_topics(card: dict[str, Any]) -> tuple[str, ...]:
    """Topics folded into a card as lines: the engine links each line to /guideline/<topic>."""
    return tuple(
        link["url"].rstrip("/").rsplit("/guideline/", 1)[1]
        for link in card.get("links") or ()
        if link.get("label", "").startswith("Also:") and "/guideline/" in link.get("url", "")
    )


def suggests_dose(card: dict[str, Any]) -> bool:
    """Whether a suggestion of the card creates or updates a MedicationRequest: a dose in one click."""
    return any(
        action.get("type") in ("create", "update")
        and (action.get("resource") or {}).get("resourceType") == "MedicationRequest"
        for suggestion in card.get("suggestions") or ()
        for action in suggestion.get("actions") or ()
    )


@dataclass
class Call:
    hook: str
    cards: list[CardSeen] = field(default_factory=list)
    status: int = 200
    error: str | None = None
    ms: float = 0.0
    orders: int = 0  # order hooks: the drafts in scope (selected at order-select, all at order-sign)


@dataclass
class Outcome:
    """One patient's expectations and what the service showed on each call."""

    pid: str
    situation: str
    group: str
    needs: list[Need]
    acceptable: dict[str, str]
    quiet: bool  # no relaxant and nothing to say: must get no card at all
    calls: list[Call]
    summary: str = ""
    forbidden_topics: frozenset[str] = frozenset()  # issue 19: topics no card may carry
    no_dose_suggestion: bool = False  # issue 19: no card may offer a dose in one click
    forbidden_phrases: frozenset[str] = frozenset()  # issue 19: words no card summary may say

    def cards_on(self, hooks: Iterable[str]) -> list[CardSeen]:
        wanted = set(hooks)
        return [card for call in self.calls if call.hook in wanted for card in call.cards]


def outcome_of(scenario: Scenario, calls: list[Call]) -> Outcome:
    quiet = not scenario.on_relaxant and not scenario.needs and not scenario.acceptable
    return Outcome(
        scenario.pid,
        scenario.situation,
        scenario.group,
        scenario.needs,
        scenario.acceptable,
        quiet,
        calls,
        scenario.summary(),
        scenario.forbidden_topics,
        scenario.no_dose_suggestion,
        scenario.forbidden_phrases,
    )


def need_hooks(need: Need) -> tuple[str, ...]:
    return ORDER_HOOKS if need.hook == "order" else ("patient-view",)


def need_met(need: Need, outcome: Outcome) -> bool:
    return any(
        (card.topic in need.topics or any(topic in need.topics for topic in card.also))
        and INDICATOR_RANK[card.indicator] >= INDICATOR_RANK[need.min_indicator]
        for card in outcome.cards_on(need_hooks(need))
    )


def classify(card: CardSeen, outcome: Outcome) -> str:
    """need | acceptable | under-graded | over-graded | unneeded (by topic first, then indicator)."""
    rank = INDICATOR_RANK.get(card.indicator, 0)
    mins = [INDICATOR_RANK[n.min_indicator] for n in outcome.needs if card.topic in n.topics]
    if mins and rank >= min(mins):
        return "need"
    accepted = outcome.acceptable.get(card.topic)
    if accepted is not None and rank <= INDICATOR_RANK[accepted]:
        return "acceptable"
    if mins:
        return "under-graded"
    if accepted is not None:
        return "over-graded"
    return "unneeded"


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def score(outcomes: list[Outcome]) -> dict[str, Any]:
    """Every figure of the report, from the outcomes alone (pure: the suite tests it on hand-made cards)."""
    per_hook: dict[str, dict[str, Any]] = {}
    for hook in HOOKS:
        calls = [call for o in outcomes for call in o.calls if call.hook == hook]
        cards = [card for call in calls for card in call.cards]
        per_hook[hook] = {
            "calls": len(calls),
            "cards": len(cards),
            "cards_per_call": _share(len(cards), len(calls)),
            "calls_with_1_or_more": _share(sum(1 for c in calls if c.cards), len(calls)),
            "calls_with_3_or_more": _share(sum(1 for c in calls if len(c.cards) >= 3), len(calls)),
            "max_cards_on_a_call": max((len(c.cards) for c in calls), default=0),
            "cards_by_indicator": dict(Counter(card.indicator for card in cards).most_common()),
            "cards_by_topic": dict(Counter(card.topic for card in cards).most_common()),
        }
    all_calls = [call for o in outcomes for call in o.calls]
    total_cards = sum(len(call.cards) for call in all_calls)

    # cards: needed, acceptable, or not
    classes: Counter[str] = Counter()
    by_topic: dict[str, Counter[str]] = defaultdict(Counter)
    noise_examples: dict[str, list[dict[str, Any]]] = defaultdict(list)
    noise_by_topic_hook: dict[str, Counter[str]] = defaultdict(Counter)
    noise_by_topic_situation: dict[str, Counter[str]] = defaultdict(Counter)
    off_grade: list[dict[str, Any]] = []
    for o in outcomes:
        for call in o.calls:
            for card in call.cards:
                kind = classify(card, o)
                classes[kind] += 1
                by_topic[card.topic][kind] += 1
                by_topic[card.topic][f"indicator:{card.indicator}"] += 1
                if kind == "unneeded":
                    noise_by_topic_hook[card.topic][call.hook] += 1
                    noise_by_topic_situation[card.topic][o.situation] += 1
                    if len(noise_examples[card.topic]) < 5:
                        noise_examples[card.topic].append(
                            {
                                "patient": o.pid,
                                "situation": o.situation,
                                "hook": call.hook,
                                "indicator": card.indicator,
                                "summary": card.summary,
                                "patient_summary": o.summary,
                            }
                        )
                elif kind in ("under-graded", "over-graded") and len(off_grade) < 200:
                    off_grade.append(
                        {
                            "patient": o.pid,
                            "situation": o.situation,
                            "hook": call.hook,
                            "kind": kind,
                            "topic": card.topic,
                            "indicator": card.indicator,
                            "summary": card.summary,
                        }
                    )
    unneeded = classes["unneeded"]
    noisy = sorted(noise_by_topic_hook, key=lambda t: -sum(noise_by_topic_hook[t].values()))
    noise = [
        {
            "topic": topic,
            "cards": sum(noise_by_topic_hook[topic].values()),
            "share_of_all_cards": _share(sum(noise_by_topic_hook[topic].values()), total_cards),
            "by_hook": dict(noise_by_topic_hook[topic].most_common()),
            "top_situations": dict(noise_by_topic_situation[topic].most_common(5)),
            "examples": noise_examples[topic],
        }
        for topic in noisy
    ]

    # needs: recall
    recall: dict[str, dict[str, Any]] = {}
    misses: list[dict[str, Any]] = []
    need_topic: dict[str, Counter[str]] = defaultdict(Counter)
    for level in ("critical", "warning"):
        total = met = 0
        for o in outcomes:
            for need in o.needs:
                if need.min_indicator != level:
                    continue
                total += 1
                ok = need_met(need, o)
                met += ok
                need_topic[need.topic][f"{level}_needs"] += 1
                need_topic[need.topic][f"{level}_met"] += ok
                if not ok:
                    shown = {
                        hook: [f"{c.topic}:{c.indicator}" for c in o.cards_on((hook,))]
                        for hook in need_hooks(need)
                        if any(call.hook == hook for call in o.calls)
                    }
                    misses.append(
                        {
                            "patient": o.pid,
                            "situation": o.situation,
                            "topic": need.topic,
                            "min_indicator": need.min_indicator,
                            "hook": need.hook,
                            "why": need.why,
                            "shown": shown,
                            "patient_summary": o.summary,
                        }
                    )
        recall[level] = {"needs": total, "met": met, "recall": _share(met, total) if total else 1.0}
    miss_groups = Counter((m["topic"], m["min_indicator"], m["hook"]) for m in misses)

    # the quiet cohort
    quiet = [o for o in outcomes if o.quiet]
    quiet_calls = [call for o in quiet for call in o.calls]
    quiet_cards = [(o, call, card) for o in quiet for call in o.calls for card in call.cards]
    quiet_offenders: dict[str, list[str]] = defaultdict(list)
    for o, call, card in quiet_cards:
        quiet_offenders[card.topic].append(f"{o.pid}/{call.hook}")

    errors = [
        {"patient": o.pid, "hook": call.hook, "status": call.status, "error": call.error}
        for o in outcomes
        for call in o.calls
        if call.status != 200
    ]
    figures = {
        "quiet_cohort_cards": len(quiet_cards),
        "critical_recall": recall["critical"]["recall"],
        "warning_recall": recall["warning"]["recall"],
        "calls_with_3_or_more_cards": _share(sum(1 for c in all_calls if len(c.cards) >= 3), len(all_calls)),
        "unneeded_share": _share(unneeded, total_cards),
    }
    passed = {
        "quiet_cohort_cards": figures["quiet_cohort_cards"] == 0,
        "critical_recall": figures["critical_recall"] >= 1.0,
        "warning_recall": figures["warning_recall"] >= 0.95,
        "calls_with_3_or_more_cards": figures["calls_with_3_or_more_cards"] < 0.02,
        "unneeded_share": figures["unneeded_share"] < 0.10,
    }
    topics = sorted(set(by_topic) | set(need_topic), key=lambda t: (t not in TOPICS, t))
    return {
        "cards_per_order": cards_per_order(outcomes),
        "expectations": expectations(outcomes),
        "patients": len(outcomes),
        "calls": len(all_calls),
        "cards": total_cards,
        "cards_per_call": _share(total_cards, len(all_calls)),
        "per_hook": per_hook,
        "cards_by_class": {k: classes[k] for k in ("need", "acceptable", "under-graded", "over-graded", "unneeded")},
        "unneeded_share": figures["unneeded_share"],
        "noisy_topics": noise,
        "off_grade_examples": off_grade,
        "recall": recall,
        "misses": misses,
        "misses_by_topic": [
            {"topic": t, "min_indicator": level, "hook": hook, "missed": n}
            for (t, level, hook), n in miss_groups.most_common()
        ],
        "per_topic": {
            t: {
                "cards": sum(v for k, v in by_topic[t].items() if not k.startswith("indicator:")),
                "by_indicator": {k.split(":")[1]: v for k, v in by_topic[t].items() if k.startswith("indicator:")},
                "by_class": {k: v for k, v in by_topic[t].items() if not k.startswith("indicator:")},
                "critical_needs": need_topic[t]["critical_needs"],
                "critical_met": need_topic[t]["critical_met"],
                "warning_needs": need_topic[t]["warning_needs"],
                "warning_met": need_topic[t]["warning_met"],
            }
            for t in topics
        },
        "quiet_cohort": {
            "patients": len(quiet),
            "calls": len(quiet_calls),
            "calls_with_cards": sum(1 for c in quiet_calls if c.cards),
            "cards": len(quiet_cards),
            "cards_by_topic": {t: len(v) for t, v in sorted(quiet_offenders.items(), key=lambda kv: -len(kv[1]))},
            "examples": {t: v[:5] for t, v in quiet_offenders.items()},
        },
        "errors": errors,
        "targets": {
            name: {"what": TARGETS[name][0], "target": TARGETS[name][1], "value": figures[name], "pass": passed[name]}
            for name in TARGETS
        },
    }


# --- the population's own description ----------------------------------------------------------------------


def describe_population(scenarios: list[Scenario]) -> dict[str, Any]:
    n = len(scenarios)
    by_situation = Counter(s.situation for s in scenarios)
    by_group = Counter(s.group for s in scenarios)
    bands = Counter(
        "0-17" if s.age < 18 else "18-44" if s.age < 45 else "45-64" if s.age < 65 else "65-79" if s.age < 80 else "80+"
        for s in scenarios
    )
    older = [s for s in scenarios if s.age >= 65]
    ckd_older = sum(1 for s in older if any(c.kind.ckd_stage for c in s.conditions) or _egfr_below(s, 60))
    requests = [m for s in scenarios for m in s.meds + s.drafts]
    labs = [lab for s in scenarios for lab in s.labs]
    needs = [need for s in scenarios for need in s.needs]
    return {
        "patients": n,
        "by_group": {g: {"patients": by_group[g], "share": _share(by_group[g], n)} for g in sorted(by_group)},
        "by_situation": {
            name: {
                "group": SITUATION_GROUPS[name],
                "patients": by_situation[name],
                "share": _share(by_situation[name], n),
                "expected_share": SITUATION_WEIGHTS[name] / 1000,
            }
            for name in SITUATION_NAMES
        },
        "on_a_relaxant": sum(1 for s in scenarios if s.on_relaxant),
        "ages": {band: bands[band] for band in ("0-17", "18-44", "45-64", "65-79", "80+")},
        "female": sum(1 for s in scenarios if s.sex == "female"),
        "ckd_among_65_and_over": {"patients": ckd_older, "of": len(older), "share": _share(ckd_older, len(older))},
        "patients_with_drafts": sum(1 for s in scenarios if s.drafts),
        "draft_actions": dict(Counter(m.action for s in scenarios for m in s.drafts).most_common()),
        "medication_requests": len(requests),
        "medication_reference_share": _share(
            sum(1 for m in requests if m.style in ("epic-contained", "epic-bundled")), len(requests)
        ),
        "ehr_flavours": dict(Counter(s.flavour for s in scenarios).most_common()),
        "lab_units": dict(Counter(f"{lab.kind} {lab.unit}" for lab in labs).most_common()),
        "recent_labs_30_days": sum(1 for s in scenarios for lab in s.labs if (s.today - lab.when.date()).days <= 30),
        "labs": len(labs),
        "condition_codings": dict(Counter(c.coding for s in scenarios for c in s.conditions).most_common()),
        "needs": {
            "critical": sum(1 for need in needs if need.min_indicator == "critical"),
            "warning": sum(1 for need in needs if need.min_indicator == "warning"),
            "by_topic": dict(
                Counter(f"{need.topic} {need.min_indicator} @{need.hook}" for need in needs).most_common()
            ),
        },
        "patients_with_needs": sum(1 for s in scenarios if s.needs),
        "quiet_cohort": sum(1 for s in scenarios if not s.on_relaxant and not s.needs and not s.acceptable),
    }


def _egfr_below(s: Scenario, limit: float) -> bool:
    values = [lab.normalized for lab in s.labs if lab.kind == "egfr"]
    return bool(values) and min(values) < limit


# --- running -----------------------------------------------------------------------------------------------


class _ServiceErrors(logging.Handler):
    """Collects what the service logs at ERROR (a rule that raised), instead of flooding stderr."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        what = record.getMessage()
        topic = getattr(record, "topic", None)
        exc = record.exc_info[1] if record.exc_info else None
        self.messages[f"{what}{f' [{topic}]' if topic else ''}{f': {type(exc).__name__}: {exc}' if exc else ''}"] += 1


@contextmanager
def service_client() -> Iterator[tuple[Any, _ServiceErrors]]:
    with warnings.catch_warnings():  # starlette's notice about httpx, once per process: not ours to act on
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from cds_service.app import create_app
    from cds_service.settings import load_settings

    saved = os.environ.pop("CDS_CONFIG_FILE", None)
    errors = _ServiceErrors()
    service_logger = logging.getLogger("cds_service")
    previous = (service_logger.level, service_logger.propagate)
    service_logger.addHandler(errors)
    service_logger.setLevel(logging.ERROR)
    service_logger.propagate = False
    try:
        settings = load_settings(dev=True, storage_enabled=False, topic_code_style="hyphenated")
        with TestClient(create_app(settings)) as client:
            yield client, errors
    finally:
        service_logger.removeHandler(errors)
        service_logger.setLevel(previous[0])
        service_logger.propagate = previous[1]
        if saved is not None:
            os.environ["CDS_CONFIG_FILE"] = saved


def discover(client: Any) -> dict[str, tuple[str, dict[str, str]]]:
    """hook -> (service id, prefetch templates), from the service's discovery endpoint."""
    response = client.get("/cds-services")
    response.raise_for_status()
    return {s["hook"]: (s["id"], dict(s.get("prefetch") or {})) for s in response.json()["services"]}


def run_patient(
    client: Any, services: dict[str, tuple[str, dict[str, str]]], scenario: Scenario, search_log: set[str]
) -> list[Call]:
    fhir = scenario.fhir()
    search = RecordSearch(fhir["resources"])
    hooks = ["patient-view"] + (list(ORDER_HOOKS) if scenario.drafts else [])
    calls: list[Call] = []
    for hook in hooks:
        service_id, templates = services[hook]
        request = hook_request(hook, scenario, fhir, prefetch_for(templates, scenario, search))
        started = time.perf_counter()
        response = client.post(f"/cds-services/{service_id}", json=request)
        ms = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            calls.append(Call(hook, [], response.status_code, response.text[:300], ms))
            continue
        cards = [
            CardSeen(
                card["source"]["topic"]["code"],
                card["indicator"],
                card.get("summary", ""),
                also_topics(card),
                suggests_dose(card),
            )
            for card in response.json().get("cards", [])
        ]
        orders = {"order-select": len(scenario.selected), "order-sign": len(scenario.drafts)}.get(hook, 0)
        calls.append(Call(hook, cards, 200, None, ms, orders))
    search_log |= search.unknown
    return calls


def run(patients: int, seed: int, *, progress: bool = True) -> dict[str, Any]:
    """Generate, call, score: the whole report (not yet written anywhere)."""
    started = time.perf_counter()
    scenarios = generate(patients, seed)
    generated = time.perf_counter()
    outcomes: list[Outcome] = []
    unknown_params: set[str] = set()
    latencies: dict[str, list[float]] = defaultdict(list)
    with service_client() as (client, errors):
        services = discover(client)
        for index, scenario in enumerate(scenarios, start=1):
            calls = run_patient(client, services, scenario, unknown_params)
            for call in calls:
                latencies[call.hook].append(call.ms)
            outcomes.append(outcome_of(scenario, calls))
            if progress and index % 250 == 0:
                print(f"  {index}/{len(scenarios)} patients", file=sys.stderr, flush=True)
    finished = time.perf_counter()
    report = score(outcomes)
    report["meta"] = {
        "command": f"python bench/alert_burden.py --patients {patients} --seed {seed}",
        "patients": patients,
        "seed": seed,
        "today": scenarios[0].today.isoformat() if scenarios else datetime.now(UTC).date().isoformat(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "code": _git_describe(),
        "python": platform.python_version(),
        "seconds": {
            "generate": round(generated - started, 2),
            "calls": round(finished - generated, 2),
            "total": round(finished - started, 2),
        },
        "median_ms_per_call": {h: round(sorted(v)[len(v) // 2], 2) for h, v in latencies.items() if v},
        "prefetch_keys": {hook: sorted(templates) for hook, (_, templates) in services.items()},
        "prefetch_parameters_not_understood": sorted(unknown_params),
        "service_errors_logged": dict(errors.messages.most_common()),
    }
    report["population"] = describe_population(scenarios)
    return report


def _git_describe() -> dict[str, str]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "cds_service_last_commit": git("log", "-1", "--format=%h %s", "--", "cds_service")[:120],
    }


# --- printing ------------------------------------------------------------------------------------------------


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def render_text(report: dict[str, Any], *, list_misses: bool = False) -> str:
    lines: list[str] = []
    out = lines.append
    meta = report.get("meta", {})
    population = report.get("population", {})
    out(
        f"Alert burden — {report['patients']} patients, seed {meta.get('seed')}, {meta.get('today')}, "
        f"code {meta.get('code', {}).get('commit', '?')} ({meta.get('seconds', {}).get('total', '?')} s)"
    )
    if population:
        groups = ", ".join(f"{g} {_pct(v['share'])}" for g, v in population["by_group"].items())
        out(
            f"population: {groups}; with drafts {population['patients_with_drafts']}; "
            f"needs: {population['needs']['critical']} critical, {population['needs']['warning']} warning; "
            f"quiet cohort {population['quiet_cohort']} patients"
        )
    out("")
    out(
        f"{'hook':<14}{'calls':>7}{'cards':>7}{'cards/call':>12}{'>=1 card':>10}{'>=3 cards':>11}{'max':>5}"
        "  by indicator"
    )
    for hook, h in report["per_hook"].items():
        by = ", ".join(f"{k} {v}" for k, v in h["cards_by_indicator"].items())
        out(
            f"{hook:<14}{h['calls']:>7}{h['cards']:>7}{h['cards_per_call']:>12.2f}{_pct(h['calls_with_1_or_more']):>10}"
            f"{_pct(h['calls_with_3_or_more']):>11}{h['max_cards_on_a_call']:>5}  {by}"
        )
    out(f"{'all':<14}{report['calls']:>7}{report['cards']:>7}{report['cards_per_call']:>12.2f}")
    out("")
    out(f"{'topic':<27}{'cards':>6}{'need':>6}{'ok':>5}{'noise':>6}{'grade±':>7}   crit met/needs   warn met/needs")
    for topic, t in report["per_topic"].items():
        c = t["by_class"]
        graded = c.get("under-graded", 0) + c.get("over-graded", 0)
        crit = f"{t['critical_met']}/{t['critical_needs']}" if t["critical_needs"] else "-"
        warn = f"{t['warning_met']}/{t['warning_needs']}" if t["warning_needs"] else "-"
        out(
            f"{topic:<27}{t['cards']:>6}{c.get('need', 0):>6}{c.get('acceptable', 0):>5}{c.get('unneeded', 0):>6}"
            f"{graded:>7}   {crit:>14}   {warn:>14}"
        )
    out("")
    rec = report["recall"]
    out(
        f"recall: critical {rec['critical']['met']}/{rec['critical']['needs']} = {_pct(rec['critical']['recall'])}; "
        f"warning {rec['warning']['met']}/{rec['warning']['needs']} = {_pct(rec['warning']['recall'])}"
    )
    classes = report["cards_by_class"]
    out(
        f"cards: {classes['need']} meet a need, {classes['acceptable']} acceptable, {classes['unneeded']} unneeded "
        f"({_pct(report['unneeded_share'])}), {classes['under-graded']} under-graded, "
        f"{classes['over-graded']} over-graded"
    )
    quiet = report["quiet_cohort"]
    out(
        f"quiet cohort: {quiet['patients']} patients, {quiet['calls']} calls, {quiet['calls_with_cards']} with cards, "
        f"{quiet['cards']} cards {dict(list(quiet['cards_by_topic'].items())[:5]) or ''}"
    )
    if report["errors"]:
        out(f"non-200 answers: {len(report['errors'])} (first: {report['errors'][0]})")
    if meta.get("service_errors_logged"):
        out(f"service errors logged: {meta['service_errors_logged']}")
    if meta.get("prefetch_parameters_not_understood"):
        out(f"prefetch parameters not understood (ignored): {meta['prefetch_parameters_not_understood']}")
    out("")
    out("missed needs by topic:")
    for group in report["misses_by_topic"][:20]:
        example = next(
            m
            for m in report["misses"]
            if (m["topic"], m["min_indicator"], m["hook"]) == (group["topic"], group["min_indicator"], group["hook"])
        )
        shown = "; ".join(f"{h}: {', '.join(v) or 'no card'}" for h, v in example["shown"].items())
        out(
            f"  {group['missed']:>4} × {group['topic']} {group['min_indicator']} @{group['hook']} — e.g. "
            f"{example['patient']} ({example['situation']}): {example['why']} | shown {shown}"
        )
    if list_misses:
        out("")
        out("every missed need:")
        for m in report["misses"]:
            shown = "; ".join(f"{h}: {', '.join(v) or 'no card'}" for h, v in m["shown"].items())
            out(
                f"  {m['patient']} {m['situation']}: {m['topic']} {m['min_indicator']} @{m['hook']} — {m['why']} | "
                f"shown {shown} | {m['patient_summary']}"
            )
    out("")
    out("noisiest topics (unneeded cards):")
    for n in report["noisy_topics"][:10]:
        example = n["examples"][0]
        out(
            f"  {n['cards']:>5} {n['topic']} ({_pct(n['share_of_all_cards'])} of all cards) {n['by_hook']} "
            f"— top: {dict(list(n['top_situations'].items())[:3])}; e.g. {example['patient']} {example['hook']} "
            f"{example['indicator']}: {example['summary'][:90]}"
        )
    for line in render_expectations(report):
        out(line)
    out("")
    for target in report["targets"].values():
        value = target["value"]
        shown = f"{value}" if isinstance(value, int) else _pct(value)
        out(f"{'PASS' if target['pass'] else 'FAIL'}  {target['what']}: {shown} (target {target['target']})")
    return "\n".join(lines)


def write_report(report: dict[str, Any], directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S+0000")
    path = directory / f"alert-burden-{stamp}.json"
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def dump_patients(pids: list[str], patients: int, seed: int, directory: Path) -> list[Path]:
    """The hook requests of some patients, as files `cds-service evaluate` takes (to debug a rule)."""
    wanted = set(pids)
    written: list[Path] = []
    directory.mkdir(parents=True, exist_ok=True)
    with service_client() as (client, _):
        services = discover(client)
    for scenario in generate(patients, seed):
        if scenario.pid not in wanted:
            continue
        fhir = scenario.fhir()
        search = RecordSearch(fhir["resources"])
        for hook in ["patient-view"] + (list(ORDER_HOOKS) if scenario.drafts else []):
            request = hook_request(hook, scenario, fhir, prefetch_for(services[hook][1], scenario, search))
            request["_benchmark"] = {
                "situation": scenario.situation,
                "needs": [n.__repr__() for n in scenario.needs],
                "acceptable": scenario.acceptable,
                "summary": scenario.summary(),
            }
            path = directory / f"{scenario.pid}-{hook}.json"
            path.write_text(json.dumps(request, indent=1) + "\n", encoding="utf-8")
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--patients", type=int, default=2000, help="population size (default 2000)")
    parser.add_argument("--seed", type=int, default=1, help="population seed (default 1)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="directory for the JSON report (bench/results)")
    parser.add_argument("--no-write", action="store_true", help="print only; write no JSON")
    parser.add_argument("--list-misses", action="store_true", help="print every missed need, not only the groups")
    parser.add_argument(
        "--dump",
        action="append",
        default=[],
        metavar="PATIENT",
        help="write this patient's hook requests (repeatable) to --dump-dir and stop",
    )
    parser.add_argument("--dump-dir", type=Path, default=Path("alert-burden-requests"))
    args = parser.parse_args(argv)
    if args.dump:
        for path in dump_patients(args.dump, args.patients, args.seed, args.dump_dir):
            print(path)
        return 0
    report = run(args.patients, args.seed)
    print(render_text(report, list_misses=args.list_misses))
    if not args.no_write:
        print(f"\nwritten: {write_report(report, args.out)}")
    return 0  # a measurement: the targets are printed, never an exit status


if __name__ == "__main__":
    sys.exit(main())
