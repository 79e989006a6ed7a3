"""`cds-service` command: serve, check the configuration, evaluate one request offline, storage commands."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError
from pydantic_settings import SettingsError

from cds_service.settings import Settings, is_secret_setting, load_settings, masked_setting
from cds_service.storage import cli as storage_cli


class ConfigError(Exception):
    """A setting, the settings file or the clients file the service cannot use: one line for the operator."""


# Settings given by `serve` / `check-config` flags, and how the operator typed them.
_FLAGS = {"host": "--host", "port": "--port", "workers": "--workers", "dev": "--dev", "clients_file": "--clients"}
_DEFAULT_HASH_SECRET = Settings.model_fields["patient_hash_secret"].default


@dataclass
class _Sources:
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


def _config_sources(config: str | None, overrides: dict[str, Any]) -> _Sources:
    """Find and parse the settings file (`--config` or CDS_CONFIG_FILE); a missing or broken one is an error."""
    sources = _Sources(overrides)
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


def _explain_validation_error(exc: ValidationError, sources: _Sources) -> str:
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


def _explain_env_json_error(sources: _Sources) -> str | None:
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


def _load_settings(config: str | None, overrides: dict[str, Any]) -> tuple[Settings, _Sources]:
    """Settings from flags, CDS_* variables and the settings file; every problem becomes one ConfigError line."""
    overrides = {key: value for key, value in overrides.items() if value is not None}
    sources = _config_sources(config, overrides)
    try:
        settings = load_settings(sources.config_file, **overrides)
    except ValidationError as exc:
        raise ConfigError(_explain_validation_error(exc, sources)) from None
    except SettingsError as exc:
        raise ConfigError(_explain_env_json_error(sources) or str(exc)) from None
    return settings, sources


def _check_trust(settings: Settings, sources: _Sources) -> dict[str, Any]:
    """JWT algorithms and the trusted-clients file, checked now: a bad one stops the start with one
    line here rather than a traceback from the app factory (in every worker)."""
    from cds_service.auth.clients import load_clients
    from cds_service.auth.errors import ClientsConfigError
    from cds_service.auth.verifier import check_algorithms

    try:
        check_algorithms(settings.jwt_algorithms)
    except ValueError as exc:
        where = sources.origin("jwt_algorithms")
        raise ConfigError(f"{'jwt_algorithms' if where == 'default' else where}: {exc}") from None
    if settings.clients_file is None:
        return {}
    path = Path(settings.clients_file)
    if not path.is_file():
        problem = "is a directory, not a file" if path.is_dir() else "no such file"
        raise ConfigError(f"{sources.origin('clients_file')}: clients file {path}: {problem}")
    try:
        return load_clients(path, allow_http_loopback=settings.allow_http_fhir_loopback)
    except ClientsConfigError as exc:
        raise ConfigError(str(exc)) from None


def _check_rules(settings: Settings, sources: _Sources, clients: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """The `[rules]` tables of the settings and of each client, validated as the app will load them."""
    from cds_service.ruleset import RuleConfigError, build_rule_sets

    origin = sources.origin("rules")
    site_source = "[rules]" if origin == "default" else f"{origin.removesuffix(': rules')}: [rules]"
    try:
        return build_rule_sets(
            settings.rules,
            {iss: getattr(entry, "rules", None) for iss, entry in clients.items()},
            site_source=site_source,
        )
    except RuleConfigError as exc:
        raise ConfigError(str(exc)) from None


def _print_rules(rule_set: Any, fmt: str) -> None:
    rows = rule_set.describe()
    if fmt == "json":
        print(json.dumps({"override_suppression_days": rule_set.override_suppression_days, "rules": rows}, indent=2))
        return
    print(f"# override_suppression_days = {rule_set.override_suppression_days}")
    for row in rows:
        state = "on " if row["enabled"] else "off"
        print(f"{state} {row['topic']:<26} {', '.join(row['hooks'])}")
        for name, value in row["thresholds"].items():
            print(f"      {name} = {value}")


def _check_database_url(settings: Settings, sources: _Sources) -> None:
    """The URL parses and names a dialect SQLAlchemy has (no connection is made). Never echoes the URL."""
    if not settings.storage_enabled:
        return
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    where = sources.origin("database_url")
    where = "database_url" if where == "default" else where
    try:
        url = make_url(settings.database_url)
    except (ArgumentError, ValueError):
        raise ConfigError(f"{where}: not a database URL (value hidden)") from None
    try:
        url.get_dialect()
    except NoSuchModuleError:
        raise ConfigError(f"{where}: unknown database dialect or driver {url.drivername!r} (value hidden)") from None


def _ignored(sources: _Sources) -> list[str]:
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


def _check_config(settings: Settings, sources: _Sources, clients: dict[str, Any]) -> int:
    """Print the effective configuration, secrets masked, with where each value came from."""
    precedence = ["flags", "CDS_* environment"]
    if sources.config_file is not None:
        precedence.append(str(sources.config_file))
    print(f"# cds-service effective configuration ({' > '.join([*precedence, 'defaults'])})")
    for name in Settings.model_fields:
        value = masked_setting(name, getattr(settings, name))
        origin = sources.origin(name, with_key=False)
        if value is None:
            print(f"# {name} is not set  ({origin})")
            continue
        shown = json.dumps(str(value) if isinstance(value, Path) else value, ensure_ascii=False)
        print(f"{name} = {shown}  # {origin}")

    if settings.clients_file is not None:
        # how each applies a suggestion (issue 20): a wrong "whole-resource" gives buttons that do nothing
        names = ", ".join(
            f"{iss} (suggestions: {getattr(clients[iss], 'suggestions', '?')})" for iss in sorted(clients)
        )
        names = names or "none"
        print(f"# clients file {settings.clients_file}: {len(clients)} trusted client(s): {names}")
    site, per_client = _check_rules(settings, sources, clients)
    enabled = len(site.rules)
    disabled = f"; disabled: {', '.join(site.disabled)}" if site.disabled else ""
    print(f"# rules: {enabled} enabled{disabled}; clients with their own [client.rules]: {len(per_client)}")

    for notice in _ignored(sources):
        print(f"# ignored: {notice}")

    warnings = []
    if settings.dev:
        warnings.append("dev mode: no client authentication, CORS open to any origin, any fhirServer called")
    else:
        if settings.clients_file is None:
            warnings.append("no clients file (CDS_CLIENTS_FILE or --clients): every hook call will be refused")
        if settings.patient_hash_secret == _DEFAULT_HASH_SECRET:
            warnings.append("patient_hash_secret is the built-in default: set CDS_PATIENT_HASH_SECRET")
        if not settings.public_base_url:
            warnings.append("public_base_url is not set: the JWT aud is checked against the Host header")
        if settings.storage_enabled and settings.database_url.startswith("sqlite") and settings.workers > 1:
            warnings.append("SQLite with several workers: use PostgreSQL (CDS_DATABASE_URL)")
    for warning in warnings:
        print(f"# warning: {warning}")
    print("configuration OK")
    return 0


def _serve(args: argparse.Namespace, settings: Settings, ignored: list[str] | None = None) -> int:
    from cds_service.serve import run

    return run(settings, ignored or [])


def _evaluate(args: argparse.Namespace, settings: Settings) -> int:
    """Run one hook request file through the same pipeline as the HTTP route and print the response."""
    import httpx

    from cds_service.auth import DEV_CLIENT
    from cds_service.logs import configure_logging
    from cds_service.protocol.errors import ClientError, operation_outcome
    from cds_service.protocol.hooks import handle_hook_call

    configure_logging(settings.log_level)

    path = Path(args.request)
    try:
        body = path.read_bytes()
    except OSError as exc:
        print(f"cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict) and args.fhir_server:
        data["fhirServer"] = args.fhir_server
        body = orjson.dumps(data)
    hook = data.get("hook") if isinstance(data, dict) else None
    service_id = args.service or f"muscle-spasm-{hook}"

    async def run() -> int:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            try:
                outcome = await handle_hook_call(
                    service_id,
                    body,
                    client=DEV_CLIENT,
                    settings=settings,
                    http=http,
                    base_url=settings.public_base_url or f"http://{settings.host}:{settings.port}",
                )
            except ClientError as exc:
                sys.stdout.write(
                    orjson.dumps(operation_outcome(exc.issues, exc.code), option=orjson.OPT_INDENT_2).decode()
                )
                sys.stdout.write("\n")
                return 1
        sys.stdout.write(orjson.dumps(outcome.body, option=orjson.OPT_INDENT_2).decode() + "\n")
        return 0 if outcome.status == 200 else 1

    return asyncio.run(run())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cds-service", description=__doc__)
    parser.add_argument("--config", help="TOML settings file (same keys as the CDS_* variables)")
    sub = parser.add_subparsers(dest="command", required=True)

    # Options shared by `serve` and `check-config`. --port and --workers are checked by the settings
    # model (not argparse), so a bad value is reported like a bad CDS_PORT: one line naming the flag.
    settings_options = argparse.ArgumentParser(add_help=False)
    settings_options.add_argument(
        "--config",
        dest="sub_config",
        metavar="FILE",
        help="TOML settings file, keys as the CDS_* variables in lower case (or CDS_CONFIG_FILE)",
    )
    settings_options.add_argument("--host", help="address to listen on (CDS_HOST; default 127.0.0.1)")
    settings_options.add_argument("--port", metavar="PORT", help="TCP port to listen on (CDS_PORT; default 8080)")
    settings_options.add_argument(
        "--workers", metavar="N", help="uvicorn worker processes (CDS_WORKERS; default 1; one core each)"
    )
    settings_options.add_argument(
        "--dev",
        action="store_true",
        default=None,
        help="local demo: no client auth (loud warning), open CORS, any fhirServer, SQLite here",
    )
    settings_options.add_argument(
        "--clients",
        dest="clients_file",
        metavar="FILE",
        help="TOML file of trusted CDS clients (CDS_CLIENTS_FILE; see docs/trusting-clients.md)",
    )

    sub.add_parser(
        "serve",
        parents=[settings_options],
        help="run the HTTP service under uvicorn",
        description="Run the HTTP service. Flags win over CDS_* variables, which win over the settings file.",
    )
    sub.add_parser(
        "check-config",
        parents=[settings_options],
        help="load and check the settings and the clients file, print them (secrets masked), exit",
        description="Load the settings (flags, CDS_* variables, settings file) and the clients file as `serve` "
        "would, print the effective configuration with secrets masked, then `configuration OK` (exit 0); "
        "on a problem print one line naming it (exit 2).",
    )

    rules = sub.add_parser(
        "rules",
        parents=[settings_options],
        help="print the effective rule table: enabled, hooks and thresholds in force (with units)",
        description="Print the rules in force after the settings' [rules] table (and a client's [client.rules] "
        "with --client): each rule's hooks and the thresholds it reads, with units.",
    )
    rules.add_argument("--client", metavar="ISS", help="show the table in force for this client (its iss)")
    rules.add_argument("--format", choices=("table", "json"), default="table", help="output format")

    evaluate = sub.add_parser("evaluate", help="run one hook request file offline and print the response")
    evaluate.add_argument("request", help="CDS Hooks request JSON file")
    evaluate.add_argument("--fhir-server", help="FHIR base URL to fetch what the request's prefetch lacks")
    evaluate.add_argument("--service", help="service id (default: muscle-spasm-<hook>)")

    storage_cli.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    config = getattr(args, "sub_config", None) or args.config
    overrides = {key: getattr(args, key, None) for key in ("host", "port", "workers", "dev", "clients_file")}
    if args.command == "evaluate":
        overrides["dev"] = True  # offline: no client to authenticate; --fhir-server is the operator's choice
    try:
        settings, sources = _load_settings(config, overrides)
        clients: dict[str, Any] = {}
        if args.command in ("serve", "check-config", "rules"):
            clients = _check_trust(settings, sources)
            site_rules, client_rules = _check_rules(settings, sources, clients)
        if args.command == "rules" and args.client and args.client not in clients:
            raise ConfigError(f"--client: no client with iss {args.client!r} in the clients file")
        if args.command != "evaluate":
            _check_database_url(settings, sources)
    except ConfigError as exc:
        # One line, exit status 2: what a process supervisor or `kubectl logs` shows.
        message = " ".join(str(exc).split())
        print(f"cds-service: {message}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        return _check_config(settings, sources, clients)
    if args.command == "rules":
        _print_rules(client_rules.get(args.client, site_rules) if args.client else site_rules, args.format)
        return 0
    if args.command == "serve":
        return _serve(args, settings, _ignored(sources))
    if args.command == "evaluate":
        return _evaluate(args, settings)
    return int(storage_cli.run(args, settings) or 0)


if __name__ == "__main__":
    sys.exit(main())
