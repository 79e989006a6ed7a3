"""Clinical rules: one module per rule, each exposing `RULE` (a `cards.base.Rule`).

The registry is discovered from the modules of this package so that adding a rule is adding a
module; `RULES` is sorted by topic code for a stable order. Modules without a `RULE` are the
shared machinery (base, guideline, thresholds, text, scope) and family helpers (`_baclofen`...).
"""

from __future__ import annotations

import importlib
import pkgutil

from cds_service.cards.base import Rule


def _discover() -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        rule = getattr(module, "RULE", None)
        if isinstance(rule, Rule):
            rules.append(rule)
    topics = [r.topic for r in rules]
    duplicates = {t for t in topics if topics.count(t) > 1}
    if duplicates:
        raise RuntimeError(f"duplicate rule topics: {sorted(duplicates)}")
    return tuple(sorted(rules, key=lambda r: r.topic))


RULES: tuple[Rule, ...] = _discover()
RULES_BY_TOPIC: dict[str, Rule] = {r.topic: r for r in RULES}
