"""`GET /analytics`: the alert-fatigue page an informatics team reads.

Server-rendered HTML with charts drawn by matplotlib as SVG and embedded as data URIs, so the
page loads nothing from anywhere (a strict Content-Security-Policy says so). Access: the same
client authentication as the CDS endpoints, or the configured admin token, as a Bearer token or
as the password of HTTP Basic (so a browser can simply prompt for it).
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
import threading
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from string import Template
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.exc import SQLAlchemyError

from cds_service.protocol.deps import authenticated_client, presents_admin_token
from cds_service.protocol.errors import ClientError
from cds_service.storage import StorageUnavailable
from cds_service.storage.db import describe_db_error
from cds_service.storage.report import Report, TopicStats, build_report, default_since

router = APIRouter()

ACCEPTED_COLOR = "#2e7d32"
OVERRIDDEN_COLOR = "#c62828"
NO_FEEDBACK_COLOR = "#9aa5b1"
SHOWN_COLOR = "#1f5fa8"

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"
ANALYTICS_TIMEOUT_SECONDS = 30.0  # a year of figures on a large trail; statements are bounded too
_render_lock = threading.Lock()  # matplotlib's font and text caches are not thread-safe


ALL_CLIENTS = None


async def analytics_access(request: Request) -> str | None:
    """Whose figures the caller may see: every client's (None) with the admin token (Bearer or
    Basic password), else only its own (its issuer) once authenticated as a CDS client; else 401."""
    settings = request.app.state.settings
    admin_token = settings.admin_token
    if admin_token and presents_admin_token(request.headers.get("authorization", ""), admin_token):
        return ALL_CLIENTS
    try:
        client = await authenticated_client(request)
    except HTTPException as exc:
        if admin_token:
            headers = dict(exc.headers or {})
            headers["WWW-Authenticate"] = 'Basic realm="CDS analytics", charset="UTF-8"'
            raise HTTPException(exc.status_code, exc.detail, headers=headers) from None
        raise
    return client.iss


@router.get("/analytics", response_class=HTMLResponse, summary="Alert-fatigue analytics (HTML)")
async def analytics_page(
    request: Request,
    viewer: Annotated[str | None, Depends(analytics_access)],
    since: Annotated[str | None, Query(description="first UTC day, YYYY-MM-DD (default: 30 days ago)")] = None,
) -> HTMLResponse:
    start = _parse_since(since, request.app.state.settings.analytics_max_days)
    recorder = request.app.state.recorder
    engine = getattr(recorder, "engine", None)
    if engine is None:
        raise ClientError(404, [("analytics unavailable: storage is disabled on this service", None)], "not-found")
    try:
        # Through the recorder's gate: bounded threads and time, so a hung database is a 503.
        report = await recorder.gate.call(build_report, engine, start, None, viewer, timeout=ANALYTICS_TIMEOUT_SECONDS)
    except StorageUnavailable:
        raise ClientError(503, [("analytics database temporarily unavailable", None)], "transient") from None
    except SQLAlchemyError as exc:
        import logging

        logging.getLogger("cds_service.storage").error("analytics query failed: %s", describe_db_error(exc))
        raise ClientError(503, [("analytics database temporarily unavailable", None)], "transient") from None
    page = await asyncio.to_thread(render_page, report)
    return HTMLResponse(
        page,
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


def _parse_since(value: str | None, max_days: int) -> datetime:
    """The first day of the period; a period longer than `max_days` is refused before any query
    (one request for `0001-01-01` used to draw 740,000 days into 316 MB of HTML)."""
    if not value:
        return default_since()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ClientError(400, [("since: expected a date as YYYY-MM-DD", "since")]) from None
    if (datetime.now(UTC).date() - day).days > max_days:
        raise ClientError(400, [(f"since: the period may cover at most {max_days} days", "since")])
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# ---------------------------------------------------------------------------- rendering


def render_page(report: Report) -> str:
    template = Template(resources.files("cds_service.web").joinpath("analytics.html").read_text("utf-8"))
    shown = sum(t.shown for t in report.topics)
    accepted = sum(t.accepted for t in report.topics)
    overridden = sum(t.overridden for t in report.topics)
    with _render_lock:
        chart_topics = topic_chart_svg(report.by_topic())
        chart_daily = daily_chart_svg(report)
    calls = {s.service_id: s for s in report.services}
    service_rows = []
    for row in report.by_service():
        call = calls.get(row.service_id)
        outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(call.by_outcome.items())) if call else ""
        service_rows.append(
            "<tr>"
            f"<td>{_e(row.service_id)}</td><td class=num>{call.calls if call else 0}</td><td>{_e(outcomes)}</td>"
            f"<td class=num>{f'{call.mean_latency_ms} ms' if call else ''}</td>"
            f"<td class=num>{row.shown}</td><td class=num>{row.accepted}</td><td class=num>{row.overridden}</td>"
            f"<td>{_reasons_html(row)}</td></tr>"
        )
    topic_rows = [
        "<tr>"
        f"<td>{_e(t.service_id)}</td><td>{_e(t.topic)}</td><td class=num>{t.shown}</td>"
        f"<td class=num>{t.accepted}</td><td class=num>{t.applied}</td><td class=num>{t.not_applied}</td>"
        f"<td class=num>{t.overridden}</td><td class=num>{t.no_feedback}</td>"
        f"<td class=num>{100 * t.override_rate:.0f}%</td><td class=num>{t.suppressed}</td>"
        f"<td class=num>{t.not_repeated}</td>"
        f"<td>{_reasons_html(t)}</td></tr>"
        for t in report.topics
    ]
    return template.substitute(
        since=_e(report.since.date().isoformat()),
        generated_at=_e(report.generated_at.strftime("%Y-%m-%d %H:%M UTC")),
        total_shown=shown,
        total_accepted=accepted,
        total_overridden=overridden,
        override_rate=f"{100 * overridden / shown:.0f}%" if shown else "-",
        empty_note="" if shown else '<p class="empty">No cards were shown in this period.</p>',
        chart_topics=base64.b64encode(chart_topics.encode()).decode(),
        chart_daily=base64.b64encode(chart_daily.encode()).decode(),
        topic_rows="\n".join(topic_rows) or '<tr><td colspan="12">No cards shown.</td></tr>',
        service_rows="\n".join(service_rows) or '<tr><td colspan="8">No cards shown.</td></tr>',
    )


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _reasons_html(stats: TopicStats) -> str:
    return "<br>".join(f"{_e(r.display)} ({r.count})" for r in stats.top_reasons) or "-"


def _svg(figure) -> str:  # type: ignore[no-untyped-def]
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    return buffer.getvalue()


def topic_chart_svg(rows: list[TopicStats]) -> str:
    """Horizontal stacked bars: accepted / overridden / no feedback per topic code."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    rows = rows[:20]
    height = max(2.2, 0.45 * len(rows) + 1.2)
    figure = Figure(figsize=(9, height), dpi=100)
    axes = figure.subplots()
    if not rows:
        axes.text(0.5, 0.5, "No cards shown in this period", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return _svg(figure)
    labels = [r.topic for r in reversed(rows)]
    accepted = [r.accepted for r in reversed(rows)]
    overridden = [r.overridden for r in reversed(rows)]
    silent = [r.no_feedback for r in reversed(rows)]
    axes.barh(labels, accepted, color=ACCEPTED_COLOR, label="accepted")
    axes.barh(labels, overridden, left=accepted, color=OVERRIDDEN_COLOR, label="overridden")
    axes.barh(
        labels,
        silent,
        left=[a + o for a, o in zip(accepted, overridden, strict=True)],
        color=NO_FEEDBACK_COLOR,
        label="no feedback",
    )
    axes.set_xlabel("cards shown")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def daily_chart_svg(report: Report) -> str:
    """Lines per UTC day: cards shown, accepted, overridden (all services and topics)."""
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    totals: dict[date, list[int]] = {d.day: [d.shown, d.accepted, d.overridden] for d in report.totals_by_day}
    figure = Figure(figsize=(9, 3.2), dpi=100)
    axes = figure.subplots()
    if not totals:
        axes.text(0.5, 0.5, "No cards shown in this period", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return _svg(figure)
    # Every day of the period, zeros included: a quiet day is information too.
    first, last = min(report.since.date(), *totals), max(report.generated_at.date(), *totals)
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    for day in days:
        totals.setdefault(day, [0, 0, 0])
    axes.plot(days, [totals[d][0] for d in days], marker=".", color=SHOWN_COLOR, label="shown")
    axes.plot(days, [totals[d][1] for d in days], marker=".", color=ACCEPTED_COLOR, label="accepted")
    axes.plot(days, [totals[d][2] for d in days], marker=".", color=OVERRIDDEN_COLOR, label="overridden")
    axes.set_ylabel("cards per day")
    axes.set_ylim(bottom=0)
    axes.set_xlim(days[0], days[-1])
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
    axes.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3, frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    figure.autofmt_xdate()
    return _svg(figure)
