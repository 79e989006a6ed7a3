"""Every card the end-to-end tests build (rules, then engine) goes through the issue-12 limits."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.facts import card_length_report, watch_card_limits
from tests.support.suggestions import applied_report


@pytest.fixture(autouse=True)
def card_limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    violations = watch_card_limits(monkeypatch)
    yield
    assert violations == [], "cards past the limits (summary ≤ 100, detail ≤ 600) or suggestions that miss their dose"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    lines = card_length_report()  # once per run, whichever conftest asks first
    if lines:
        terminalreporter.write_sep("-", "card lengths (issue 12 limits: summary 100, detail 600)")
        for line in lines:
            terminalreporter.write_line(line)
        terminalreporter.write_line(applied_report())
