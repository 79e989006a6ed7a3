"""`cds-service` command: serve, check the configuration, evaluate one request offline, storage commands."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cds_service.cli.checks import check_config, check_database_url, check_rules, check_trust, print_rules
from cds_service.cli.evaluate import evaluate
from cds_service.cli.sources import ConfigError, ignored_settings, load_cli_settings
from cds_service.settings import Settings
from cds_service.storage import cli as storage_cli

__all__ = ["ConfigError", "build_parser", "main"]


def _serve(args: argparse.Namespace, settings: Settings, ignored: list[str] | None = None) -> int:
    from cds_service.serve import run

    return run(settings, ignored or [])


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
        settings, sources = load_cli_settings(config, overrides)
        clients: dict[str, Any] = {}
        if args.command in ("serve", "check-config", "rules"):
            clients = check_trust(settings, sources)
            site_rules, client_rules = check_rules(settings, sources, clients)
        if args.command == "rules" and args.client and args.client not in clients:
            raise ConfigError(f"--client: no client with iss {args.client!r} in the clients file")
        if args.command != "evaluate":
            check_database_url(settings, sources)
    except ConfigError as exc:
        # One line, exit status 2: what a process supervisor or `kubectl logs` shows.
        message = " ".join(str(exc).split())
        print(f"cds-service: {message}", file=sys.stderr)
        return 2
    if args.command == "check-config":
        return check_config(settings, sources, clients)
    if args.command == "rules":
        print_rules(client_rules.get(args.client, site_rules) if args.client else site_rules, args.format)
        return 0
    if args.command == "serve":
        return _serve(args, settings, ignored_settings(sources))
    if args.command == "evaluate":
        return evaluate(args, settings)
    return int(storage_cli.run(args, settings) or 0)
