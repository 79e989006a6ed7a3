"""Node.js test servers (npm packages pinned by their package-lock.json): installed with `npm ci` on
first use, started on an ephemeral loopback port, ready when they print their READY line, stopped
at the end. Used for the real FHIR server (Medplum) and the real SMART authorization server
(oidc-provider)."""

from __future__ import annotations

import json
import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

TESTS = Path(__file__).parents[1]
MEDPLUM_DIR = TESTS / "medplum"
SMART_AUTH_DIR = TESTS / "smart_auth"
READY_TIMEOUT_SECONDS = 60
NPM_CI_TIMEOUT_SECONDS = 600
MIN_NODE_MAJOR = 20  # @medplum/* 4.5.2 declare node ^20.19 || >=22.12; oidc-provider 9 ^20.19


def _node_major(node: str) -> int:
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    match = re.match(r"v(\d+)\.", version)
    return int(match.group(1)) if match else 0


def node_or_skip() -> str:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are needed for the real FHIR/auth server tests (.ci/run installs them)")
    if (major := _node_major(node)) < MIN_NODE_MAJOR:
        pytest.skip(f"Node.js {major} is too old (needs >= 20.19)")
    return node


def npm_ci(directory: Path, marker: str) -> None:
    """`npm ci` in `directory` unless `node_modules/<marker>` is already there."""
    if (directory / "node_modules" / marker).is_dir():
        return
    npm = shutil.which("npm")
    assert npm is not None
    installed = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=NPM_CI_TIMEOUT_SECONDS,
    )
    if installed.returncode != 0:
        pytest.fail(f"npm ci in {directory} failed:\n{installed.stderr[-2000:]}")


@contextmanager
def node_server(directory: Path, args: list[str], ready_word: str, log: Path) -> Iterator[dict[str, Any]]:
    """Runs `node <args>` in `directory`; yields the JSON its `<ready_word> {...}` line printed."""
    node = node_or_skip()
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [node, *args], cwd=directory, stdout=subprocess.PIPE, stderr=stderr, text=True
        )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout or []], daemon=True).start()
    try:
        try:
            ready = lines.get(timeout=READY_TIMEOUT_SECONDS)
        except queue.Empty:
            ready = ""
        if not ready.startswith(f"{ready_word} "):
            pytest.fail(f"{directory.name} test server did not start: {ready!r} {log.read_text()[-2000:]}")
        yield json.loads(ready.removeprefix(f"{ready_word} "))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@dataclass
class MedplumServer:
    base: str

    @property
    def _root(self) -> str:
        return self.base.removesuffix("/fhir")

    def put(self, resources: list[dict[str, Any]]) -> None:
        """Load resources keeping their ids (PUT upsert), as the EHR holds them."""
        with httpx.Client(timeout=10) as http:
            for resource in resources:
                url = f"{self.base}/{resource['resourceType']}/{resource['id']}"
                response = http.put(url, json=resource, headers={"Content-Type": "application/fhir+json"})
                assert response.status_code in (200, 201), (url, response.text)

    def requests(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self._root}/_test/requests", timeout=10).json()

    def clear_requests(self) -> None:
        httpx.delete(f"{self._root}/_test/requests", timeout=10).raise_for_status()


@contextmanager
def medplum_server(log: Path) -> Iterator[MedplumServer]:
    """Medplum's in-memory FHIR R4 engine (tests/medplum/server.mjs) on an ephemeral port."""
    node_or_skip()
    npm_ci(MEDPLUM_DIR, "@medplum/fhir-router")
    with node_server(MEDPLUM_DIR, ["server.mjs", "--port", "0"], "MEDPLUM_READY", log) as ready:
        yield MedplumServer(base=ready["base"])
