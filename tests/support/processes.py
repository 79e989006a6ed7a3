"""Real `cds-service serve` processes for the operations tests: start, wait until ready, drive load, stop."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.support.fhir import SERVICE_IDS, draft, hook_request

ROOT = Path(__file__).resolve().parents[2]
CDS_SERVICE = str(Path(sys.executable).with_name("cds-service"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without CDS_*/OTEL_*/PROMETHEUS_* leftovers, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("CDS_", "OTEL_", "PROMETHEUS_"))}
    env.update(settings)
    return env


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return int(self.proc.returncode)


def start_service(env: dict[str, str], log: Path, *args: str, port: int | None = None) -> Served:
    port = port or free_port()
    handle = open(log, "wb")  # noqa: SIM115 - the child writes to it for its whole life
    proc = subprocess.Popen(
        [CDS_SERVICE, "serve", "--port", str(port), *args], env=env, cwd=ROOT, stdout=handle, stderr=handle
    )
    handle.close()
    return Served(proc, port, log)


def wait_ready(served: Served, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.proc.poll() is not None:
            raise RuntimeError(f"cds-service exited ({served.proc.returncode}): {served.log.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(served.base + "/health/ready", timeout=1).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"cds-service not ready in {timeout} s: {served.log.read_text()[-2000:]}")


def sign_body(hook_instance: str | None = None, pid: str = "load-pt") -> bytes:
    request = hook_request(
        "order-sign", drafts=[draft("197391", "baclofen 10 MG Oral Tablet", dose=20, frequency=3)], pid=pid
    )
    request["hookInstance"] = hook_instance or str(uuid.uuid4())
    return orjson.dumps(request)


SIGN_PATH = f"/cds-services/{SERVICE_IDS['order-sign']}"


@dataclass
class Load:
    """Threads posting order-sign calls (a fresh hookInstance each) until stopped or refused for good."""

    base: str
    threads: int = 4
    headers: dict[str, str] = field(default_factory=dict)
    token_source: Any = None  # a callable giving a fresh Authorization header per request
    results: list[tuple[str, int | str, float]] = field(default_factory=list)  # (hookInstance, status|error, t)
    served_by: dict[str, str] = field(default_factory=dict)  # hookInstance -> X-Served-By (behind HAProxy)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def _run(self, index: int) -> None:
        refused_since: float | None = None
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self._stop.is_set():
                hook_instance = str(uuid.uuid4())
                headers = {"Content-Type": "application/json", **self.headers}
                if self.token_source is not None:
                    headers.update(self.token_source())
                try:
                    response = client.post(SIGN_PATH, content=sign_body(hook_instance, f"pt-{index}"), headers=headers)
                    outcome: int | str = response.status_code
                    if "x-served-by" in response.headers:
                        self.served_by[hook_instance] = response.headers["x-served-by"]
                    refused_since = None
                except httpx.ConnectError:
                    outcome = "refused"
                    refused_since = refused_since or time.monotonic()
                    if time.monotonic() - refused_since > 1.0:
                        return
                    time.sleep(0.05)
                except httpx.HTTPError as exc:
                    outcome = type(exc).__name__
                self.results.append((hook_instance, outcome, time.monotonic()))

    def start(self) -> Load:
        for index in range(self.threads):
            thread = threading.Thread(target=self._run, args=(index,), daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        for thread in self._workers:
            thread.join(timeout)

    def join(self, timeout: float = 30) -> None:
        for thread in self._workers:
            thread.join(timeout)
        self._stop.set()

    def served(self) -> list[str]:
        return [h for h, outcome, _ in self.results if outcome == 200]

    def statuses(self) -> dict[int | str, int]:
        counts: dict[int | str, int] = {}
        for _, outcome, _ in self.results:
            counts[outcome] = counts.get(outcome, 0) + 1
        return counts


@contextlib.contextmanager
def running(env: dict[str, str], log: Path, *args: str) -> Iterator[Served]:
    served = start_service(env, log, *args)
    try:
        wait_ready(served)
        yield served
    finally:
        served.stop()
