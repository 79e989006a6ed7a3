"""The tree keeps one direction of imports (edge → storage → auth → engine → rules → facts →
vocabulary, the contract in pyproject.toml) and no module imports itself back through others.

Function-level imports count: grimp reads them too, so an import hidden inside a function cannot
hide a cycle.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("cds_service", cache_dir=None)


def test_import_contracts_hold() -> None:
    # In a child process: import-linter reconfigures logging, which would mute other tests' caplog.
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; lint_imports_command()",
         "--config", "pyproject.toml", "--no-cache"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Every direct import A → B for which B also reaches A, as the shortest loop."""
    loops: list[list[str]] = []
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                loops.append([importer, *back])
    return loops


def test_no_import_cycles(graph: grimp.ImportGraph) -> None:
    assert _cycles(graph) == []


def test_the_cycle_check_sees_a_cycle(graph: grimp.ImportGraph) -> None:
    """The check above can fail: an added back-import is reported as a loop."""
    graph.add_import(importer="cds_service.facts.model", imported="cds_service.cards.base")
    try:
        assert any(loop[0] == "cds_service.facts.model" for loop in _cycles(graph))
    finally:
        graph.remove_import(importer="cds_service.facts.model", imported="cds_service.cards.base")
