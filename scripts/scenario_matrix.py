"""Generate docs/scenario-matrix.md: every guideline statement, the rule that covers it, the tests.

The matrix is derived, so it cannot drift: statements from `cards.guideline.STATEMENTS`, rules and
their statements from the `cards.RULES` registry, tests by reading the test modules (AST, nothing
is run). A test function proves a rule when it names the rule's topic code in a string, or uses
a name imported from the rule's module (`evaluate`, `RULE`, or the module itself).

    python scripts/scenario_matrix.py           # rewrite docs/scenario-matrix.md
    python scripts/scenario_matrix.py --check   # exit 1 if the file is stale
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cds_service.cards import RULES  # noqa: E402
from cds_service.cards.guideline import SOURCE_TITLE, STATEMENTS  # noqa: E402
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS  # noqa: E402
from cds_service.engine import evaluate  # noqa: E402
from cds_service.facts.judgment import LabelScope, judgment_of  # noqa: E402

sys.path.insert(0, str(ROOT / "scripts"))
import dose_scenarios  # noqa: E402

DOC = ROOT / "docs" / "scenario-matrix.md"
TESTS = ROOT / "tests"

# Statements no rule covers, and why: declared next to each statement in cards/guideline.py.
OUT_OF_SCOPE: dict[str, str] = {s.id: s.out_of_scope for s in STATEMENTS.values() if s.out_of_scope}
ALIASES = {"A2": "S17"}  # the algorithm's second line is S17 verbatim


@dataclass
class TestIndex:
    by_topic: dict[str, list[str]] = field(default_factory=dict)

    def add(self, topic: str, test_id: str) -> None:
        tests = self.by_topic.setdefault(topic, [])
        if test_id not in tests:
            tests.append(test_id)


def _module_topics() -> dict[str, str]:
    return {rule.evaluate.__module__: rule.topic for rule in RULES}


def _rule_names(tree: ast.Module, module_topics: dict[str, str]) -> dict[str, str]:
    """Names a test module binds to a rule: `from cds_service.cards.x import evaluate` → x's topic."""
    names: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module in module_topics:
                for alias in node.names:
                    names[alias.asname or alias.name] = module_topics[node.module]
            elif node.module == "cds_service.cards":
                for alias in node.names:
                    topic = module_topics.get(f"cds_service.cards.{alias.name}")
                    if topic:
                        names[alias.asname or alias.name] = topic
    return names


def _string_constants(tree: ast.Module) -> dict[str, str]:
    constants: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    return constants


@dataclass(frozen=True)
class _Names:
    """What a test module's names mean: topic codes, names bound to rule modules, string constants."""

    topics: set[str]
    rule_names: dict[str, str]
    constants: dict[str, str]

    def topics_in(self, function: ast.FunctionDef | ast.AsyncFunctionDef, helpers: dict[str, set[str]]) -> set[str]:
        found: set[str] = set()
        for inner in [*function.decorator_list, *function.body]:
            for sub in ast.walk(inner):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    found |= {t for t in self.topics if t == sub.value}
                elif isinstance(sub, ast.Name):
                    if sub.id in self.rule_names:
                        found.add(self.rule_names[sub.id])
                    elif self.constants.get(sub.id) in self.topics:
                        found.add(self.constants[sub.id])
                    found |= helpers.get(sub.id, set())
        return found


# Clinical tests: rule modules at their edges (tests/cards) and FHIR through HTTP (tests/e2e). Elsewhere
# topic codes appear as labels (audit rows, feedback), not as clinical proof.
CLINICAL_TEST_DIRS = (TESTS / "cards", TESTS / "e2e")


def index_tests(tests_dirs: tuple[Path, ...] = CLINICAL_TEST_DIRS) -> TestIndex:
    topics = {rule.topic for rule in RULES}
    module_topics = _module_topics()
    index = TestIndex()
    for path in sorted(p for d in tests_dirs for p in d.rglob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        rule_names = _rule_names(tree, module_topics)
        constants = _string_constants(tree)

        # Module-level helpers (e.g. `_monitor(...)` wrapping a rule's evaluate) pass their topics on.
        functions = [n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)]
        names = _Names(topics, rule_names, constants)
        helpers = {f.name: names.topics_in(f, {}) for f in functions if not f.name.startswith("test")}
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.name.startswith("test"):
                continue
            for topic in sorted(names.topics_in(node, helpers)):
                index.add(topic, f"{path.relative_to(ROOT).as_posix()}::{node.name}")
    return index


def _cards_cell(scenario: dose_scenarios.DoseScenario) -> str:
    """'renal-dosing critical; baclofen-titration warning [15 mg/day]' as the engine answers."""
    parts = []
    for card in evaluate(scenario.facts).cards:
        doses = [m.group(0) for s in card.suggestions or () if (m := re.search(r"[\d.]+ mg/day", s.label))]
        parts.append(f"{card.topic_code} {card.indicator}" + (f" [{', '.join(doses)}]" if doses else ""))
    return "; ".join(parts) or "quiet"


def _judgment_cell(scenario: dose_scenarios.DoseScenario) -> str:
    j = judgment_of(scenario.facts, scenario.draft, DEFAULT_THRESHOLDS)
    if j.scope is not LabelScope.ORAL:
        return f"own label: {j.label}" if j.label else "no label"
    if not j.has_labelled_dose:
        return f"no labelled dose: {j.no_dose_reason}"
    start = f"start ≤ {j.start_mg_per_day:g}, " if j.start_mg_per_day is not None else ""
    renal = ", renal caution" if j.renal_adjusted else ""
    return f"{start}ceiling {j.ceiling_mg_per_day:g} mg/day{renal}"


def render_dose_scenarios() -> list[str]:
    lines = [
        "## Dose scenarios",
        "",
        "Every product form and route the service judges, by what the order is and the kidney, at "
        f"{' and '.join(str(a) for a in dose_scenarios.AGES)} (`scripts/dose_scenarios.py`, typed facts; the",
        "engine's answer, suggested daily doses in brackets). The judgment column is the order's dose judgment",
        "(`cds_service/facts/judgment`) for the younger patient. `tests/test_suggested_doses.py` runs every rule on",
        "every scenario and fails on a suggested dose outside its order's judgment.",
        "",
        "| Product | Route | Form | Kidney | Order | Judgment | Cards at "
        + " | Cards at ".join(str(a) for a in dose_scenarios.AGES)
        + " |",
        "|---|---|---|---|---|---|" + "---|" * len(dose_scenarios.AGES),
    ]
    for product in dose_scenarios.PRODUCTS:
        for order in dose_scenarios.ORDERS:
            for kidney in dose_scenarios.KIDNEYS:
                by_age = [dose_scenarios.scenario(product, order, kidney, age) for age in dose_scenarios.AGES]
                first = by_age[0]
                j = judgment_of(first.facts, first.draft, DEFAULT_THRESHOLDS)
                cells = [product.name, product.route.value, j.form, kidney, order, _judgment_cell(first)]
                cells += [_cards_cell(s) for s in by_age]
                lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return lines


def render(index: TestIndex) -> str:
    rules_by_statement: dict[str, list[str]] = {}
    for rule in RULES:
        for statement_id in rule.statements:
            rules_by_statement.setdefault(statement_id, []).append(rule.topic)
    lines = [
        "# Clinical scenario matrix",
        "",
        "Generated by `python scripts/scenario_matrix.py` from the rule registry (`cds_service/cards`) and the",
        "test modules; `tests/test_scenario_matrix.py` fails when this file is stale or a statement is neither",
        "covered by a tested rule nor listed as out of scope with a reason. Do not edit by hand.",
        "",
        f"Source: *{SOURCE_TITLE}* - a treatment summary, not a society guideline; statement ids follow",
        "`cds_service/cards/guideline.py` (S1-S23, and A1-A5 for the treatment algorithm, where A2 is S17).",
        "",
        "## Statements",
        "",
        "| Statement | Guideline text | Applies to (indication) | Rule(s) | Tests |",
        "|---|---|---|---|---|",
    ]
    for statement_id, statement in STATEMENTS.items():
        text = statement.text if len(statement.text) <= 90 else statement.text[:89] + "…"
        rules = rules_by_statement.get(statement_id, [])
        if rules:
            rule_cell = ", ".join(f"`{r}`" for r in rules)
            tests_cell = ", ".join(f"{len(index.by_topic.get(r, []))} ({r})" for r in rules)
        else:
            rule_cell = "out of scope"
            tests_cell = OUT_OF_SCOPE.get(statement_id, "**MISSING REASON**")
        applies = statement.applies_to or "any"
        lines.append(f"| {statement_id} | {text} | {applies} | {rule_cell} | {tests_cell} |")
        if statement_id == "A1":
            for alias, target in ALIASES.items():
                lines.append(
                    f"| {alias} | (the same sentence as {target}) | see {target} | see {target} | see {target} |"
                )
    lines += ["", "## Out of scope", ""]
    for statement_id, reason in OUT_OF_SCOPE.items():
        lines.append(f"- **{statement_id}**: {reason}")
    lines += ["", *render_dose_scenarios()]
    lines += ["", "## Rules and the tests that prove them", ""]
    for rule in RULES:
        tests = index.by_topic.get(rule.topic, [])
        hooks = ", ".join(sorted(rule.hooks))
        lines += [
            f"### `{rule.topic}` - {rule.title}",
            "",
            f"Statements: {', '.join(rule.statements)}. Hooks: {hooks}.",
            "",
            rule.describe(DEFAULT_THRESHOLDS),
            "",
            f"Tests ({len(tests)}):",
            "",
            *(f"- `{t}`" for t in tests),
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/scenario-matrix.md is stale")
    args = parser.parse_args(argv)
    content = render(index_tests())
    if args.check:
        current = DOC.read_text(encoding="utf-8") if DOC.exists() else ""
        if current != content:
            print("docs/scenario-matrix.md is stale: run python scripts/scenario_matrix.py", file=sys.stderr)
            return 1
        return 0
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(content, encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
