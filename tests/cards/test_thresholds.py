"""Each threshold is stated once, in `thresholds.py`: rule text formats its numbers from there.

A number in a rule module's text that equals a threshold and carries a threshold's unit would be
a second statement of it, one that a site configuration could not change. Quotes from labels and
guidelines that happen to share a number are listed in `QUOTED` with the reason.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

import cds_service.cards as cards_package
from cds_service.cards import RULES
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, THRESHOLD_NAMES, Thresholds

CARDS_DIR = Path(cards_package.__file__).parent
# How each threshold unit is written in card text.
UNIT_WORDS = {
    "mg/day": r"\s*mg",
    "days": r"[ -]days?",
    "hours": r"\s*(?:h\b|hours?)",
    "mmol/L": r"\s*mmol",
    "years": r"\s*(?:years|or older)",
    "drugs": r"\s*(?:drugs|or more)",
    "mL/min/1.73 m²": r"\s*mL/min",
    "mL/min": r"\s*mL/min",
}
QUOTED = {
    # The label's own words, quoted as the label says them.
    "within 14 days after discontinuation",
    # Magnesium replacement guidance (clinical-facts §4.3), not the renal-dosing cut-offs.
    "clearance is below 20-30 mL/min",
}


def _texts(tree: ast.AST) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            out.append((node.lineno, node.value))
    return out


def _stated_thresholds() -> list[re.Pattern[str]]:
    """A pattern per threshold: its default value followed by its unit."""
    patterns = []
    for name, field in Thresholds.model_fields.items():
        unit = (field.json_schema_extra or {})["unit"]  # type: ignore[index]
        value = f"{getattr(DEFAULT_THRESHOLDS, name):g}"
        patterns.append(re.compile(r"(?<![\d.])" + re.escape(value) + "(?=" + UNIT_WORDS[unit] + ")"))
    return patterns


@pytest.mark.parametrize(
    "path", sorted(p for p in CARDS_DIR.glob("*.py") if p.name not in ("thresholds.py", "guideline.py")), ids=str
)
def test_rule_text_states_no_threshold_of_its_own(path: Path) -> None:
    patterns = _stated_thresholds()
    found = []
    for line, text in _texts(ast.parse(path.read_text(encoding="utf-8"))):
        if any(quote in text for quote in QUOTED):
            continue
        found += [(line, m.group(0), text[:80]) for pattern in patterns for m in pattern.finditer(text)]
    assert found == []


def test_every_rule_declares_the_thresholds_it_reads() -> None:
    for rule in RULES:
        source = Path(rule.evaluate.__code__.co_filename).read_text(encoding="utf-8")
        read = set(re.findall(r"\bt\.([a-z_]+)", source)) & THRESHOLD_NAMES
        assert read <= set(rule.thresholds), (rule.topic, sorted(read - set(rule.thresholds)))


def test_descriptions_show_the_numbers_in_force() -> None:
    stricter = Thresholds(lab_recent_days=14, baclofen_plan_ceiling_mg_per_day=40)
    monitoring = next(r for r in RULES if r.topic == "electrolyte-monitoring")
    assert "last 14 days" in monitoring.describe(stricter)
    titration = next(r for r in RULES if r.topic == "baclofen-titration")
    assert "warning above 40 mg/day" in titration.describe(stricter)
    assert "warning above 30 mg/day" in titration.describe(DEFAULT_THRESHOLDS)


def test_an_implausible_threshold_is_refused_with_its_name_and_range() -> None:
    with pytest.raises(ValidationError) as error:
        Thresholds(potassium_low_mmol_per_l=35)
    assert "potassium_low_mmol_per_l" in str(error.value) and "4" in str(error.value)


def test_plan_steps_follow_start_step_and_ceiling() -> None:
    assert DEFAULT_THRESHOLDS.baclofen_plan_steps() == (10, 20, 30)
    assert Thresholds(baclofen_start_max_mg_per_day=15, baclofen_plan_ceiling_mg_per_day=45).baclofen_plan_steps() == (
        15,
        25,
        35,
        45,
    )
