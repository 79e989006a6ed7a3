"""`cds-service evaluate`: one hook request file through the HTTP route's pipeline, offline."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import orjson

from cds_service.settings import Settings


def evaluate(args: argparse.Namespace, settings: Settings) -> int:
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
