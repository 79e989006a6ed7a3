"""The large-request process never outlives its server: not even a server that ends while the process
is still starting (a worker retired or restarted right after start), which no death signal can reach
because the process asks for one only once it runs (issue 22's CI left such a process behind)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A server process that starts the pool and ends at once, before the child has asked for its death signal.
_ENDS_AT_ONCE = """
import os, sys
from cds_service.protocol.lanes import LargeRequestPool
pool = LargeRequestPool(1, "WARNING")
pool.start()
print(" ".join(str(pid) for pid in pool._pool._processes), flush=True)
os._exit(0)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_the_process_of_a_server_that_ended_while_it_started_ends_too() -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", _ENDS_AT_ONCE], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert server.stdout is not None
    children = [int(pid) for pid in server.stdout.readline().split()]  # not to EOF: the child holds the pipe
    assert server.wait(timeout=60) == 0 and children
    deadline = time.monotonic() + 30  # the child's start (imports) takes a second or two
    while time.monotonic() < deadline and any(_alive(pid) for pid in children):
        time.sleep(0.1)
    left = [pid for pid in children if _alive(pid)]
    for pid in left:  # never leave it behind, even when the test fails
        os.kill(pid, 9)
    assert left == [], "the large-request process outlived its server"
