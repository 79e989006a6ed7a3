"""The scenario matrix is complete and current: every statement has a tested rule or a reason."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from cds_service.cards import RULES
from cds_service.cards.guideline import STATEMENTS

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("scenario_matrix", ROOT / "scripts" / "scenario_matrix.py")
assert _spec is not None and _spec.loader is not None
matrix = importlib.util.module_from_spec(_spec)
sys.modules["scenario_matrix"] = matrix  # dataclasses resolve their module by name
_spec.loader.exec_module(matrix)


def test_every_statement_is_covered_by_a_rule_or_out_of_scope_with_a_reason() -> None:
    covered = {s for rule in RULES for s in rule.statements}
    for statement_id, statement in STATEMENTS.items():
        assert (statement_id in covered) != bool(statement.out_of_scope.strip()), statement_id


def test_rules_cite_only_known_statements() -> None:
    for rule in RULES:
        assert rule.statements, rule.topic
        assert set(rule.statements) <= set(STATEMENTS), rule.topic


def test_every_rule_is_proven_by_tests() -> None:
    index = matrix.index_tests()
    for rule in RULES:
        assert len(index.by_topic.get(rule.topic, [])) >= 3, rule.topic


def test_algorithm_line_two_is_statement_s17() -> None:
    assert "A2" not in STATEMENTS
    assert STATEMENTS["S17"].section == "Treatment Algorithm"


def test_the_document_is_current() -> None:
    assert matrix.main(["--check"]) == 0, "run: python scripts/scenario_matrix.py"


def test_index_maps_a_test_to_its_rule(tmp_path: Path) -> None:
    (tmp_path / "test_sample.py").write_text(
        "from cds_service.cards.baclofen_titration import evaluate\n"
        "def _helper():\n    return evaluate\n"
        "def test_direct():\n    evaluate\n"
        "def test_by_helper():\n    _helper()\n"
        "def test_by_topic():\n    assert 'electrolyte-potassium'\n"
        "def test_unrelated():\n    assert True\n",
        encoding="utf-8",
    )
    original_root = matrix.ROOT
    matrix.ROOT = tmp_path
    try:
        index = matrix.index_tests((tmp_path,))
    finally:
        matrix.ROOT = original_root
    assert index.by_topic["baclofen-titration"] == ["test_sample.py::test_direct", "test_sample.py::test_by_helper"]
    assert index.by_topic["electrolyte-potassium"] == ["test_sample.py::test_by_topic"]
