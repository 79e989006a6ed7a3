"""HealthChain (pinned) beside ours and bare in the same run (issue 22): a virtual environment of its
own, made once and reused, so that its dependencies (its own FastAPI, pydantic, fhir.resources) never
meet ours. `bench/run.py` serves `bench/peer_app.py` from it with `BENCH_PEER_MODE=noop` and
`=validate`, on the same bodies. When it cannot be installed (no index, no network) the run says so in
one line and goes on without the peer.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HEALTHCHAIN_VERSION = "0.16.1"  # the version issue 22 measured; `pip index versions healthchain` lists newer ones
# Served as ours and bare are: uvicorn with httptools and uvloop (`uvicorn[standard]`, as ours depends on).
# Plain `uvicorn` parses HTTP with h11 in pure Python: 6-9 % fewer calls/s for the peer, 0.2-0.3 ms more CPU
# per call of these bodies (a one-off A/B on 8 December, 3 alternations).
PACKAGES = (f"healthchain=={HEALTHCHAIN_VERSION}", "uvicorn[standard]")
SAME_SERVER_AS_OURS = "import healthchain.gateway, fhir.resources.R4B, httptools, uvloop"
PEER_APP = "bench.peer_app:app"
MODES = ("noop", "validate")


def venv_dir() -> Path:
    """Outside the checkout (a fresh clone reuses it): $XDG_CACHE_HOME or ~/.cache. Made again when its
    marker lists other packages than `PACKAGES`."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "cds-bench" / f"healthchain-{HEALTHCHAIN_VERSION}"


def peer_python(timeout: float = 600.0) -> tuple[Path | None, str]:
    """The peer venv's python, made if missing; or None and why not (for the report's one line)."""
    folder = venv_dir()
    python = folder / "bin" / "python"
    marker = folder / ".installed"
    if python.exists() and marker.exists() and marker.read_text().split() == list(PACKAGES):
        return python, f"healthchain {HEALTHCHAIN_VERSION} in {folder}"
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(folder)], check=True, timeout=120,
                       capture_output=True)  # fmt: skip
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PACKAGES], check=True, timeout=timeout,
                       capture_output=True, text=True)  # fmt: skip
        subprocess.run([str(python), "-c", SAME_SERVER_AS_OURS], check=True, timeout=120,
                       capture_output=True)  # fmt: skip
    except subprocess.CalledProcessError as exc:
        tail = ((exc.stderr or "") if isinstance(exc.stderr, str) else "").strip().splitlines()[-1:] or [""]
        return None, f"healthchain {HEALTHCHAIN_VERSION} could not be installed ({tail[0][:160]})"
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"healthchain {HEALTHCHAIN_VERSION} could not be installed ({type(exc).__name__})"
    marker.write_text(" ".join(PACKAGES) + "\n")
    return python, f"healthchain {HEALTHCHAIN_VERSION} installed in {folder}"


if __name__ == "__main__":
    found, why = peer_python()
    print(why)
    sys.exit(0 if found else 1)
