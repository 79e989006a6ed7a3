"""bench/peer.py: the peer is served as ours is (uvicorn with httptools and uvloop), and a virtual
environment made with other packages is made again rather than reused."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench import peer


@pytest.fixture
def commands(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[list[str]]:
    """The commands peer_python runs (none really run), with the cache under tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    ran: list[list[str]] = []

    def fake_run(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        ran.append([str(part) for part in command])
        if command[1:3] == ["-m", "venv"]:
            (Path(command[-1]) / "bin").mkdir(parents=True, exist_ok=True)
            (Path(command[-1]) / "bin" / "python").write_text("")
        return subprocess.CompletedProcess(command, 0, "", "")

    monkeypatch.setattr(peer.subprocess, "run", fake_run)
    return ran


def test_the_peer_gets_the_http_parser_and_event_loop_ours_runs_on(commands: list[list[str]]) -> None:
    python, status = peer.peer_python()
    assert python is not None and "installed" in status
    install = next(c for c in commands if "install" in c)
    assert f"healthchain=={peer.HEALTHCHAIN_VERSION}" in install and "uvicorn[standard]" in install
    check = next(c for c in commands if c[1] == "-c")
    assert "httptools" in check[2] and "uvloop" in check[2]  # the import check fails without them


def test_a_venv_made_with_other_packages_is_made_again(commands: list[list[str]]) -> None:
    folder = peer.venv_dir()
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").write_text("")
    (folder / ".installed").write_text(f"healthchain=={peer.HEALTHCHAIN_VERSION} uvicorn\n")  # h11, asyncio
    peer.peer_python()
    assert any("install" in c and "uvicorn[standard]" in c for c in commands)
    assert (folder / ".installed").read_text().split() == list(peer.PACKAGES)


def test_a_venv_made_with_these_packages_is_reused(commands: list[list[str]]) -> None:
    folder = peer.venv_dir()
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "python").write_text("")
    (folder / ".installed").write_text(" ".join(peer.PACKAGES) + "\n")
    python, status = peer.peer_python()
    assert python == folder / "bin" / "python" and "installed" not in status
    assert commands == []
