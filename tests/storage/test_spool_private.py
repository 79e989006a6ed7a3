"""Issue 21, finding 5: the audit spool is private to the service's user and adopts only what it signed.

The review: the default spool was `<tmp>/cds-audit-spool`, folder 0755 and files 0644, an existing
folder trusted as it was; another local user could read spooled rows and plant an
`audit-spool-<key>-<pid>.jsonl` that the service adopted into the audit trail.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cds_service.app import create_app
from cds_service.settings import load_settings
from cds_service.storage import schema
from cds_service.storage.recorder import SqlRecorder
from cds_service.storage.spool import AuditSpool, SpoolDirectoryError, check_spool_directory, spool_key
from tests.support.processes import CDS_SERVICE, ROOT, clean_env
from tests.support.storage import SECRET, card, hook_call


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_the_spool_folder_is_created_0700_and_its_files_0600(tmp_path: Path) -> None:
    folder = check_spool_directory(tmp_path / "spool")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    spool = AuditSpool(folder, "sqlite:///x.db", 1 << 20)
    assert spool.append([{"hook_instance": "a"}]) == 1
    assert stat.S_IMODE(spool.path.stat().st_mode) == 0o600
    assert spool.read_all() == [{"hook_instance": "a"}]


def test_a_folder_other_users_can_enter_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    with pytest.raises(SpoolDirectoryError, match=r"mode 0755 .*must be 0700 \(chmod 700"):
        check_spool_directory(folder)
    link = tmp_path / "link"
    link.symlink_to(folder, target_is_directory=True)
    folder.chmod(0o700)
    with pytest.raises(SpoolDirectoryError, match="not a directory"):
        check_spool_directory(link)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give the folder to another user")
def test_a_folder_of_another_user_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    folder.mkdir(mode=0o700)
    os.chown(folder, 4242, 4242)
    with pytest.raises(SpoolDirectoryError, match="owned by uid 4242"):
        check_spool_directory(folder)


def test_serve_refuses_to_start_with_an_open_spool_folder_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    folder.mkdir()
    folder.chmod(0o755)
    env = clean_env(CDS_AUDIT_SPOOL_DIR=str(folder), CDS_DATABASE_URL=f"sqlite:///{tmp_path}/a.db")
    result = subprocess.run(
        [CDS_SERVICE, "serve", "--dev", "--port", "0"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("cds-service: audit spool directory") and "0700" in lines[-1], lines
    assert "Traceback" not in result.stderr


def test_a_planted_or_altered_spool_file_is_never_replayed(tmp_path: Path) -> None:
    """An unsigned file named like an orphan is not adopted; a line altered in a signed file is
    skipped; a file signed under the service's key is adopted and replayed (the control)."""
    database = f"sqlite:///{tmp_path}/audit.db"
    settings = load_settings(
        dev=True, database_url=database, audit_spool_dir=tmp_path / "spool", patient_hash_secret=SECRET
    )
    key = spool_key(None, SECRET)
    folder = check_spool_directory(tmp_path / "spool")
    writer = SqlRecorder(database, SECRET, settings=settings)
    planted_row = writer.spool_row(hook_call(card()))
    planted_row["hook_instance"] = "planted-by-another-user"
    genuine_row = writer.spool_row(hook_call(card()))
    genuine_row["hook_instance"] = "genuine-spooled-call"
    db_key = AuditSpool(folder, database, 1 << 20).db_key
    planted = folder / f"audit-spool-{db_key}-{_dead_pid()}.jsonl"
    planted.write_text(json.dumps(planted_row) + "\n")  # the old, unsigned format
    genuine = AuditSpool(folder, database, 1 << 20, key=key)
    genuine.path = folder / f"audit-spool-{db_key}-{_dead_pid()}.jsonl"
    genuine.append([genuine_row])
    altered = genuine.path.read_bytes().replace(b"genuine-spooled-call", b"altered-spooled-call!")
    (folder / f"audit-spool-{db_key}-{_dead_pid()}.jsonl").write_bytes(altered)

    with TestClient(create_app(settings)) as client:
        recorder = client.app.state.recorder
        recorder.retry_now()
        recorder.flush(timeout=20)
        with recorder.engine.connect() as conn:
            stored = set(conn.execute(select(schema.hook_call.c.hook_instance)).scalars())
        assert recorder.spool.rejected_files == 2
    assert "genuine-spooled-call" in stored
    assert "planted-by-another-user" not in stored and "altered-spooled-call!" not in stored
    assert planted.exists()  # left where it was, for the operator to look at


def test_a_file_whose_process_id_was_reused_by_a_later_process_is_adopted(tmp_path: Path) -> None:
    """A replaced Kubernetes pod on the same persistent volume (overlays/persistent-spool) has process
    ids of its own, from 1 again: a live process with the old file's id that started after the file's
    last write did not write it, and must not keep the rows from being adopted. A file written after
    that process started may be its own, and stays."""
    database = f"sqlite:///{tmp_path}/audit.db"
    key = spool_key(None, SECRET)
    folder = check_spool_directory(tmp_path / "spool")
    db_key = AuditSpool(folder, database, 1 << 20).db_key
    writer = SqlRecorder(database, SECRET, settings=load_settings(dev=True, database_url=database))

    def signed_file(name: str) -> Path:
        spool = AuditSpool(folder, database, 1 << 20, key=key)
        spool.path = folder / name
        spool.append([writer.spool_row(hook_call(card()))])
        return spool.path

    earlier = signed_file("earlier.jsonl")
    os.utime(earlier, (earlier.stat().st_atime, earlier.stat().st_mtime - 60))  # the old pod, a minute ago
    later_process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        reused = earlier.rename(folder / f"audit-spool-{db_key}-{later_process.pid}.jsonl")
        adopter = AuditSpool(folder, database, 1 << 20, key=key)
        assert adopter.adopt_orphans() == 1
        assert not reused.exists() and adopter.rows == 1

        current = signed_file(f"audit-spool-{db_key}-{later_process.pid}.jsonl")  # written after it started
        assert AuditSpool(folder, database, 1 << 20, key=key).adopt_orphans() == 0
        assert current.exists()
    finally:
        later_process.kill()
        later_process.wait()
