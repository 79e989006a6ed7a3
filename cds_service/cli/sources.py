"""Where each setting of a `cds-service` command comes from (flag, CDS_* variable, settings file,
default), and every problem loading them as one line naming that source: what an operator reads in
`kubectl logs` when a start fails."""

from __future__ import annotations

import json
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import SettingsError

from cds_service.settings import Settings, is_secret_setting, load_settings


class ConfigError(Exception):
    """A setting, the settings file or the clients file the service cannot use: one line for the operator."""


# Settings given by `serve` / `check-config` flags, and how the operator typed them.
_FLAGS = {"host": "--host", "port": "--port", "workers": "--workers", "dev": "--dev", "clients_file": "--clients"}


@dataclass
class Sources:
    """Where each setting came from, to name it in messages: a flag, a CDS_* variable, the file, or the default."""

    overrides: dict[str, Any]
    config_file: Path | None = None
    file_values: dict[str, Any] = field(default_factory=dict)

    def env_name(self, name: str) -> str | None:
        # pydantic-settings reads CDS_* names case-insensitively
        wanted = f"CDS_{name}".upper()
        return next((key for key in os.environ if key.upper() == wanted), None)

    def origin(self, name: str, *, with_key: bool = True) -> str:
        if name in self.overrides:
            return _FLAGS.get(name, f"--{name.replace('_', '-')}")
        env = self.env_name(name)
        if env is not None:
            return env
        if name in self.file_values:
            return f"{self.config_file}: {name}" if with_key else str(self.config_file)
        return "default"


def config_sources(config: str | None, overrides: dict[str, Any]) -> Sources:
    """Find and parse the settings file (`--config` or CDS_CONFIG_FILE); a missing or broken one is an error."""
    sources = Sources(overrides)
    if config:
        label = "--config"
    elif os.environ.get("CDS_CONFIG_FILE"):
        config, label = os.environ["CDS_CONFIG_FILE"], "CDS_CONFIG_FILE"
    else:
        return sources
    path = Path(config)
    sources.config_file = path
    if not path.exists():
        raise ConfigError(f"{label}: settings file {path}: no such file")
    if path.is_dir():
        raise ConfigError(f"{label}: settings file {path}: is a directory, not a file")
    try:
        sources.file_values = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{label}: settings file {path}: cannot read it: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return sources


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_PROBLEMS = {
    "int_parsing": "not a valid integer",
    "int_type": "not a valid integer",
    "int_from_float": "not a valid integer",
    "float_parsing": "not a valid number",
    "float_type": "not a valid number",
    "bool_parsing": "not a valid boolean (true or false)",
    "bool_type": "not a valid boolean (true or false)",
    "string_type": "not a string",
    "list_type": 'not a list (e.g. ["https://a.example"])',
    "path_type": "not a file path",
}


def _problem(error: dict[str, Any]) -> str:
    """What is wrong, from a pydantic error's type and context (not from its English message)."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _PROBLEMS:
        return _PROBLEMS[kind]
    if kind == "literal_error":
        return f"must be {ctx.get('expected')}"
    for bound, words in (("ge", "at least"), ("gt", "more than"), ("le", "at most"), ("lt", "less than")):
        if bound in ctx and kind.startswith(("greater", "less")):
            return f"must be {words} {ctx[bound]}"
    if kind == "value_error" and "error" in ctx:
        return str(ctx["error"])
    message = str(error.get("msg", kind))
    return message[:1].lower() + message[1:]


def _explain_validation_error(exc: ValidationError, sources: Sources) -> str:
    problems = []
    for error in exc.errors(include_url=False):
        loc = error.get("loc") or ("?",)
        name = str(loc[0])
        where = sources.origin(name) + "".join(f"[{part}]" for part in loc[1:])
        if where == "default":
            where = name
        value = ""
        if error["type"] != "missing" and "input" in error:
            value = " (value hidden)" if is_secret_setting(name) else f" (got {_shown(error['input'])})"
        problems.append(f"{where}: {_problem(error)}{value}")
    return "; ".join(problems)


def _is_json_setting(name: str) -> bool:
    """List and dict settings, which CDS_* variables give as JSON."""
    annotation = Settings.model_fields[name].annotation
    kinds = {typing.get_origin(annotation), *(typing.get_origin(a) for a in typing.get_args(annotation))}
    return bool(kinds & {list, dict, set, tuple})


def _explain_env_json_error(sources: Sources) -> str | None:
    for name in Settings.model_fields:
        env = sources.env_name(name)
        if env is None or not _is_json_setting(name):
            continue
        try:
            json.loads(os.environ[env])
        except ValueError:
            shown = "(value hidden)" if is_secret_setting(name) else f"(got {_shown(os.environ[env])})"
            return f'{env}: not valid JSON (write a list as ["a", "b"]) {shown}'
    return None


def load_cli_settings(config: str | None, overrides: dict[str, Any]) -> tuple[Settings, Sources]:
    """Settings from flags, CDS_* variables and the settings file; every problem becomes one ConfigError line."""
    overrides = {key: value for key, value in overrides.items() if value is not None}
    sources = config_sources(config, overrides)
    try:
        settings = load_settings(sources.config_file, **overrides)
    except ValidationError as exc:
        raise ConfigError(_explain_validation_error(exc, sources)) from None
    except SettingsError as exc:
        raise ConfigError(_explain_env_json_error(sources) or str(exc)) from None
    return settings, sources


def ignored_settings(sources: Sources) -> list[str]:
    """Settings-file keys and CDS_* variables the settings model ignores (a typo keeps the default). Names only."""
    known = set(Settings.model_fields)
    notices = []
    unknown_keys = sorted(set(sources.file_values) - known)
    if unknown_keys:
        notices.append(f"{sources.config_file}: keys that are not settings: {', '.join(unknown_keys)}")
    unknown_env = sorted(
        key
        for key in os.environ
        if key.upper().startswith("CDS_") and key.upper()[4:].lower() not in known and key.upper() != "CDS_CONFIG_FILE"
    )
    if unknown_env:
        notices.append(f"environment variables that are not settings of this version: {', '.join(unknown_env)}")
    return notices
