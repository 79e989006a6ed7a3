"""`cds-service report` and `cds-service purge`: the storage side of the command line."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cds_service.settings import Settings

FORMATS = ("table", "json", "csv")


def _since(value: str) -> datetime:
    """A date (YYYY-MM-DD, start of that UTC day) or an ISO 8601 date-time."""
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD) or ISO 8601 date-time: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = subparsers.add_parser(
        "report",
        help="alert-fatigue report: cards shown, accepted, overridden and why, per topic and service",
    )
    report.add_argument("--since", type=_since, help="first day to include (YYYY-MM-DD, UTC); default 30 days ago")
    report.add_argument("--format", choices=FORMATS, default="table", help="output format (default: table)")
    purge = subparsers.add_parser("purge", help="delete audit and feedback rows older than the retention period")
    purge.add_argument(
        "--retention-days", type=int, help="override CDS_AUDIT_RETENTION_DAYS for this run (must be >= 1)"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    from cds_service.storage.db import describe_db_error, make_engine, run_migrations

    # An operator's command, not a request: its statements may run as long as they need.
    engine = make_engine(settings.database_url, statement_timeout_ms=0, pool_timeout=30.0)
    try:
        try:
            run_migrations(engine)
        except Exception as exc:
            print(f"database unavailable: {describe_db_error(exc)}", file=sys.stderr)
            return 2
        if args.command == "report":
            return _report(args, engine)
        if args.command == "purge":
            return _purge(args, settings, engine)
        print(f"unknown storage command {args.command!r}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()


def _report(args: argparse.Namespace, engine) -> int:  # type: ignore[no-untyped-def]
    from cds_service.storage.report import build_report, default_since, format_csv, format_json, format_table

    report = build_report(engine, args.since or default_since())
    formatter = {"table": format_table, "json": format_json, "csv": format_csv}[args.format]
    sys.stdout.write(formatter(report))
    if args.format == "json":
        sys.stdout.write("\n")
    return 0


def _purge(args: argparse.Namespace, settings: Settings, engine) -> int:  # type: ignore[no-untyped-def]
    from cds_service.storage.recorder import purge_rows

    days = args.retention_days if args.retention_days is not None else settings.audit_retention_days
    if days < 1:
        print("retention must be at least 1 day", file=sys.stderr)
        return 2
    counts = purge_rows(engine, days)
    print(
        f"purged rows older than {days} days: {counts['hook_calls']} hook calls, {counts['cards']} cards, "
        f"{counts['feedback']} feedback items; {counts['expired_jtis']} expired token ids"
    )
    return 0
