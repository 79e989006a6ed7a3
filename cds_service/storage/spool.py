"""A bounded on-disk spool for audit rows the database could not take (finding 10).

Append-only JSON lines, one file per database and process (`audit-spool-<db>-<pid>.jsonl`), in
`CDS_AUDIT_SPOOL_DIR` (default: the system temp directory). Only the audit writer thread touches
its files, so there is no locking; several workers each have their own file. At start a recorder
adopts the files of processes that are gone (a restart, a crashed worker) by renaming them to
its own name, so nothing spooled is orphaned. The rows hold what the database would hold: the
patient only as its keyed pseudonym, card summaries already scrubbed; never a raw patient id.

Bounded in bytes (`CDS_AUDIT_SPOOL_MAX_BYTES`): past the bound, rows are counted as lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("cds_service.storage")

_NAME = re.compile(r"^audit-spool-(?P<db>[0-9a-f]{12})-(?P<pid>\d+)(?:-(?P<n>\d+))?\.jsonl$")


def default_spool_dir() -> Path:
    return Path(tempfile.gettempdir()) / "cds-audit-spool"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class AuditSpool:
    """JSON-lines spool of audit rows; `rows` counts what waits in it."""

    def __init__(self, directory: Path, database_url: str, max_bytes: int) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.db_key = hashlib.sha256(database_url.encode()).hexdigest()[:12]
        self.path = self.directory / f"audit-spool-{self.db_key}-{os.getpid()}.jsonl"
        self.rows = 0
        self.bytes = 0
        self.corrupt_lines = 0

    def files(self) -> list[Path]:
        """This process's spool files (its own and adopted ones), oldest first."""
        if not self.directory.is_dir():
            return []
        mine = []
        for path in self.directory.iterdir():
            match = _NAME.match(path.name)
            if match and match["db"] == self.db_key and int(match["pid"]) == os.getpid():
                mine.append(path)
        return sorted(mine, key=lambda p: (p == self.path, p.name))  # adopted (older) files first

    def adopt_orphans(self) -> int:
        """Take over the spool files of dead processes on the same database; returns how many."""
        adopted = 0
        if not self.directory.is_dir():
            return 0
        for path in sorted(self.directory.iterdir()):
            match = _NAME.match(path.name)
            if not match or match["db"] != self.db_key or _alive(int(match["pid"])):
                continue
            target = self.directory / f"audit-spool-{self.db_key}-{os.getpid()}-{adopted + 1}.jsonl"
            try:
                os.rename(path, target)  # atomic: another worker adopting the same file loses the race
            except OSError:
                continue
            adopted += 1
        if adopted:
            log.warning("adopted %d audit spool file(s) left by earlier processes", adopted)
        self.reload()
        return adopted

    def reload(self) -> None:
        """Recount from disk (after adoption, or a change made by someone else: tests)."""
        rows = size = 0
        for path in self.files():
            with contextlib.suppress(OSError):
                data = path.read_bytes()
                size += len(data)
                rows += sum(1 for line in data.splitlines() if line.strip())
        self.rows, self.bytes = rows, size

    def append(self, rows: list[dict[str, Any]]) -> int:
        """Append as many rows as the bound allows; returns how many were kept.

        Raises OSError when the spool cannot be written at all (its disk failed too).
        """
        if not rows:
            return 0
        lines: list[bytes] = []
        size = self.bytes
        for row in rows:
            line = json.dumps(row, separators=(",", ":"), default=str).encode() + b"\n"
            if size + len(line) > self.max_bytes:
                break
            lines.append(line)
            size += len(line)
        if not lines:
            return 0
        self.directory.mkdir(parents=True, exist_ok=True)
        with open(self.path, "ab") as handle:
            handle.write(b"".join(lines))
            handle.flush()
            os.fsync(handle.fileno())
        self.rows += len(lines)
        self.bytes = size
        return len(lines)

    def read_all(self) -> list[dict[str, Any]]:
        """Every row waiting, oldest first; a torn last line (a crash mid-write) is skipped."""
        rows: list[dict[str, Any]] = []
        for path in self.files():
            try:
                data = path.read_bytes()
            except OSError:
                continue
            for line in data.splitlines():
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError:
                    self.corrupt_lines += 1
                    continue
                if isinstance(row, dict):
                    rows.append(row)
        return rows

    def clear(self) -> None:
        """Forget what was replayed (called only after the database committed it)."""
        for path in self.files():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self.rows = 0
        self.bytes = 0
