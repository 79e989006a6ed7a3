"""Operations at the edge: Prometheus metrics (`metrics`), OpenTelemetry tracing (`tracing`),
readiness and draining (`readiness`).

Sits just below `protocol` in the layers: the edge records into it; it reads storage, auth and the
facts layer only through counters they already keep. Nothing here ever holds patient data: labels
and span attributes come from closed sets (service ids, hooks, topics, statuses, reasons).

This module itself imports nothing heavy: `prepare_multiprocess_dir` must run before
`prometheus_client` is first imported (the client picks its value store at import time).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiprocess_dir(workers: int) -> str | None:
    """Multiprocess mode for prometheus_client when several processes serve (`--workers`).

    Uses `PROMETHEUS_MULTIPROC_DIR` when set (the Kubernetes manifests mount an emptyDir there),
    else, with more than one worker, a fresh temporary directory (exported for the workers). The
    directory's metric files are removed first: they belong to processes of an earlier start (an
    emptyDir survives a container restart), whose counters would otherwise be added to ours.
    Returns the directory, or None for single-process mode.
    """
    path = os.environ.get(MULTIPROC_ENV)
    if not path and workers <= 1:
        return None
    if not path:
        path = tempfile.mkdtemp(prefix="cds-prometheus-")
        os.environ[MULTIPROC_ENV] = path
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)
    return path
