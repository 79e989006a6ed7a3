"""A prescriber clicks a card's SMART link in the CDS Hooks sandbox and the app opens (by hand, not in CI).

Not part of CI: it needs local builds of github.com/cds-hooks/sandbox and
github.com/smart-on-fhir/smart-launcher-v2 (`npm ci && npm run build` in each) and Chromium.

    .venv/bin/python scripts/sandbox_smart_trial.py --sandbox-build ../sandbox/build \\
        --launcher ../smart-launcher-v2 --out docs/smart-app

All on 127.0.0.1: Medplum's in-memory R4 server holding the e2e test's patient (cramps in cirrhosis, a
baclofen course 10 -> 20 -> 30 mg/day, K, Mg, eGFR, sertraline, ciprofloxacin; not its draft: the
sandbox's order is the draft) and the prescriber; the SMART Health IT launcher in front of it (a real
authorization server and a FHIR proxy checking its tokens); `scripts/smart_launch_bridge.py` in front of
the launcher, giving it the sandbox's launch API (`_services/smart/Launch`); the sandbox's build with
`fhirServiceUrl` = the bridge's FHIR base; `cds-service serve` verifying the sandbox's JWTs (not dev
mode), its only FHIR server the bridge. Chromium opens the sandbox on Rx View, orders baclofen as a
prescriber does, waits for the card with the SMART link, clicks it, follows the launch in the window the
sandbox opens and screenshots the app at 1024 x 768 (an EHR side panel) and 1600 x 1000 (full window).
A report (`sandbox-trial.md` in --out) says what was seen.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]

from sandbox_trial import CHROMIUM, Order, place_order, service, static_site  # noqa: E402
from smart_launch_bridge import FHIR_BASE, create_bridge, describe  # noqa: E402
from smart_launcher_trial import PRESCRIBER, click_through, process  # noqa: E402

from tests.e2e.test_smart_app_launch import PID, _record  # noqa: E402  (the e2e test's patient)
from tests.support.live_server import live_server  # noqa: E402
from tests.support.node_servers import medplum_server  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

ORDER = Order("Baclofen 20 MG Oral Tablet", 1, "three times daily")  # 60 mg/day, above the cramp plan
LINK_LABEL = "See the course"
VIEWS = ("doses", "labs", "interacting", "summary")
SIZES = {"side-panel-1024x768": (1024, 768), "full-window-1600x1000": (1600, 1000)}


def trial_record() -> list[dict[str, Any]]:
    record = [r for r in _record() if r["id"] != "smart-draft"]
    prescriber = {"resourceType": "Practitioner", "id": PRESCRIBER, "name": [{"family": "Prescriber"}]}
    record.append(prescriber)
    return record


def wait_for_card_link(page: Any, answers: list[dict[str, Any]], seconds: float = 40) -> Any:
    """The sandbox calls the hook as the form changes and registers a launch for each smart link: wait
    for the last answer's link to be enabled (its launch registered)."""
    link = page.get_by_role("button", name=LINK_LABEL).first
    link.wait_for(timeout=seconds * 1000)
    for _ in range(int(seconds * 4)):
        if link.is_enabled():
            break
        page.wait_for_timeout(250)
    page.wait_for_timeout(2000)  # later hook calls re-render the cards: let them settle
    link = page.get_by_role("button", name=LINK_LABEL).first
    if not link.is_enabled():
        notice = page.locator("text=Cannot launch SMART link").count()
        raise SystemExit(f"the card's SMART link stayed disabled ({notice} notice(s)); answers: {len(answers)}")
    return link


def screenshots(app: Any, out: Path) -> list[str]:
    names = []
    for size, (width, height) in SIZES.items():
        app.set_viewport_size({"width": width, "height": height})
        app.wait_for_timeout(500)  # the charts redraw at the new width
        for view in VIEWS:
            app.locator(f"#tab-{view}").click()
            app.wait_for_timeout(300)
            name = f"sandbox-{view}-{size}.png"
            app.screenshot(path=str(out / name), full_page=size.startswith("full"))
            names.append(name)
    app.locator("#tab-doses").click()
    return names


def run(browser: Any, urls: dict[str, str], out: Path, bridge_log: list[str]) -> dict[str, Any]:
    seen: dict[str, Any] = {"steps": [], "app_errors": [], "app_origins": set(), "fhir": [], "answers": []}
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()

    def on_finished(request: Any) -> None:
        if request.method == "POST" and request.url.startswith(f"{urls['service']}/cds-services/"):
            with contextlib.suppress(Exception):
                seen["answers"].append(request.response().json())

    page.on("requestfinished", on_finished)
    params = {
        "fhirServiceUrl": urls["fhir"],
        "patientId": PID,
        "serviceDiscoveryURL": f"{urls['service']}/cds-services",
        "hook": "order-select",
        "screen": "rx-view",
    }
    page.goto(f"{urls['sandbox']}/?{httpx.QueryParams(params)}")
    page.get_by_text(PID).first.wait_for(timeout=30_000)
    place_order(page, ORDER)
    link = wait_for_card_link(page, seen["answers"])
    page.screenshot(path=str(out / "sandbox-card-with-link.png"), full_page=True)
    seen["steps"].append(f"ordered {ORDER.medication}, {ORDER.number} {ORDER.frequency}; the card's link enabled")
    with context.expect_page(timeout=30_000) as opened:
        link.click()
    app = opened.value
    app.on("console", lambda m: seen["app_errors"].append(m.text) if m.type == "error" else None)
    app.on("pageerror", lambda e: seen["app_errors"].append(str(e)))
    app.on("request", lambda r: seen["app_origins"].add("{0.scheme}://{0.netloc}".format(urlsplit(r.url))))
    app.on("response", lambda r: seen["fhir"].append(f"{r.status} {r.url}") if FHIR_BASE in r.url else None)
    app.wait_for_load_state()
    seen["opened"] = urlsplit(app.url)._replace(query="launch=…&iss=…").geturl()
    click_through(app, seen["steps"])
    app.wait_for_selector("body[data-state=drawn]", timeout=60_000)
    seen["app_url"] = app.url
    seen["patient"] = app.locator("#patient").inner_text()
    seen["focus"] = app.locator("#focus").inner_text() if app.locator("#focus").is_visible() else None
    count = "els => els.map(e => [e.id, JSON.parse(e.dataset.points).length, e.dataset.results || ''])"
    seen["points"] = app.eval_on_selector_all("[data-points]", count)
    seen["doses"] = json.loads(app.locator("#dose-baclofen").get_attribute("data-points") or "[]")
    seen["dose_note"] = app.locator("#dose-baclofen .note").inner_text()
    seen["summary"] = app.locator("#summary-list li").all_inner_texts()
    seen["storage"] = app.evaluate("() => [localStorage.length, sessionStorage.length]")
    seen["shots"] = ["sandbox-card-with-link.png", *screenshots(app, out)]
    seen["bridge"] = list(bridge_log)
    context.close()
    return seen


def report(seen: dict[str, Any], urls: dict[str, str]) -> str:
    answer = seen["answers"][-1] if seen["answers"] else {"cards": []}
    lines = [
        "# A SMART link launched from a card in the CDS Hooks sandbox",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `scripts/sandbox_smart_trial.py`: the CDS Hooks sandbox "
        "(local build) in Chromium, its FHIR server the SMART Health IT launcher (local build, in front of "
        "Medplum) behind `scripts/smart_launch_bridge.py` (the sandbox's launch API), `cds-service serve` "
        "verifying the sandbox's JWTs.",
        "",
        f"- Rx View, patient `{PID}`: ordered {ORDER.medication}, {ORDER.number} {ORDER.frequency}; "
        f"{len(seen['answers'])} `order-select` answers as the form changed; the last one:",
    ]
    for card in answer.get("cards", []):
        links = [
            f"“{k['label']}” (smart; {describe(k.get('appContext'))})" if k["type"] == "smart" else k["label"]
            for k in card.get("links", [])
        ]
        lines.append(f"  - **{card.get('indicator')}** {card.get('summary')}; links: {'; '.join(links) or 'none'}")
    lines += [
        f"- clicked the link: the sandbox opened `{seen['opened']}` in a new window",
        *[f"- bridge: {entry}" for entry in dict.fromkeys(seen["bridge"])],
        f"- steps at the authorization server: {'; '.join(seen['steps'][1:]) or 'none (EHR launch, user known)'}",
        f"- the app: `{urlsplit(seen['app_url']).path}` (query: `{urlsplit(seen['app_url']).query or 'none'}`), "
        f"patient **{seen['patient']}**; focus line: {seen['focus'] or 'none'}",
        f"- points per chart (id, points, results): {seen['points']}",
        f"- baclofen steps: {[(d['mg_per_day'], d['draft']) for d in seen['doses']]}; {seen['dose_note']}",
        f"- browser storage after the launch (local, session): {seen['storage']}",
        f"- origins the app contacted: {sorted(seen['app_origins'])} "
        f"(service {urls['service']}, bridge {urls['bridge']})",
        f"- console errors in the app: {seen['app_errors'] or 'none'}",
        f"- FHIR reads through the bridge: {len(seen['fhir'])}, "
        f"statuses {sorted({f.split()[0] for f in seen['fhir']})}",
        "",
        "Summary as the app wrote it:",
        "",
        *[f"> {line}  " for line in seen["summary"]],
        "",
        *[f"![{name}]({name})" for name in seen["shots"]],
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sandbox-build", type=Path, required=True, help="the sandbox's `npm run build` output")
    parser.add_argument("--launcher", type=Path, required=True, help="a built smart-launcher-v2 checkout")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "smart-app")
    args = parser.parse_args()
    if not (args.sandbox_build / "index.html").is_file():
        raise SystemExit(f"{args.sandbox_build} has no index.html: build the sandbox (npm ci && npm run build)")
    if not (args.launcher / "build" / "index.html").is_file():
        raise SystemExit(f"{args.launcher} has no build/: build the launcher (npm ci && npm run build)")
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="sandbox-smart-trial-"))
    with contextlib.ExitStack() as stack:
        medplum = stack.enter_context(medplum_server(work / "medplum.log"))
        medplum.put(trial_record())
        launcher = f"http://127.0.0.1:{free_port()}"
        (args.launcher / ".source_version").write_text("local\n")
        stack.enter_context(process(
            ["npx", "ts-node", "--skipProject", "--transpile-only", "backend/index.ts"], args.launcher,
            {"PORT": launcher.rpartition(":")[2], "HOST": "127.0.0.1", "FHIR_SERVER_R4": medplum.base,
             "NODE_ENV": "production"},
            f"{launcher}/keys", work / "launcher.log",
        ))  # fmt: skip
        bridge_app = create_bridge(launcher, PRESCRIBER)
        bridge = stack.enter_context(live_server(bridge_app))  # type: ignore[arg-type]
        sandbox = stack.enter_context(static_site(args.sandbox_build))
        cds = stack.enter_context(service(f"{bridge}{FHIR_BASE}", sandbox, work))
        urls = {"bridge": bridge, "fhir": f"{bridge}{FHIR_BASE}", "sandbox": sandbox, "service": cds}
        pw = stack.enter_context(sync_playwright())
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        try:
            seen = run(browser, urls, args.out, bridge_app.state.launches.log)
        except Exception:
            print("service log:", (work / "service.log").read_text()[-1500:])
            print("launcher log:", (work / "launcher.log").read_text()[-1500:])
            raise
        browser.close()
    (args.out / "sandbox-trial.md").write_text(report(seen, urls))
    print(report(seen, urls))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
