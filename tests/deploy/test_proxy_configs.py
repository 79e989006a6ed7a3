"""Issue 21, findings 2 and 3: the shipped proxy configurations (deploy/proxy/) apply the same
connection limits as `cds-service serve` (defence in depth): header bytes and count, header and
body deadlines, keep-alive, body size. Figures are read from the files and compared with the
service's defaults, so that a change to one side shows here; HAProxy checks its file when installed."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from cds_service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
HAPROXY = (ROOT / "deploy" / "proxy" / "haproxy.cfg").read_text()
NGINX = (ROOT / "deploy" / "proxy" / "nginx.conf").read_text()


def _default(name: str) -> float:
    return float(Settings.model_fields[name].default)


def _seconds(text: str, directive: str) -> float:
    found = re.search(rf"^\s*{re.escape(directive)}\s+(\d+)s;?\s*$", text, re.MULTILINE)
    assert found, f"{directive} missing"
    return float(found.group(1))


def test_haproxy_applies_the_service_limits() -> None:
    assert f"req.hdrs,length gt {int(_default('max_header_bytes'))}" in HAPROXY
    assert "http-request return status 431" in HAPROXY
    assert re.search(rf"tune\.http\.maxhdr {int(_default('max_header_count')) + 1}\b", HAPROXY)
    assert _seconds(HAPROXY, "timeout http-request") <= _default("body_timeout_seconds")
    assert _seconds(HAPROXY, "timeout http-keep-alive") <= _default("keep_alive_seconds")
    assert f"req.hdr_val(content-length) gt {int(_default('max_body_bytes'))}" in HAPROXY


def test_nginx_applies_the_service_limits() -> None:
    assert re.search(r"large_client_header_buffers 4 32k;", NGINX)
    assert int(_default("max_header_bytes")) == 32 * 1024
    assert _seconds(NGINX, "client_header_timeout") <= _default("header_timeout_seconds")
    assert _seconds(NGINX, "client_body_timeout") <= _default("body_timeout_seconds")
    assert _seconds(NGINX, "keepalive_timeout") <= _default("keep_alive_seconds")
    assert "client_max_body_size 5m;" in NGINX and _default("max_body_bytes") == 5 * 1024 * 1024


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed (apt-get install -y haproxy)")
def test_haproxy_accepts_the_file(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    with socket.socket() as probe:  # HAProxy refuses port 0: a free port, only checked, never bound
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config.write_text(HAPROXY.replace("bind :8443", f"bind 127.0.0.1:{port}"))
    result = subprocess.run(["haproxy", "-c", "-f", str(config)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def test_kubernetes_spool_is_its_own_volume_and_says_it_is_ephemeral() -> None:
    """Issue 21, finding 5: the loss is stated in the manifest, in /health (CDS_AUDIT_SPOOL_EPHEMERAL)
    and in the operations guide; the folder is one the service creates 0700 inside the volume."""
    deployment = (ROOT / "deploy" / "kubernetes" / "base" / "deployment.yaml").read_text()
    assert "value: /var/lib/cds/audit-spool/rows" in deployment
    assert re.search(r"CDS_AUDIT_SPOOL_EPHEMERAL\n\s+value: \"true\"", deployment)
    assert re.search(r"- name: audit-spool\n\s+emptyDir:", deployment)
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert "The audit spool in Kubernetes" in operations and "lost" in operations
