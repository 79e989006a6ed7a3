"""Several `cds-service serve` instances behind a real HAProxy on loopback, sharing PostgreSQL (a
schema of their own on the shared test server, dropped afterwards) and a redis-server of their own
(the JWT replay store). Used by tests/observability/test_fleet.py and bench/fleet.py.

HAProxy (Debian's package) balances round robin, health-checks `/health/ready` every 300 ms, and
retries a call on another instance when its instance refused the connection, closed it without an
answer, or answered 503 (`retry-on` + `option redispatch`). Such L7 retries replay the request from
HAProxy's buffer, so the whole body must be there first (`option http-buffer-request`, and a
`tune.bufsize` that holds a hook call). Each answer names the instance that gave it (`X-Served-By`).
docs/operations.md gives the same configuration for operators.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.support.auth import PUBLIC_BASE, app_clients_file
from tests.support.metrics import ADMIN_TOKEN
from tests.support.processes import Served, clean_env, free_port, start_service, wait_ready
from tests.support.storage import postgres_schema_url

HAPROXY_CONFIG = """\
global
    maxconn 2048
    log stderr format raw local0
    # L7 retries replay the request from HAProxy's buffer: it must hold a whole hook call (~160 kB).
    tune.bufsize 1048576

defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 5s
    # A new connection to the instance per call: an idle pooled connection to an instance that dies
    # cannot take a client's call down with it.
    option http-server-close
    # Wait for the whole body before choosing an instance: only a request held entirely in HAProxy's
    # buffer can be replayed on another instance (L7 retries); without it HAProxy can only close a
    # keep-alive client connection (no answer, no log line) and hope the client retries.
    option http-buffer-request
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response junk-response response-timeout 503

frontend cds
    bind 127.0.0.1:{port}
    default_backend instances

backend instances
    balance roundrobin
    option httpchk GET /health/ready
    http-check expect status 200
    default-server inter 300ms fastinter 200ms downinter 500ms fall 2 rise 2
    http-response set-header X-Served-By %[srv_name]
{servers}
"""


def haproxy_available() -> str | None:
    return None if shutil.which("haproxy") else "haproxy not installed (apt-get install -y haproxy)"


@contextlib.contextmanager
def haproxy(backends: dict[str, int], work: Path) -> Iterator[str]:
    port = free_port()
    servers = "\n".join(f"    server {name} 127.0.0.1:{backend} check" for name, backend in backends.items())
    config = work / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(port=port, servers=servers))
    subprocess.run(["haproxy", "-c", "-q", "-f", str(config)], check=True, timeout=10)
    log = open(work / "haproxy.log", "ab")  # noqa: SIM115 - HAProxy writes to it for its whole life
    proc = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=log, stderr=log)
    log.close()
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            time.sleep(0.05)
        yield base
    finally:
        proc.terminate()
        proc.wait(10)


@contextlib.contextmanager
def own_redis() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        proc.wait(10)


@dataclass
class Fleet:
    instances: dict[str, Served]
    balancer: str
    database_url: str
    work: Path
    extra: dict[str, str] = field(default_factory=dict)

    def metrics(self, name: str) -> str:
        served = self.instances[name]
        response = httpx.get(served.base + "/metrics", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=5)
        response.raise_for_status()
        return response.text


def fleet_env(work: Path, database_url: str, redis_url: str, name: str, **extra: str) -> dict[str, str]:
    settings = {
        "CDS_CLIENTS_FILE": str(work / "clients.toml"),
        "CDS_PUBLIC_BASE_URL": PUBLIC_BASE,
        "CDS_DATABASE_URL": database_url,
        "CDS_REPLAY_STORE": "redis",
        "CDS_REDIS_URL": redis_url,
        "CDS_PATIENT_HASH_SECRET": "fleet-test-secret-0123456789abcdef",
        "CDS_ADMIN_TOKEN": ADMIN_TOKEN,
        "CDS_AUDIT_SPOOL_DIR": str(work / f"spool-{name}"),
        "CDS_LOG_LEVEL": "WARNING",
        "CDS_SUPPRESSION_REFRESH_SECONDS": "0.5",  # overrides reach the other instances within half a second
        "CDS_LARGE_REQUEST_PROCESSES": "0",
        "CDS_DRAIN_DELAY_SECONDS": "0.5",
        # Load shedding has tests of its own; on a shared 2-core machine running other suites it would
        # answer 503 here for reasons that have nothing to do with balancing (the benchmark sets 250).
        "CDS_MAX_QUEUE_DELAY_MS": "2000",
    }
    return clean_env(**{**settings, **extra})


@contextlib.contextmanager
def fleet(work: Path, count: int, **extra: str) -> Iterator[Fleet]:
    """`count` instances (a, b, c, ...) on one PostgreSQL schema and one Redis, behind HAProxy."""
    app_clients_file(work, ["https://fhir.example.org/r4"])  # writes work/clients.toml and the pinned key
    schema_urls = postgres_schema_url()
    database_url = next(schema_urls)
    try:
        with own_redis() as redis_url:
            names = [chr(ord("a") + n) for n in range(count)]
            instances = {
                name: start_service(fleet_env(work, database_url, redis_url, name, **extra), work / f"{name}.log")
                for name in names
            }
            try:
                for served in instances.values():
                    wait_ready(served, timeout=90)
                with haproxy({name: s.port for name, s in instances.items()}, work) as balancer:
                    deadline = time.monotonic() + 10  # until HAProxy's checks have seen every instance up
                    seen: set[str] = set()
                    while len(seen) < count and time.monotonic() < deadline:
                        with contextlib.suppress(httpx.HTTPError):
                            served_by = httpx.get(balancer + "/health/ready", timeout=2).headers.get("x-served-by")
                            if served_by:
                                seen.add(served_by)
                        time.sleep(0.05)
                    yield Fleet(instances, balancer, database_url, work, extra)
            finally:
                for served in instances.values():
                    served.stop()
    finally:
        schema_urls.close()  # drops the schema
