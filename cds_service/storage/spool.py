"""A bounded on-disk spool for audit rows the database could not take (finding 10).

Append-only JSON lines, one file per database and process (`audit-spool-<db>-<pid>.jsonl`), in
`CDS_AUDIT_SPOOL_DIR` (default: the system temp directory). Only the audit writer thread touches
its files, so there is no locking; several workers each have their own file. At start a recorder
adopts the files of processes that are gone (a restart, a crashed worker) by renaming them to
its own name, so nothing spooled is orphaned. The rows hold what the database would hold: the
patient only as its keyed pseudonym, card summaries already scrubbed; never a raw patient id.

Bounded in bytes (`CDS_AUDIT_SPOOL_MAX_BYTES`): past the bound, rows are counted as lost.

Private to the service's user (issue 21, finding 5: a 0755 folder of 0644 files in the shared temp
folder let other local users read spooled rows and plant a file the service adopted): the folder
is 0700 and owned by the service's user (`check_spool_directory`, run by `cds-service serve`,
refuses to start otherwise), files are created 0600, and every line carries an HMAC-SHA256 of
its JSON under the spool key (`spool_key`: `CDS_AUDIT_SPOOL_SECRET`, else derived from
`CDS_PATIENT_HASH_SECRET`). A line without a valid HMAC is never replayed; a file of another
process is adopted only if it is a regular file of this user whose lines verify.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger("cds_service.storage")

_NAME = re.compile(r"^audit-spool-(?P<db>[0-9a-f]{12})-(?P<pid>\d+)(?:-(?P<n>\d+))?\.jsonl$")


# The key of a spool nobody configured: the one `spool_key` derives from the documented development
# default of CDS_PATIENT_HASH_SECRET ("change-me"). `check-config` warns about that default.
_DIGEST_HEX = 64


class SpoolDirectoryError(Exception):
    """The spool folder is unsafe or unusable: one line for the operator, and the service does not start."""


def default_spool_dir() -> Path:
    """Per user, so that another local user's folder is never ours (and ours never theirs)."""
    return Path(tempfile.gettempdir()) / f"cds-audit-spool-{os.geteuid()}"


def spool_key(secret: str | None, patient_hash_secret: str) -> bytes:
    """The HMAC key of spool lines: `CDS_AUDIT_SPOOL_SECRET`, else derived from the patient hash secret."""
    if secret:
        return secret.encode()
    return hmac.new(patient_hash_secret.encode(), b"cds-audit-spool", hashlib.sha256).digest()


DEFAULT_KEY = spool_key(None, "change-me")


def check_spool_directory(directory: Path | None) -> Path:
    """Create the folder 0700 if missing; refuse one that is not a real folder of this user, private to it."""
    path = Path(directory) if directory is not None else default_spool_dir()
    where = f"audit spool directory {path} (CDS_AUDIT_SPOOL_DIR)"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
        info = path.lstat()
    except OSError as exc:
        raise SpoolDirectoryError(f"{where}: cannot create it: {exc.strerror or exc}") from None
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise SpoolDirectoryError(f"{where}: not a directory (a symbolic link is refused too)")
    if info.st_uid != os.geteuid():
        raise SpoolDirectoryError(f"{where}: owned by uid {info.st_uid}, not by this service's user ({os.geteuid()})")
    if info.st_mode & 0o077:
        raise SpoolDirectoryError(
            f"{where}: mode {stat.S_IMODE(info.st_mode):04o} lets other users in; it must be 0700 (chmod 700 {path})"
        )
    return path


def _sign(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).hexdigest().encode() + b" " + payload + b"\n"


def _verified(key: bytes, line: bytes) -> bytes | None:
    """The JSON of a signed line, or None when its HMAC does not match (planted, altered, torn)."""
    digest, _, payload = line.partition(b" ")
    if len(digest) != _DIGEST_HEX or not payload:
        return None
    expected = hmac.new(key, payload, hashlib.sha256).hexdigest().encode()
    return payload if hmac.compare_digest(digest, expected) else None


def _own_regular_file(path: Path) -> bool:
    try:
        info = path.lstat()
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()


def _alive(pid: int, last_written: float | None = None) -> bool:
    """Whether the process that wrote a spool file may still be running. A process with that id that
    started after the file's last write did not write it: the id was reused (a replaced Kubernetes
    pod mounting the same persistent volume has its own process ids, starting again from 1)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if last_written is not None:
        started = _started_at(pid)
        if started is not None and started > last_written + _CLOCK_MARGIN_SECONDS:
            return False
    return True


_CLOCK_MARGIN_SECONDS = 2.0  # boot time in whole seconds, and clocks of two nodes


def _started_at(pid: int) -> float | None:
    """Wall-clock start of a process (Linux /proc), or None where it cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = next(line for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
        return int(boot.split()[1]) + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


class AuditSpool:
    """JSON-lines spool of audit rows; `rows` counts what waits in it."""

    def __init__(self, directory: Path, database_url: str, max_bytes: int, *, key: bytes | None = None) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.key = key or DEFAULT_KEY
        self.rejected_files = 0  # files of other processes not adopted: not this user's, or lines that do not verify
        self.db_key = hashlib.sha256(database_url.encode()).hexdigest()[:12]
        self.path = self.directory / f"audit-spool-{self.db_key}-{os.getpid()}.jsonl"
        self.rows = 0
        self.bytes = 0
        self.corrupt_lines = 0

    def use_key(self, key: bytes) -> None:
        """Sign and verify with `key` (the app sets the configured one before the recorder starts)."""
        self.key = key

    def _verifies(self, path: Path) -> bool:
        """Adoptable: a regular file of this user whose every line verifies (a torn last line aside)."""
        if not _own_regular_file(path):
            return False
        try:
            lines = path.read_bytes().split(b"\n")
        except OSError:
            return False
        complete, torn = lines[:-1], lines[-1]
        return all(_verified(self.key, line) is not None for line in complete if line.strip()) and (
            not torn.strip() or bool(complete)
        )

    def files(self) -> list[Path]:
        """This process's spool files (its own and adopted ones), oldest first."""
        if not self.directory.is_dir():
            return []
        mine = []
        for path in self.directory.iterdir():
            match = _NAME.match(path.name)
            if match and match["db"] == self.db_key and int(match["pid"]) == os.getpid() and _own_regular_file(path):
                mine.append(path)
        return sorted(mine, key=lambda p: (p == self.path, p.name))  # adopted (older) files first

    def adopt_orphans(self) -> int:
        """Take over the spool files of dead processes on the same database; returns how many."""
        adopted = 0
        if not self.directory.is_dir():
            return 0
        for path in sorted(self.directory.iterdir()):
            match = _NAME.match(path.name)
            if not match or match["db"] != self.db_key:
                continue
            try:
                last_written = path.stat().st_mtime
            except OSError:
                continue
            if _alive(int(match["pid"]), last_written):
                continue
            if not self._verifies(path):
                self.rejected_files += 1
                log.error("audit spool file %s not adopted: not this user's, or not signed with its key", path.name)
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
            line = _sign(self.key, json.dumps(row, separators=(",", ":"), default=str).encode())
            if size + len(line) > self.max_bytes:
                break
            lines.append(line)
            size += len(line)
        if not lines:
            return 0
        if not self.directory.is_dir():
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "ab") as handle:
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
                payload = _verified(self.key, line)
                if payload is None:  # altered, planted or torn: never replayed into the audit trail
                    self.corrupt_lines += 1
                    continue
                try:
                    row = json.loads(payload)
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
