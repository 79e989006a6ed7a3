"""`cds-service` command: serve, evaluate one request offline, and storage commands."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import orjson

from cds_service.settings import Settings, load_settings
from cds_service.storage import cli as storage_cli


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from cds_service.logs import configure_logging

    configure_logging(settings.log_level)
    if settings.workers > 1:
        # Workers build the app from the factory and read settings from the environment: hand
        # them every resolved setting (file, environment and flags already merged here).
        import json
        import os

        for key, value in settings.model_dump(mode="json", exclude_none=True).items():
            os.environ[f"CDS_{key.upper()}"] = json.dumps(value) if isinstance(value, list | dict) else str(value)
        uvicorn.run(
            "cds_service.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_config=None,
            access_log=False,
        )
        return 0
    from cds_service.app import create_app

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)
    return 0


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

    serve = sub.add_parser("serve", help="run the HTTP service under uvicorn")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument(
        "--dev",
        action="store_true",
        default=None,
        help="local demo: no client auth (loud warning), open CORS, any fhirServer, SQLite here",
    )
    serve.add_argument("--clients", dest="clients_file", help="TOML file of trusted CDS clients")
    serve.add_argument("--config", dest="sub_config", help=argparse.SUPPRESS)

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
    settings = load_settings(config, **overrides)
    if args.command == "serve":
        return _serve(args, settings)
    if args.command == "evaluate":
        return _evaluate(args, settings)
    return int(storage_cli.run(args, settings) or 0)


if __name__ == "__main__":
    sys.exit(main())
