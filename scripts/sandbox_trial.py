"""Try the service as an integrator does: the CDS Hooks sandbox in Chromium, against a real FHIR server.

Not part of CI (it needs a local build of github.com/cds-hooks/sandbox and a browser): run it by
hand after a change to cards or discovery, and look at the screenshots as a prescriber would.

    cd ../sandbox && npm ci && npm run build          # once
    .venv/bin/python scripts/sandbox_trial.py --sandbox-build ../sandbox/build --out docs/sandbox-trial

What runs, all on 127.0.0.1: Medplum's in-memory R4 server (tests/medplum) holding a handful of
patients; the sandbox's static build; `cds-service serve` trusting the sandbox's issuer with its
pinned public JWKS (authentication on, as in production, not --dev), CORS for the sandbox's
origin, only the Medplum server allowed. Chromium opens the sandbox with its URL parameters
(`fhirServiceUrl`, `patientId`, `serviceDiscoveryURL`, `hook`, `screen`); the script fills the
order form as a prescriber does (the sandbox drops its `prescribed*` parameters when the patient
loads); the sandbox fills our prefetch templates against Medplum and calls the service with its
own JWT, on every change of the form.

For each scenario: a full-page screenshot, the cards the service answered (from the network,
not scraped), and where a scenario says so, a click on a card's button and what followed
(the next hook call, feedback). A report in Markdown sums it up.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import http.server
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.fhir import (  # noqa: E402  (the tests' builders shape resources as EHRs do)
    SNOMED,
    condition,
    creatinine,
    medication_request,
    patient,
    potassium,
)

MEDPLUM_DIR = ROOT / "tests" / "medplum"
SANDBOX_JWKS = ROOT / "fixtures" / "real-clients" / "cds-hooks-sandbox" / "jwks.json"
SANDBOX_ISS = "https://sandbox.cds-hooks.org"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ADMIN_TOKEN = "sandbox-trial-admin-token"  # for /analytics, this run only
SETTLE_SECONDS = 2.0  # after the last hook answer, for the sandbox to render


def days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def born_years_ago(years: int) -> str:
    return (datetime.now(UTC) - timedelta(days=365.25 * years + 40)).date().isoformat()


# ------------------------------------------------------------------------- patients on the FHIR server


def trial_patients() -> list[dict[str, Any]]:
    """Patients a prescriber meets: nothing relevant, an elderly heart-failure patient on a long
    cyclobenzaprine course, cirrhosis with cramps, a patient on ciprofloxacin, a low potassium."""

    def named(resource: dict[str, Any], given: str, family: str) -> dict[str, Any]:
        resource["name"] = [{"given": [given], "family": family}]
        return resource

    resources: list[dict[str, Any]] = []
    resources += [
        named(patient(born_years_ago(45), "male", pid="trial-ordinary"), "Omar", "Ordinary"),
        condition("I10", "Essential hypertension", pid="trial-ordinary", cid="trial-ordinary-htn"),
        medication_request(
            "314077",
            "lisinopril 20 MG Oral Tablet",
            rid="trial-ordinary-lisinopril",
            dose=1,
            dose_unit="{tbl}",
            dose_code="{tbl}",
            frequency=1,
            supply_days=90,
            authored_on=days_ago(120)[:10],
            pid="trial-ordinary",
        ),
    ]
    resources += [
        named(patient(born_years_ago(78), "female", pid="trial-elderly-hf"), "Edna", "Elder"),
        condition("I50.9", "Heart failure, unspecified", pid="trial-elderly-hf", cid="trial-elderly-hf-chf"),
        condition("M62.830", "Muscle spasm of back", pid="trial-elderly-hf", cid="trial-elderly-hf-spasm"),
        medication_request(
            "828348",
            "Cyclobenzaprine hydrochloride 10 MG Oral Tablet",
            rid="trial-elderly-hf-cbz",
            dose=1,
            dose_unit="{tbl}",
            dose_code="{tbl}",
            frequency=3,
            supply_days=30,
            authored_on=days_ago(35)[:10],
            pid="trial-elderly-hf",
        ),
        creatinine(0.9, days_ago(20), pid="trial-elderly-hf"),
    ]
    resources += [
        named(patient(born_years_ago(60), "male", pid="trial-cirrhosis"), "Carl", "Cramps"),
        condition("K74.60", "Unspecified cirrhosis of liver", pid="trial-cirrhosis", cid="trial-cirrhosis-k74"),
        condition("55300003", "Cramp in muscle", system=SNOMED, pid="trial-cirrhosis", cid="trial-cirrhosis-cramp"),
    ]
    resources += [
        named(patient(born_years_ago(50), "female", pid="trial-cipro"), "Cora", "Quinolone"),
        condition("N39.0", "Urinary tract infection, site not specified", pid="trial-cipro", cid="trial-cipro-uti"),
        medication_request(
            "309309",
            "ciprofloxacin 500 MG Oral Tablet",
            rid="trial-cipro-cipro",
            dose=1,
            dose_unit="{tbl}",
            dose_code="{tbl}",
            frequency=2,
            supply_days=7,
            authored_on=days_ago(2)[:10],
            pid="trial-cipro",
        ),
    ]
    resources += [named(patient(born_years_ago(40), "male", pid="trial-override"), "Otto", "Override")]
    resources += [named(patient(born_years_ago(35), "female", pid="trial-signer"), "Sina", "Signer")]
    resources += [
        named(patient(born_years_ago(55), "female", pid="trial-low-k"), "Kay", "Lowe"),
        condition("R25.2", "Cramp and spasm", pid="trial-low-k", cid="trial-low-k-cramp"),
        potassium(2.9, days_ago(1), pid="trial-low-k"),
    ]
    return resources


# ------------------------------------------------------------------------- scenarios


@dataclass
class Order:
    """What a prescriber enters in the sandbox's Rx View / Rx Sign form (it always adds a 30-day supply)."""

    medication: str  # exactly as the sandbox lists it (its RxNorm list)
    number: int = 1
    frequency: str = "daily"  # daily | twice daily | three times daily | four times daily
    treating: str | None = None  # a Condition of the patient, by its text


@dataclass
class Scenario:
    name: str
    title: str
    patient_id: str
    screen: str  # patient-view | rx-view | rx-sign
    what_a_prescriber_expects: str
    order: Order | None = None
    click: str | None = None  # a regular expression for a card button to press
    override_then_reorder: bool = False  # dismiss the card with a reason, reload, enter the same order
    then_sign: bool = False  # then Rx Sign with the same order (the sandbox keeps it) and "Sign Order"
    resign_with_supply: int | None = None  # rx-sign: then choose this Supply Duration and sign again


SCREEN_HOOK = {"patient-view": "patient-view", "rx-view": "order-select", "rx-sign": "order-sign"}

SCENARIOS = [
    Scenario(
        "01-ordinary-chart",
        "Chart of a patient with nothing relevant",
        "trial-ordinary",
        "patient-view",
        "no card",
    ),
    Scenario(
        "02-tizanidine-label-start",
        "Tizanidine 2 mg three times a day",
        "trial-ordinary",
        "rx-view",
        "no card (the label's own start)",
        Order("tizanidine 2 MG Oral Tablet", 1, "three times daily"),
    ),
    Scenario(
        "03-cyclobenzaprine-30-days",
        "Cyclobenzaprine 10 mg three times a day (the sandbox's 30-day supply)",
        "trial-ordinary",
        "rx-view",
        "one warning: past 2-3 weeks; no button (the sandbox applies only a suggestion's medication, so a supply "
        "limit would be accepted and change nothing): the card says to enter days' supply 21, quantity 63 tablets",
        Order("Cyclobenzaprine hydrochloride 10 MG Oral Tablet", 1, "three times daily"),
        click=r"21",  # there should be none: reported if there is
        then_sign=True,  # the unchanged order signed: the warning seen at order-select is not repeated
    ),
    Scenario(
        "04-baclofen-above-label-start",
        "Baclofen 20 mg three times a day, no indication on record",
        "trial-ordinary",
        "rx-view",
        "one warning: 60 mg/day starts above the label's 5 mg three times a day; its button 'Change to baclofen "
        "5 mg tablet, 1 three times a day (15 mg/day)' leaves the order at 15 mg/day (no card on the next call)",
        Order("Baclofen 20 MG Oral Tablet", 1, "three times daily"),
        click=r"5 mg tablet",
        then_sign=True,  # the switched order signed: still 15 mg/day, no card
    ),
    Scenario(
        "05-baclofen-cirrhosis-cramps-plan",
        "Baclofen 10 mg once a day for cramps in cirrhosis",
        "trial-cirrhosis",
        "rx-view",
        "no card (the cirrhosis-cramp plan's own start)",
        Order("Baclofen 10 MG Oral Tablet", 1, "daily", treating="Cramp in muscle"),
    ),
    Scenario(
        "06-baclofen-cirrhosis-fast-start",
        "Baclofen 10 mg three times a day for cramps in cirrhosis",
        "trial-cirrhosis",
        "rx-view",
        "one warning: the plan starts at 10 mg/day; no dose button (no tablet gives 10 mg/day as 1 tablet three "
        "times a day): the card says to order baclofen 5 mg tablet, 1 twice a day",
        Order("Baclofen 10 MG Oral Tablet", 1, "three times daily", treating="Cramp in muscle"),
    ),
    Scenario(
        "07-tizanidine-with-ciprofloxacin",
        "Signing tizanidine 4 mg three times a day with ciprofloxacin active",
        "trial-cipro",
        "rx-sign",
        "one critical card: contraindicated with ciprofloxacin",
        Order("tizanidine 4 MG Oral Tablet", 1, "three times daily"),
    ),
    Scenario(
        "08-elderly-heart-failure-chart",
        "Chart: 78, heart failure, cyclobenzaprine for 35 days",
        "trial-elderly-hf",
        "patient-view",
        "a critical card (cyclobenzaprine contraindicated in heart failure); at most one more",
    ),
    Scenario(
        "09-low-potassium-chart",
        "Chart: cramps and potassium 2.9 mmol/L yesterday",
        "trial-low-k",
        "patient-view",
        "one card: potassium below 3.0 to correct",
    ),
    Scenario(
        "10-override-sticks",
        "Baclofen 20 mg three times a day, the card overridden with a reason, then the same order again",
        "trial-override",
        "rx-view",
        "the warning once; after the override, no card for the same order (issue 12: overrides that stick)",
        Order("Baclofen 20 MG Oral Tablet", 1, "three times daily"),
        override_then_reorder=True,
    ),
    Scenario(
        "11-cyclobenzaprine-signed-then-supply-entered",
        "Signing cyclobenzaprine 10 mg three times a day, 30 days; then the supply entered by hand (14 days)",
        "trial-signer",
        "rx-sign",
        "one warning at signing, no button, saying to enter days' supply 21 and quantity 63 tablets; after "
        "choosing 14 days (the sandbox's Supply Duration offers 7, 14, 30, 60 or 90) and signing again, no card",
        Order("Cyclobenzaprine hydrochloride 10 MG Oral Tablet", 1, "three times daily"),
        resign_with_supply=14,
    ),
]


# ------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(url: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")


@contextlib.contextmanager
def medplum() -> Iterator[str]:
    if not (MEDPLUM_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=MEDPLUM_DIR, check=True)
    process = subprocess.Popen(
        ["node", "server.mjs", "--port", "0"], cwd=MEDPLUM_DIR, stdout=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or []], daemon=True).start()
    try:
        match = re.match(r'MEDPLUM_READY \{"base":"(?P<base>[^"]+)"', lines.get(timeout=60))
        if match is None:
            raise SystemExit("the Medplum server did not start")
        yield match["base"]
    finally:
        process.terminate()
        process.wait(timeout=10)


def load(base: str, resources: list[dict[str, Any]]) -> None:
    with httpx.Client(timeout=10) as http:
        for resource in resources:
            url = f"{base}/{resource['resourceType']}/{resource['id']}"
            http.put(url, json=resource, headers={"Content-Type": "application/fhir+json"}).raise_for_status()


@contextlib.contextmanager
def static_site(directory: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextlib.contextmanager
def service(fhir_base: str, sandbox_origin: str, workdir: Path) -> Iterator[str]:
    """`cds-service serve` as a hospital would run it for a demo: client JWTs checked."""
    clients = workdir / "clients.toml"
    clients.write_text(
        "[[client]]\n"
        'name = "cds-hooks-sandbox"\n'
        f'iss = "{SANDBOX_ISS}"\n'
        f'jwks_url = ["{SANDBOX_ISS}/.well-known/jwks.json"]\n'
        f'jwks_file = "{SANDBOX_JWKS}"\n'
        f'fhir_servers = ["{fhir_base}"]\n'
        'suggestions = "medication-only"\n'  # it keeps its own sig and supply (issue 20; also the default)
    )
    port = free_port()
    env = {
        **os.environ,
        "CDS_CORS_ORIGINS": json.dumps([sandbox_origin]),
        "CDS_DATABASE_URL": f"sqlite:///{workdir / 'trial.db'}",
        "CDS_ADMIN_TOKEN": ADMIN_TOKEN,
    }
    log = (workdir / "service.log").open("w")
    process = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "cds-service"), "serve", "--clients", str(clients), "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/health/live")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


# ------------------------------------------------------------------------- the browser


@dataclass
class Exchange:
    hook: str
    status: int
    milliseconds: float
    cards: list[dict[str, Any]]
    order: str = ""  # the draft as the sandbox sent it: product, sig, supply (what a button changed)


def order_words(request: dict[str, Any]) -> str:
    """'Baclofen 5 MG Oral Tablet, 1 × 3/day, supply 30 days' for the first draft of a hook request."""
    entries = ((request.get("context") or {}).get("draftOrders") or {}).get("entry") or []
    if not entries:
        return ""
    order = entries[0].get("resource") or {}
    product = (order.get("medicationCodeableConcept") or {}).get("text", "?")
    dosage = (order.get("dosageInstruction") or [{}])[0]
    dose = ((dosage.get("doseAndRate") or [{}])[0].get("doseQuantity") or {}).get("value", "?")
    frequency = ((dosage.get("timing") or {}).get("repeat") or {}).get("frequency", "?")
    supply = ((order.get("dispenseRequest") or {}).get("expectedSupplyDuration") or {}).get("value", "?")
    return f"{product}, {dose} × {frequency}/day, supply {supply} days"


@dataclass
class Outcome:
    scenario: Scenario
    exchanges: list[Exchange] = field(default_factory=list)
    feedback: list[dict[str, Any]] = field(default_factory=list)
    screenshots: list[str] = field(default_factory=list)
    clicked: str | None = None
    calls_before_click: int = 0
    calls_before_sign: int = 0
    calls_before_resign: int = 0
    override_reason: str | None = None
    service_errors: list[str] = field(default_factory=list)  # 4xx/5xx answers of our service
    console_errors: list[str] = field(default_factory=list)


def run_scenario(browser: Any, scenario: Scenario, urls: dict[str, str], out: Path) -> Outcome:
    outcome = Outcome(scenario)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})  # fresh localStorage each time
    page = context.new_page()

    def on_request(request: Any) -> None:
        if request.url.startswith(urls["service"]) and request.url.endswith("/feedback"):
            outcome.feedback.append(json.loads(request.post_data or "{}"))

    def on_finished(request: Any) -> None:
        response = request.response()
        if response is None or not (request.url.startswith(urls["service"]) and request.method == "POST"):
            return
        if request.url.endswith("/feedback"):
            return
        elapsed = request.timing["responseEnd"]  # ms from the request's start, as the browser saw it
        body = json.loads(request.post_data or "{}")
        exchange_file = out / "exchanges" / f"{scenario.name}-call{len(outcome.exchanges) + 1}.json"
        exchange_file.write_text(json.dumps({"request": body, "response": safe_json(response)}, indent=1))
        with contextlib.suppress(Exception):
            cards = response.json().get("cards", [])
            exchange = Exchange(body.get("hook", "?"), response.status, elapsed, cards, order_words(body))
            outcome.exchanges.append(exchange)
            return
        outcome.exchanges.append(Exchange(body.get("hook", "?"), response.status, elapsed, [], order_words(body)))

    page.on("request", on_request)
    page.on("requestfinished", on_finished)

    def on_response(response: Any) -> None:
        if response.status >= 400:
            where = outcome.service_errors if response.url.startswith(urls["service"]) else outcome.console_errors
            where.append(f"HTTP {response.status} {response.url}")

    page.on("response", on_response)
    page.on("console", lambda message: message.type == "error" and outcome.console_errors.append(message.text))

    params = {
        "fhirServiceUrl": urls["fhir"],
        "patientId": scenario.patient_id,
        "serviceDiscoveryURL": f"{urls['service']}/cds-services",
        "hook": SCREEN_HOOK[scenario.screen],
        "screen": scenario.screen,
    }
    page.goto(f"{urls['sandbox']}/?{httpx.QueryParams(params)}")
    page.get_by_text(scenario.patient_id).first.wait_for(timeout=20_000)
    if scenario.order:
        place_order(page, scenario.order)
        if scenario.screen == "rx-sign":  # order-sign is called when the order is signed
            page.get_by_role("button", name="Sign Order").click()
    settle(page, outcome)
    shot = out / f"{scenario.name}.png"
    page.screenshot(path=str(shot), full_page=True)
    outcome.screenshots.append(shot.name)
    if scenario.click:
        button = page.get_by_role("button", name=re.compile(scenario.click, re.I)).first
        if button.count():
            outcome.clicked = button.inner_text()
            outcome.calls_before_click = len(outcome.exchanges)
            button.click()
            settle(page, outcome)
            shot = out / f"{scenario.name}-after-click.png"
            page.screenshot(path=str(shot), full_page=True)
            outcome.screenshots.append(shot.name)
    if scenario.then_sign and scenario.order:
        outcome.calls_before_sign = len(outcome.exchanges)
        page.get_by_role("button", name="Rx Sign").click()
        page.get_by_role("button", name="Sign Order").click()
        settle(page, outcome)
        shot = out / f"{scenario.name}-signed.png"
        page.screenshot(path=str(shot), full_page=True)
        outcome.screenshots.append(shot.name)
    if scenario.resign_with_supply is not None:
        outcome.calls_before_resign = len(outcome.exchanges)
        page.locator("#supply-duration").click()
        page.get_by_role("option", name=f"{scenario.resign_with_supply} days", exact=True).click()
        page.get_by_role("button", name="Sign Order").click()
        settle(page, outcome)
        shot = out / f"{scenario.name}-resigned.png"
        page.screenshot(path=str(shot), full_page=True)
        outcome.screenshots.append(shot.name)
    if scenario.override_then_reorder and scenario.order:
        page.get_by_role("button", name="select dismiss reason").first.click()
        reason = page.get_by_role("menuitem").first
        outcome.override_reason = reason.inner_text()
        outcome.calls_before_click = len(outcome.exchanges)
        reason.click()
        page.wait_for_timeout(1000)  # the feedback call
        page.reload()
        page.get_by_text(scenario.patient_id).first.wait_for(timeout=20_000)
        place_order(page, scenario.order)
        settle(page, outcome)
        shot = out / f"{scenario.name}-same-order-again.png"
        page.screenshot(path=str(shot), full_page=True)
        outcome.screenshots.append(shot.name)
    context.close()
    return outcome


def safe_json(response: Any) -> Any:
    try:
        return response.json()
    except Exception:  # a non-JSON answer is reported as text
        return response.text()


def place_order(page: Any, order: Order) -> None:
    """Fill the sandbox's form as a prescriber does; the sandbox calls the hook as fields change."""
    if order.treating:
        page.locator("input[id^='react-select']").first.click()
        page.get_by_text(order.treating, exact=True).last.click()
    page.locator("input[name=medication-input]").fill(order.medication)
    page.get_by_role("button", name=order.medication, exact=True).click()
    page.locator("#dosage-amount").fill(str(order.number))
    page.locator("#dosage-frequency").click()
    page.get_by_role("option", name=order.frequency, exact=True).click()


def settle(page: Any, outcome: Outcome, quiet_seconds: float = SETTLE_SECONDS, limit_seconds: float = 30) -> None:
    """Wait until no hook call has been answered for `quiet_seconds` (the sandbox calls on each change)."""
    deadline = time.monotonic() + limit_seconds
    seen, quiet_since = len(outcome.exchanges), time.monotonic()
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)
        if len(outcome.exchanges) != seen:
            seen, quiet_since = len(outcome.exchanges), time.monotonic()
        elif seen and time.monotonic() - quiet_since >= quiet_seconds:
            return


# ------------------------------------------------------------------------- the report


def screenshot_analytics(browser: Any, service_base: str, out: Path) -> str | None:
    """What the informatics team sees afterwards: /analytics (shown, accepted, overridden, suppressed)."""
    context = browser.new_context(
        viewport={"width": 1400, "height": 1000}, extra_http_headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    )
    page = context.new_page()
    response = page.goto(f"{service_base}/analytics")
    name = None
    if response is not None and response.ok:
        name = "analytics.png"
        page.screenshot(path=str(out / name), full_page=True)
    context.close()
    return name


def report(outcomes: list[Outcome], analytics: str | None) -> str:
    lines = [
        "# Sandbox trial",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `scripts/sandbox_trial.py`: the CDS Hooks sandbox "
        "(local build) in Chromium, Medplum's R4 server, `cds-service serve` with the sandbox's JWTs verified.",
        "",
    ]
    for outcome in outcomes:
        scenario = outcome.scenario
        lines += [
            f"## {scenario.title}",
            "",
            f"- screen `{scenario.screen}`, patient `{scenario.patient_id}`",
            f"- a prescriber expects: {scenario.what_a_prescriber_expects}",
        ]
        calls = ", ".join(
            f"{exchange.hook} {exchange.status} in {exchange.milliseconds:.0f} ms ({len(exchange.cards)} cards)"
            for exchange in outcome.exchanges
        )
        lines.append(f"- hook calls as the form changed: {calls or 'none'}")
        marks = (outcome.calls_before_click, outcome.calls_before_sign, outcome.calls_before_resign)
        before = next((mark for mark in marks if mark), len(outcome.exchanges))
        shown = [("what the prescriber sees", before)]
        if outcome.clicked:
            shown.append((f"after pressing “{outcome.clicked}”", outcome.calls_before_sign or len(outcome.exchanges)))
        elif scenario.click:
            lines.append(f"- no button matching `{scenario.click}` to press")
        if outcome.calls_before_sign:
            shown.append(("after Rx Sign, “Sign Order” (order-sign)", len(outcome.exchanges)))
        if outcome.calls_before_resign:
            moment = f"after choosing Supply Duration {scenario.resign_with_supply} days and “Sign Order” again"
            shown.append((moment, len(outcome.exchanges)))
        if outcome.override_reason:
            moment = f"after “{outcome.override_reason}”, a reload and the same order again"
            shown.append((moment, len(outcome.exchanges)))
        for moment, count in shown:
            cards = outcome.exchanges[count - 1].cards if count else []
            sent = outcome.exchanges[count - 1].order if count else ""
            lines.append(f"- {moment}: {len(cards)} card(s)" + (f"; the order sent: {sent}" if sent else ""))
            for card in cards:
                buttons = [s.get("label", "") for s in card.get("suggestions", [])]
                links = [link.get("label", "") for link in card.get("links", [])]
                lines.append(
                    f"  - **{card.get('indicator')}** {card.get('summary')} "
                    f"({len(card.get('summary', ''))} + {len(card.get('detail', ''))} characters; "
                    f"buttons: {buttons or 'none'}; links: {links or 'none'})"
                )
        if outcome.feedback:
            lines.append(f"- feedback the sandbox sent: `{json.dumps(outcome.feedback)}`")
        if outcome.console_errors:
            errors = "; ".join(dict.fromkeys(error[:160] for error in outcome.console_errors))
            lines.append(f"- browser console errors (the sandbox's own, offline): {errors}")
        lines.append(f"- error answers from the service: {'; '.join(outcome.service_errors) or 'none'}")
        lines += [""] + [f"![{name}]({name})" for name in outcome.screenshots] + [""]
    if analytics is not None:
        lines += ["## What the service recorded (/analytics)", "", f"![analytics]({analytics})", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sandbox-build", type=Path, required=True, help="the sandbox's `npm run build` output")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "sandbox-trial")
    parser.add_argument("--only", help="run only scenarios whose name contains this")
    options = parser.parse_args()
    if not (options.sandbox_build / "index.html").is_file():
        raise SystemExit(f"{options.sandbox_build} has no index.html: build the sandbox (npm ci && npm run build)")
    from playwright.sync_api import sync_playwright

    (options.out / "exchanges").mkdir(parents=True, exist_ok=True)
    scenarios = [s for s in SCENARIOS if not options.only or options.only in s.name]
    with tempfile.TemporaryDirectory() as tmp, medplum() as fhir, static_site(options.sandbox_build) as sandbox:
        load(fhir, trial_patients())
        with service(fhir, sandbox, Path(tmp)) as cds, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
            )
            urls = {"fhir": fhir, "sandbox": sandbox, "service": cds}
            outcomes = []
            for scenario in scenarios:
                outcome = run_scenario(browser, scenario, urls, options.out)
                cards = [len(exchange.cards) for exchange in outcome.exchanges]
                print(f"{scenario.name}: calls {[e.status for e in outcome.exchanges]} cards {cards}", flush=True)
                outcomes.append(outcome)
            analytics = screenshot_analytics(browser, cds, options.out)
            browser.close()
    (options.out / "report.md").write_text(report(outcomes, analytics))
    print(f"report: {options.out / 'report.md'}")


if __name__ == "__main__":
    main()
