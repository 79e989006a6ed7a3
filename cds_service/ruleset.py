"""Site configuration of the rules: which rule runs on which hooks, and the thresholds in force.

A hospital tunes a rule without changing code: the `[rules]` table of the settings file (and of a
client in the clients file, layered on top of the site's) holds every `Thresholds` field by its
name (the unit is in the name) and one table per rule topic with `enabled` and `hooks`:

    [rules]
    lab_recent_days = 60
    override_suppression_days = 14

    [rules.albumin-liver-cramps]
    enabled = false

    [rules.baclofen-titration]
    hooks = ["order-sign"]

Everything is validated when the service starts: an unknown key, a value outside its plausible
range or a hook a rule cannot serve stops the start with one line naming the key and the range.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cds_service.cards import RULES, RULES_BY_TOPIC
from cds_service.cards.base import Rule
from cds_service.cards.text import fmt_number
from cds_service.cards.thresholds import DEFAULT_THRESHOLDS, THRESHOLD_NAMES, Thresholds
from cds_service.cdshooks import ALL_HOOKS

# How long an overridden card stays suppressed for that patient unless its facts change (issue 12).
DEFAULT_OVERRIDE_SUPPRESSION_DAYS = 30
SUPPRESSION_KEY = "override_suppression_days"
_SUPPRESSION_RANGE = (0, 365)


class RuleConfigError(ValueError):
    """A `[rules]` table the service cannot use; the message names where, the key and what is wrong."""


class _RuleSwitch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    enabled: bool = True
    hooks: list[str] | None = Field(None, min_length=1)


@dataclass(frozen=True)
class RuleSet:
    """The rules in force for one client (or the site), with their effective hooks and thresholds."""

    rules: tuple[Rule, ...]
    thresholds: Thresholds
    override_suppression_days: int = DEFAULT_OVERRIDE_SUPPRESSION_DAYS
    disabled: tuple[str, ...] = ()  # topics switched off, for the rule table and the guideline page

    def describe(self) -> list[dict[str, Any]]:
        """One row per rule of the registry: enabled, hooks and the thresholds it reads, with units."""
        by_topic = {r.topic: r for r in self.rules}
        rows = []
        for rule in RULES:
            effective = by_topic.get(rule.topic)
            rows.append(
                {
                    "topic": rule.topic,
                    "title": rule.title,
                    "enabled": effective is not None,
                    "hooks": sorted((effective or rule).hooks),
                    "thresholds": {
                        name: f"{fmt_number(getattr(self.thresholds, name))} {threshold_unit(name)}"
                        for name in rule.thresholds
                    },
                }
            )
        return rows


def threshold_unit(name: str) -> str:
    extra = Thresholds.model_fields[name].json_schema_extra
    return str(extra.get("unit", "")) if isinstance(extra, dict) else ""


def _range(name: str) -> str:
    low = high = None
    for meta in Thresholds.model_fields[name].metadata:
        low = getattr(meta, "ge", low)
        high = getattr(meta, "le", high)
    return f"{fmt_number(low)}–{fmt_number(high)} {threshold_unit(name)}".strip()


def _threshold_errors(where: str, error: ValidationError) -> RuleConfigError:
    problems = []
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else "?"
        if name in THRESHOLD_NAMES:
            problems.append(f"{where}{name}: {item['msg'].lower()}; plausible range {_range(name)}")
        else:
            problems.append(f"{where}{name}: {item['msg'].lower()}")
    return RuleConfigError("; ".join(problems))


def _split(table: Mapping[str, Any], where: str) -> tuple[dict[str, Any], dict[str, Any], Any]:
    """(threshold values, per-rule switches, suppression days) of one `[rules]` table."""
    if not isinstance(table, Mapping):
        raise RuleConfigError(f"{where.rstrip('.')}: must be a table")
    thresholds: dict[str, Any] = {}
    switches: dict[str, Any] = {}
    suppression = None
    for key, value in table.items():
        if key in THRESHOLD_NAMES:
            thresholds[key] = value
        elif key in RULES_BY_TOPIC:
            switches[key] = value
        elif key == SUPPRESSION_KEY:
            suppression = value
        else:
            raise RuleConfigError(
                f"{where}{key}: unknown key; expected a threshold (see `cds-service rules`), "
                f"`{SUPPRESSION_KEY}`, or a rule topic ({', '.join(sorted(RULES_BY_TOPIC))})"
            )
    return thresholds, switches, suppression


def _suppression_days(value: Any, where: str) -> int:
    low, high = _SUPPRESSION_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise RuleConfigError(f"{where}{SUPPRESSION_KEY}: must be a whole number of days; plausible range {low}–{high}")
    return value


def _apply_switch(rule: Rule, raw: Any, where: str) -> Rule | None:
    try:
        switch = _RuleSwitch.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise RuleConfigError(f"{where}{rule.topic}.{field}: {first['msg'].lower()}") from None
    if not switch.enabled:
        return None
    if switch.hooks is None:
        return rule
    hooks = frozenset(switch.hooks)
    unknown = hooks - ALL_HOOKS
    if unknown:
        raise RuleConfigError(
            f"{where}{rule.topic}.hooks: unknown hook(s) {sorted(unknown)}; known: {sorted(ALL_HOOKS)}"
        )
    beyond = hooks - rule.hooks
    if beyond:
        raise RuleConfigError(
            f"{where}{rule.topic}.hooks: the rule does not check {sorted(beyond)}; it runs on {sorted(rule.hooks)}"
        )
    return replace(rule, hooks=hooks)


def load_rule_set(*tables: tuple[str, Mapping[str, Any] | None]) -> RuleSet:
    """The rule set from `[rules]` tables, later ones layered over earlier ones.

    Each table comes with where it was read (e.g. "settings file x.toml: [rules]") for messages.
    """
    values: dict[str, Any] = {}
    switches: dict[str, Any] = {}
    suppression = DEFAULT_OVERRIDE_SUPPRESSION_DAYS
    for source, table in tables:
        if table is None:
            continue
        where = f"{source}." if source else ""
        more_values, more_switches, more_suppression = _split(table, where)
        try:
            Thresholds(**{**values, **more_values})
        except ValidationError as error:
            raise _threshold_errors(where, error) from None
        values.update(more_values)
        for topic, raw in more_switches.items():
            # Validate here, where the message can name the table it came from.
            _apply_switch(RULES_BY_TOPIC[topic], raw, where)
            switches[topic] = raw
        if more_suppression is not None:
            suppression = _suppression_days(more_suppression, where)
    thresholds = Thresholds(**values) if values else DEFAULT_THRESHOLDS
    rules: list[Rule] = []
    disabled: list[str] = []
    for rule in RULES:
        effective = _apply_switch(rule, switches[rule.topic], "") if rule.topic in switches else rule
        if effective is None:
            disabled.append(rule.topic)
        else:
            rules.append(effective)
    return RuleSet(tuple(rules), thresholds, suppression, tuple(disabled))


DEFAULT_RULE_SET = RuleSet(RULES, DEFAULT_THRESHOLDS)


def build_rule_sets(
    site_rules: Mapping[str, Any] | None,
    client_rules: Mapping[str, Mapping[str, Any] | None],
    *,
    site_source: str = "settings: [rules]",
) -> tuple[RuleSet, dict[str, RuleSet]]:
    """The site's rule set, and one per client (by `iss`) that has its own `[client.rules]` table."""
    site_table = (site_source, site_rules or None)
    site = load_rule_set(site_table)
    per_client = {
        iss: load_rule_set(site_table, (f"clients file: client {iss!r}: [client.rules]", table))
        for iss, table in client_rules.items()
        if table
    }
    return site, per_client
