"""`cds-service serve`: uvicorn with the connection limits of `protocol.server`, one or more workers.

The limits (header bytes and count, header and body deadlines, keep-alive) are the service's own:
`cds-service serve` is what the README starts, and nothing may assume a proxy in front. The
shipped proxy configurations (deploy/) apply the same limits again (defence in depth).

Under `--workers N` each worker is a `DrainingServer` too (uvicorn's supervisor starts plain
servers), and the supervisor lets go of its copy of the listening socket before it stops the
workers: the last worker to stop accepting then closes the socket for good, and a connection
that comes later is refused (a balancer retries elsewhere) instead of waiting in a backlog that
no worker reads and being reset when the supervisor exits. Admission limits (calls in progress,
large calls, queue age) are per worker: N workers admit N times `CDS_MAX_CONCURRENT_HOOK_CALLS`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import multiprocessing as mp
import os
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.supervisors import Multiprocess, multiprocess

from cds_service.protocol.server import DrainingServer, EdgeLimits, GuardedHttpTools
from cds_service.settings import Settings


class DrainingProcess(multiprocess.Process):
    """A worker process whose server is a `DrainingServer`, told whether the whole service stops."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], service_stopping: Any = None) -> None:
        self.service_stopping = service_stopping  # an Event; it reaches the worker with this object
        super().__init__(config, sockets)

    @property
    def server(self) -> uvicorn.Server:
        if self._server is None:
            stopping = self.service_stopping
            self._server = DrainingServer(config=self.config, service_stopping=stopping.is_set if stopping else bool)
        return self._server


class DrainingMultiprocess(Multiprocess):
    """uvicorn's supervisor with `DrainingProcess` workers. When the service stops it tells them so
    (each then stops new connections before its last backlog sweep) and closes its own copy of the
    listening socket before it stops them (the last worker's close refuses later connections); a
    worker retired alone (SIGHUP, SIGTTOU) leaves the listener to the others."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.service_stopping = mp.get_context("spawn").Event()

    def run(self) -> None:
        # uvicorn creates its workers by the module's name `Process` (start, restart, replace):
        # each of them is a DrainingProcess while this supervisor runs.
        worker = functools.partial(DrainingProcess, service_stopping=self.service_stopping)
        with _patched(multiprocess, "Process", worker):
            super().run()

    def terminate_all(self) -> None:
        self.service_stopping.set()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()
        super().terminate_all()


@contextlib.contextmanager
def _patched(module: Any, name: str, value: Any) -> Any:
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


def edge_limits(settings: Settings) -> EdgeLimits:
    return EdgeLimits(
        max_header_bytes=settings.max_header_bytes,
        max_header_count=settings.max_header_count,
        header_timeout=settings.header_timeout_seconds,
        body_timeout=settings.body_timeout_seconds,
    )


def served_app() -> Any:
    """The app as `serve` runs it (also the `--workers` factory): the large-request process is
    started with the service rather than by the first large request."""
    from cds_service.app import create_app

    app = create_app()
    app.state.prestart_large_pool = True
    return app


def uvicorn_config(settings: Settings, app: Any) -> uvicorn.Config:
    """The uvicorn configuration `serve` runs: our protocol, its limits, the drain timeout."""
    config = uvicorn.Config(
        app,
        factory=isinstance(app, str),
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,
        http=GuardedHttpTools,
        timeout_keep_alive=max(1, round(settings.keep_alive_seconds)),
        timeout_graceful_shutdown=max(1, round(settings.drain_timeout_seconds)),
    )
    config.cds_edge_limits = edge_limits(settings)  # type: ignore[attr-defined]  # read by GuardedHttpTools
    return config


def run(settings: Settings, ignored: list[str]) -> int:
    from cds_service.logs import configure_logging
    from cds_service.observability import prepare_multiprocess_dir
    from cds_service.storage.spool import SpoolDirectoryError, check_spool_directory

    configure_logging(settings.log_level)
    for notice in ignored:
        logging.getLogger("cds_service.cli").warning("ignored: %s", notice)
    if settings.storage_enabled and settings.audit_spool_max_bytes > 0:
        try:
            check_spool_directory(settings.audit_spool_dir)
        except SpoolDirectoryError as exc:
            print(f"cds-service: {exc}", file=sys.stderr)
            return 2
    # Before anything imports prometheus_client: it picks its value store (memory or files) at import.
    prepare_multiprocess_dir(settings.workers)
    if settings.metrics_port is not None:
        from cds_service.observability.exposition import start_metrics_server

        try:  # in this process: under --workers the supervisor, which reads every worker's files
            start_metrics_server(settings.metrics_host, settings.metrics_port)
        except OSError as exc:
            print(f"cds-service: CDS_METRICS_PORT {settings.metrics_port}: cannot listen ({exc.strerror})",
                  file=sys.stderr)  # fmt: skip
            return 2
    if settings.workers > 1:
        # Workers build the app from the factory and read settings from the environment: hand
        # them every resolved setting (file, environment and flags already merged here).
        for key, value in settings.model_dump(mode="json", exclude_none=True).items():
            os.environ[f"CDS_{key.upper()}"] = json.dumps(value) if isinstance(value, list | dict) else str(value)
        config = uvicorn_config(settings, "cds_service.serve:served_app")
        DrainingMultiprocess(config, sockets=[config.bind_socket()]).run()
        return 0
    from cds_service.app import create_app

    app = create_app(settings)
    app.state.prestart_large_pool = True
    config = uvicorn_config(settings, app)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn has shut down already
        DrainingServer(config).run()
    return 0
