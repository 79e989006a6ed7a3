"""The SMART app in a real EHR launch: Chromium, a real OAuth 2.0 authorization server, a real FHIR server.

Medplum (the FHIR server of tests/medplum) holds two patients; `tests/smart_auth/server.mjs` puts a
real authorization server in front of it (npm `oidc-provider`: authorization code with PKCE for a
public client, `state`, SMART discovery, the `patient` and `appContext` token parameters, a resource
server that wants a valid token whose scopes cover the resource, for the launched patient only). The
test registers a launch context as an EHR does and opens the app's launch URL with `iss` and
`launch`; everything after that is the real redirect flow in the browser. The service runs without
dev mode, its CSP allowing the authorization server's origin only.

Set CDS_SMART_APP_SCREENSHOTS=docs/smart-app to write the views' screenshots there.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from cds_service.app import create_app
from cds_service.settings import load_settings
from tests.support.fhir import condition, egfr, magnesium, medication_request, patient, potassium
from tests.support.live_server import live_server
from tests.support.node_servers import SMART_AUTH_DIR, MedplumServer, node_server, npm_ci
from tests.support.processes import free_port

pytestmark = [pytest.mark.browser, pytest.mark.medplum]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip
PID, OTHER_PID = "smart-p1", "smart-p2"
APP_CONTEXT = json.dumps({"order": "MedicationRequest/smart-draft", "topic": "baclofen-titration"})
BACLOFEN_10 = ("197391", "baclofen 10 MG Oral Tablet")
BACLOFEN_20 = ("197392", "baclofen 20 MG Oral Tablet")
SERTRALINE_50 = ("312941", "sertraline 50 MG Oral Tablet")
CIPRO_250 = ("197511", "ciprofloxacin 250 MG Oral Tablet")


def _ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _record() -> list[dict[str, Any]]:
    """Cramps in cirrhosis (the 10 → 30 mg/day plan), a baclofen course in steps, a draft above the
    plan's ceiling; K in mEq/L and mmol/L (one beyond the plot range), Mg in mg/dL and mmol/L, eGFR."""
    ada = patient(birth_date="1958-03-02", gender="female", pid=PID)
    ada["name"] = [{"given": ["Ada"], "family": "Example"}]
    return [
        ada,
        condition("K74.60", "Cirrhosis of liver", cid="smart-c1", pid=PID),
        condition("R25.2", "Cramp and spasm", cid="smart-c2", pid=PID),
        medication_request(*BACLOFEN_10, rid="smart-b1", status="completed", authored_on=_ago(28), dose=5,
                           frequency=2, supply_days=7, pid=PID),
        medication_request(*BACLOFEN_10, rid="smart-b2", status="completed", authored_on=_ago(21), dose=10,
                           frequency=2, supply_days=7, pid=PID),
        medication_request(*BACLOFEN_10, rid="smart-b3", status="active", authored_on=_ago(14), dose=10,
                           frequency=3, supply_days=30, pid=PID),
        medication_request(*BACLOFEN_20, rid="smart-draft", status="draft", authored_on=_ago(0), dose=20,
                           frequency=2, supply_days=30, pid=PID),
        medication_request(*SERTRALINE_50, rid="smart-s1", authored_on=_ago(60), dose=50, frequency=1, pid=PID),
        medication_request(*CIPRO_250, rid="smart-cip", status="completed", authored_on=_ago(12), dose=250,
                           frequency=2, supply_days=5, pid=PID),
        potassium(6.8, _ago(25), oid="smart-k0", pid=PID),
        potassium(3.1, _ago(20), unit="mEq/L", oid="smart-k1", pid=PID),
        potassium(2.8, _ago(10), oid="smart-k2", pid=PID),
        potassium(4.1, _ago(2), oid="smart-k3", pid=PID),
        magnesium(1.4, _ago(15), oid="smart-mg1", pid=PID),
        magnesium(0.75, _ago(3), unit="mmol/L", oid="smart-mg2", pid=PID),
        egfr(58, _ago(30), oid="smart-e1", pid=PID),
        egfr(52, _ago(5), oid="smart-e2", pid=PID),
        # another patient: nothing of hers may reach the app (the token is for PID only)
        patient(birth_date="1940-01-01", pid=OTHER_PID),
        potassium(2.0, _ago(1), oid="smart-k-other", pid=OTHER_PID),
    ]  # fmt: skip


@dataclass
class Launch:
    service: str
    issuer: str
    fhir: str
    medplum: str

    def register(self, patient_id: str, app_context: str | None) -> str:
        response = httpx.post(f"{self.issuer}/_test/launch", json={"patient": patient_id, "appContext": app_context})
        response.raise_for_status()
        return str(response.json()["launch"])

    def configure(self, **settings: Any) -> None:
        httpx.post(f"{self.issuer}/_test/settings", json=settings, timeout=10).raise_for_status()

    def auth_requests(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.issuer}/_test/requests", timeout=10).json())


@pytest.fixture(scope="module")
def launch_setup(medplum: MedplumServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Launch]:
    if not shutil.which(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not installed (Debian package chromium)")
    npm_ci(SMART_AUTH_DIR, "oidc-provider")
    medplum.put(_record())
    auth_port = free_port()
    issuer = f"http://127.0.0.1:{auth_port}"
    settings = load_settings(dev=False, storage_enabled=False, smart_app_origins=[f"{issuer}/fhir"])
    log = tmp_path_factory.mktemp("smart-auth") / "stderr.log"
    with live_server(create_app(settings)) as service:
        args = ["server.mjs", "--port", str(auth_port), "--fhir", medplum.base, "--redirect-uri", f"{service}/app/"]
        with node_server(SMART_AUTH_DIR, args, "SMART_AUTH_READY", log) as ready:
            assert ready["issuer"] == issuer
            yield Launch(service=service, issuer=issuer, fhir=ready["fhir"], medplum=medplum.base)


@pytest.fixture
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (PyPI) not installed")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _points(page: Any, figure_id: str) -> list[dict[str, Any]]:
    return list(json.loads(page.locator(f"#{figure_id}").get_attribute("data-points")))


def _screenshots(page: Any, directory: Path, size: str) -> None:
    for tab, name in (("tab-doses", "doses"), ("tab-labs", "labs"), ("tab-interacting", "interacting"),
                      ("tab-summary", "summary")):  # fmt: skip
        page.locator(f"#{tab}").click()
        page.screenshot(path=str(directory / f"{name}-{size}.png"), full_page=True)
    page.locator("#tab-doses").click()


def test_ehr_launch_draws_the_course_from_the_service_facts(launch_setup: Launch, browser: Any, tmp_path: Path) -> None:
    started = time.monotonic()
    launch = launch_setup
    shots = Path(os.environ.get("CDS_SMART_APP_SCREENSHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))

    launch_id = launch.register(PID, APP_CONTEXT)
    page.goto(f"{launch.service}/app/launch.html?iss={launch.fhir}&launch={launch_id}")
    page.wait_for_selector("body[data-state=drawn]", timeout=30_000)

    # the redirect flow happened for real: authorization request with PKCE, then the token exchange
    auth = launch.auth_requests()
    authorize = next(r for r in auth if r["path"] == "/auth")
    assert {"code_challenge", "state", "launch", "aud"} <= set(authorize["params"])
    assert authorize["code_challenge_method"] == "S256"
    assert any(r["path"] == "/token" and r["method"] == "POST" for r in auth)
    # no code, state or token left in the URL; nothing of the launch in the browser's storage
    returned = urlsplit(page.url)
    assert (returned.path, set(parse_qs(returned.query))) in (("/app/", set()), ("/app/", {"iss"}))  # RFC 9207 iss
    storage = page.evaluate("() => JSON.stringify([Object.entries(sessionStorage), Object.entries(localStorage)])")
    assert storage == "[[],[]]"

    assert page.locator("#patient").inner_text() == "Ada Example"
    assert "baclofen-titration" in page.locator("#focus").inner_text()  # the card's appContext, via the token
    # the order by its name, not its id
    assert "about baclofen 20 MG Oral Tablet (the order being written)" in page.locator("#focus").inner_text()

    doses = _points(page, "dose-baclofen")
    assert [(s["mg_per_day"], s["draft"]) for s in doses] == [(10, False), (20, False), (30, False), (40, True)]
    assert page.locator('#dose-baclofen [aria-label="40 mg/day ordered now (draft)"]').count() == 1
    assert "ceiling 30 mg/day" in page.locator("#dose-baclofen .note").inner_text()

    page.locator("#tab-labs").click()
    k = _points(page, "lab-potassium")
    assert [(p["value"], p["band"], p["outside"]) for p in k] == [
        (6.8, "normal", "above"),
        (3.1, "info", None),
        (2.8, "warning", None),
        (4.1, "normal", None),
    ]  # the other patient's 2.0 never reached the app
    assert k[1]["reported"] == "3.1 mEq/L"
    mg = _points(page, "lab-magnesium")
    assert [(p["value"], p["band"], p["reported"]) for p in mg] == [
        (0.576, "warning", "1.4 mg/dL"), (0.75, "normal", "0.75 mmol/L")
    ]  # fmt: skip
    assert [(p["value"], p["band"]) for p in _points(page, "lab-egfr")] == [(58, "warning"), (52, "warning")]
    assert page.locator('#lab-potassium [aria-label^="Potassium 2.8 mmol/L"]').count() == 1

    page.locator("#tab-interacting").click()
    bars = {b["display"]: b["kinds"] for b in _points(page, "interacting")}
    assert bars == {SERTRALINE_50[1]: ["serotonergic", "cns-active"], CIPRO_250[1]: ["cyp1a2-inhibitor"]}

    page.locator("#tab-summary").click()
    summary = page.locator("#summary-list").inner_text()
    assert "40 mg/day ordered now (draft)" in summary and "Potassium" in summary

    # keyboard: the tabs move with the arrow keys
    page.locator("#tab-summary").focus()
    page.keyboard.press("ArrowLeft")
    assert page.locator("#tab-interacting").get_attribute("aria-selected") == "true"

    _screenshots(page, shots, "side-panel-1024x768")
    page.set_viewport_size({"width": 1600, "height": 1000})
    page.wait_for_timeout(400)  # the charts redraw at the new width
    _screenshots(page, shots, "full-window-1600x1000")

    assert errors == []
    allowed = (f"{launch.service}/", f"{launch.issuer}/", "data:")
    assert [u for u in requests if not u.startswith(allowed)] == []
    assert not any(u.startswith(launch.medplum.removesuffix("/fhir")) for u in requests)
    assert f"{launch.service}/app/api/course" in requests  # the card's order id travels in a header, not the URL
    print(f"\nSMART EHR launch to drawn views: {time.monotonic() - started:.1f} s")


def test_the_cards_draft_order_is_drawn_when_no_fhir_server_holds_it(launch_setup: Launch, browser: Any) -> None:
    """The CDS Hooks sandbox (and many EHRs on order-select) keep the order being written off the FHIR
    server: the card's appContext carries it, and the app draws it; a draft naming another patient is not."""
    today = _ago(0)[:10]
    ours = medication_request(*BACLOFEN_20, rid="ctx-draft", status="draft", authored_on=today, dose=20,
                              frequency=3, supply_days=30, pid=OTHER_PID)  # fmt: skip
    theirs = medication_request(*BACLOFEN_10, rid="ctx-other", status="draft", authored_on=today, dose=10,
                                frequency=3, supply_days=30, pid=PID)  # fmt: skip
    context = {"topic": "baclofen-titration", "order": "MedicationRequest/ctx-draft", "draftOrders": [ours, theirs]}
    page = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    launch_id = launch_setup.register(OTHER_PID, json.dumps(context))
    page.goto(f"{launch_setup.service}/app/launch.html?iss={launch_setup.fhir}&launch={launch_id}")
    page.wait_for_selector("body[data-state=drawn]", timeout=30_000)
    assert [(s["mg_per_day"], s["draft"]) for s in _points(page, "dose-baclofen")] == [(60, True)]
    assert "about baclofen 20 MG Oral Tablet (the order being written)" in page.locator("#focus").inner_text()
    assert page.locator("#lab-potassium").get_attribute("data-results") == "drawn"  # her own 2.0 mmol/L
    assert page.locator("#lab-egfr").get_attribute("data-results") == "none"
    assert errors == []


def test_a_forged_return_is_refused_and_the_page_is_locked_down(launch_setup: Launch, browser: Any) -> None:
    page = browser.new_context().new_page()
    exchanges = sum(r["path"] == "/token" for r in launch_setup.auth_requests())
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    response = page.goto(f"{launch_setup.service}/app/?code=stolen&state=not-ours")
    assert response is not None
    csp = response.headers["content-security-policy"]
    assert "script-src 'self';" in csp and f"connect-src 'self' {launch_setup.issuer};" in csp
    assert launch_setup.medplum.removesuffix("/fhir") not in csp
    page.wait_for_selector("#status.error", timeout=10_000)
    assert "Launch the app again" in page.locator("#status").inner_text()
    assert sum(r["path"] == "/token" for r in launch_setup.auth_requests()) == exchanges  # no code exchanged
    assert errors == []


def test_standalone_launch_on_a_v1_server_asks_for_read_scopes(launch_setup: Launch, browser: Any) -> None:
    """The user opens the app and names the FHIR server; the server announces no SMART v2 permissions,
    so the app asks for `.read` scopes; the user picks the patient at the authorization server."""
    launch_setup.configure(standalonePatient=PID, v2=False)
    try:
        page = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(f"{launch_setup.service}/app/")
        page.locator("#iss").fill(launch_setup.fhir)
        page.locator("#iss").press("Enter")  # keyboard only
        page.wait_for_selector("body[data-state=drawn]", timeout=30_000)
        scope = [r["scope"] for r in launch_setup.auth_requests() if r["path"] == "/auth"][-1].split()
        assert "patient/Observation.read" in scope and "launch" not in scope
        assert not any(s.endswith(".rs") for s in scope)
        assert page.locator("#focus").is_hidden()  # no card launched it
        assert [s["mg_per_day"] for s in _points(page, "dose-baclofen")] == [10, 20, 30, 40]
        assert errors == []
    finally:
        launch_setup.configure(standalonePatient=None, v2=True)
