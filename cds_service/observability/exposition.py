"""Exposition of the metrics: this process's registry, or in multiprocess mode every process's files.

Kept apart from `metrics` on purpose: the uvicorn supervisor under `--workers` serves the metrics
port from here without creating any metric of its own (a supervisor's zero-valued `livemin` gauge
would pull `cds_ready` to 0, its `liveall` series would count as a worker).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from cds_service.observability import MULTIPROC_ENV


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def reap_dead_processes(directory: str) -> None:
    """Forget the live gauges of worker processes that are gone (a restarted or killed worker):
    their `livesum`/`livemin` values would otherwise count for ever. Counters and histograms of
    dead processes stay: they are part of the totals."""
    pids = set()
    for path in Path(directory).glob("*_*.db"):
        with contextlib.suppress(ValueError):
            pids.add(int(path.stem.rsplit("_", 1)[1]))
    for pid in pids:
        if pid == os.getpid():
            continue
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            multiprocess.mark_process_dead(pid, directory)
        except PermissionError:
            pass


class _LiveMultiProcessCollector(multiprocess.MultiProcessCollector):
    def collect(self):  # type: ignore[no-untyped-def]
        if self._path:
            reap_dead_processes(self._path)
        return super().collect()


def metrics_registry() -> CollectorRegistry:
    """The registry to expose: every process's files in multiprocess mode, else this process's."""
    directory = multiprocess_dir()
    if directory is None:
        return REGISTRY
    registry = CollectorRegistry()
    _LiveMultiProcessCollector(registry, path=directory)
    return registry


def render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    return generate_latest(metrics_registry()), CONTENT_TYPE_LATEST


def start_metrics_server(host: str, port: int) -> Any:
    """`/metrics` on its own address (CDS_METRICS_HOST:CDS_METRICS_PORT), no authentication: for a
    network only Prometheus reaches. Runs in a daemon thread of the calling process (the uvicorn
    supervisor under `--workers`, which then reads every worker's files)."""
    from prometheus_client import start_http_server

    return start_http_server(port, addr=host, registry=metrics_registry())
