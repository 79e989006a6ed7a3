"""Launch the SMART app through the SMART Health IT launcher, as an EHR would (by hand, not in CI).

Not part of CI: it needs a local build of github.com/smart-on-fhir/smart-launcher-v2
(`npm ci && npm run build` in its folder). All on 127.0.0.1: Medplum's in-memory R4 server holding the
e2e test's patient, the launcher in front of it (its own OAuth server, login and consent pages, its
FHIR proxy that checks its tokens), `cds-service serve --dev`, and Chromium launching the app from the
launcher's `/launcher?launch_uri=...` EHR-launch entry point, then a standalone launch.

    .venv/bin/python scripts/smart_launcher_trial.py --launcher ../smart-launcher-v2 --out docs/smart-app

Screenshots `launcher-<view>-1024x768.png` land in `--out`; the report prints what was seen (points
per chart, console errors, origins the page contacted, browser storage after the launch).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.test_smart_app_launch import PID, _record  # noqa: E402  (the e2e test's patient)
from tests.support.node_servers import medplum_server  # noqa: E402
from tests.support.processes import free_port  # noqa: E402

VIEWS = ("doses", "labs", "interacting", "summary")
PRESCRIBER = "trial-prescriber"


@contextlib.contextmanager
def process(args: list[str], cwd: Path, env: dict[str, str], ready_url: str, log: Path) -> Iterator[None]:
    """A server process, ready when `ready_url` answers; stopped on exit."""
    with log.open("w") as out:
        # a session of its own: `npx` does not pass SIGTERM on to the node server it starts
        proc = subprocess.Popen(
            args, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(ready_url, timeout=2).status_code < 500:
                    break
            if proc.poll() is not None:
                raise RuntimeError(f"{args[0]} ended: see {log}")
            time.sleep(0.5)
        else:
            raise RuntimeError(f"{ready_url} not ready in 90 s: see {log}")
        yield
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _short(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query[:90]}"


def click_through(page, seen: list[str]) -> None:  # type: ignore[no-untyped-def]
    """The launcher's simulated login and consent pages: press their one button until the app loads."""
    for _ in range(6):
        if "/app/" in page.url and page.locator("#views, [role=tablist]").count():
            return
        for name in ("Login", "Log in", "Sign in", "Continue", "Authorize", "Approve", "Allow", "Launch"):
            button = page.get_by_role("button", name=name)
            if button.count():
                seen.append(f"pressed '{name}' on {urlsplit(page.url).path}")
                button.first.click()
                page.wait_for_load_state("networkidle")
                break
        else:
            page.wait_for_timeout(1000)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--launcher", type=Path, required=True, help="a built smart-launcher-v2 checkout")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "smart-app")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    work = Path(tempfile.mkdtemp(prefix="smart-trial-"))
    with contextlib.ExitStack() as stack:
        medplum = stack.enter_context(medplum_server(work / "medplum.log"))
        # the launcher's login page lists the server's Practitioners: one prescriber to log in as
        # the launcher's login page lists the server's Practitioners (one prescriber to log in as), and an
        # EHR launch carries the patient's encounter (the launcher picks the first)
        medplum.put([
            *_record(),
            {"resourceType": "Practitioner", "id": PRESCRIBER, "name": [{"family": "Prescriber"}]},
            {"resourceType": "Encounter", "id": "trial-encounter", "status": "in-progress",
             "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
             "subject": {"reference": f"Patient/{PID}"}},
        ])  # fmt: skip
        launcher_port, service_port = free_port(), free_port()
        launcher = f"http://127.0.0.1:{launcher_port}"
        service = f"http://127.0.0.1:{service_port}"
        (args.launcher / ".source_version").write_text("local\n")
        stack.enter_context(process(
            ["npx", "ts-node", "--skipProject", "--transpile-only", "backend/index.ts"], args.launcher,
            {"PORT": str(launcher_port), "HOST": "127.0.0.1", "FHIR_SERVER_R4": medplum.base, "NODE_ENV": "production"},
            f"{launcher}/keys", work / "launcher.log",
        ))  # fmt: skip
        stack.enter_context(process(
            [str(ROOT / ".venv" / "bin" / "cds-service"), "serve", "--dev", "--port", str(service_port)], ROOT,
            {"CDS_DATABASE_URL": f"sqlite:///{work / 'audit.db'}", "CDS_PUBLIC_BASE_URL": service},
            f"{service}/health/ready", work / "service.log",
        ))  # fmt: skip
        pw = stack.enter_context(sync_playwright())
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1024, "height": 768})
        errors: list[str] = []
        origins: set[str] = set()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: origins.add("{0.scheme}://{0.netloc}".format(urlsplit(r.url))))
        fhir_answers: list[str] = []  # each FHIR query the app made, with its status (synthetic patient)
        page.on("response", lambda r: fhir_answers.append(f"{r.status} {_short(r.url)}") if "/fhir/" in r.url else None)
        # The EHR launch as the launcher's own /launcher entry builds it (iss, and `launch`: its base64url
        # launch options), with the encounter named: its "auto-select" searches /Encounter from the
        # server's root and misses a FHIR base with a path such as Medplum's /fhir.
        options = [0, PID, PRESCRIBER, "trial-encounter", 0, 0, 0, "", "", "", "", "", "", "", 0, 1, ""]
        launch = base64.urlsafe_b64encode(json.dumps(options).encode()).decode().rstrip("=")
        iss = quote(f"{launcher}/v/r4/fhir", safe="")
        page.goto(f"{service}/app/launch.html?iss={iss}&launch={launch}")
        steps: list[str] = []
        click_through(page, steps)
        try:
            page.wait_for_selector("[data-points]", state="attached", timeout=30_000)
        except Exception:
            page.screenshot(path=str(work / "stuck.png"), full_page=True)
            print("stuck at", page.url.split("?")[0], "steps:", steps, "errors:", errors, "shot:", work / "stuck.png")
            print((work / "launcher.log").read_text()[-2000:])
            raise
        args.out.mkdir(parents=True, exist_ok=True)
        for view in VIEWS:
            tab = page.locator(f"[role=tab][data-view={view}], #tab-{view}")
            if tab.count():
                tab.first.click()
                page.wait_for_timeout(400)
            page.screenshot(path=str(args.out / f"launcher-{view}-1024x768.png"), full_page=True)
        count_points = "els => els.map(e => [e.id, JSON.parse(e.dataset.points).length])"
        points = page.eval_on_selector_all("[data-points]", count_points)
        storage = page.evaluate("() => [localStorage.length, sessionStorage.length]")
        print("EHR launch through the SMART Health IT launcher:", page.url.split("?")[0])
        print("  steps:", "; ".join(steps) or "none (skipped login)")
        print("  points per chart:", points)
        print("  browser storage after the launch (local, session):", storage)
        print("  origins contacted:", sorted(origins))
        print("  console errors:", errors or "none")
        print("  FHIR queries:", *fhir_answers, sep="\n    ")
        print("  screenshots:", ", ".join(f"launcher-{v}-1024x768.png" for v in VIEWS))
        browser.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
