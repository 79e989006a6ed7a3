"""What `serve`, `check-config` and `rules` check before anything starts (JWT algorithms, the
clients file, the rule tables, the database URL), and the `check-config` and `rules` printouts: a bad
setting stops the start with one line here, not with a traceback from the app factory in every worker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cds_service.cli.sources import ConfigError, Sources, ignored_settings
from cds_service.settings import Settings, masked_setting

_DEFAULT_HASH_SECRET = Settings.model_fields["patient_hash_secret"].default


def check_trust(settings: Settings, sources: Sources) -> dict[str, Any]:
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


def check_rules(settings: Settings, sources: Sources, clients: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
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


def print_rules(rule_set: Any, fmt: str) -> None:
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


def check_database_url(settings: Settings, sources: Sources) -> None:
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


def check_config(settings: Settings, sources: Sources, clients: dict[str, Any]) -> int:
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
    site, per_client = check_rules(settings, sources, clients)
    enabled = len(site.rules)
    disabled = f"; disabled: {', '.join(site.disabled)}" if site.disabled else ""
    print(f"# rules: {enabled} enabled{disabled}; clients with their own [client.rules]: {len(per_client)}")

    for notice in ignored_settings(sources):
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
