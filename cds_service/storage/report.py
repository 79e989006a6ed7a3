"""Alert-fatigue figures from the audit trail: per topic and service, cards shown, accepted,
overridden, the reasons clinicians give, and how that moves day by day.

A card counts once per decision (issue 20): the same card about the same order for the same patient
in one encounter (or hour) is one card, however many order-select calls showed it while the form was
filled; cards without a decision key (older rows, engine cards) count by uuid. A decision's outcome is
the *latest* a client reported for any of its cards: a clinician may dismiss a card and later accept
its suggestion. Cards without feedback were ignored (the spec sends nothing for them).
`override_rate` = overridden / shown. `suppressed` counts the cards held back because a clinician had
overridden the same card for the same patient; `not_repeated` those not shown again at signing for
an unchanged order (neither counted as shown). `applied` and `not_applied` split the accepted
suggestions by what the next calls saw of the order (`follow_through`).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, and_, case, func, select, text

from cds_service.storage import schema
from cds_service.storage.follow_through import follow_through

NO_REASON = "(no reason given)"
TOP_REASONS = 3
REPORT_STATEMENT_TIMEOUT_MS = 30_000


@dataclass
class ReasonCount:
    code: str | None
    display: str
    count: int


@dataclass
class TopicStats:
    service_id: str
    topic: str
    shown: int = 0
    accepted: int = 0
    overridden: int = 0
    suppressed: int = 0  # held back by an earlier override; not counted in `shown`
    not_repeated: int = 0  # held back at signing: shown at order-select for the unchanged order
    applied: int = 0  # accepted suggestions the next calls saw applied to the order
    not_applied: int = 0  # accepted suggestions whose order the next calls saw unchanged
    top_reasons: list[ReasonCount] = field(default_factory=list)

    @property
    def no_feedback(self) -> int:
        return self.shown - self.accepted - self.overridden

    @property
    def override_rate(self) -> float:
        return self.overridden / self.shown if self.shown else 0.0

    def as_dict(self) -> dict[str, object]:
        data = asdict(self)
        data["no_feedback"] = self.no_feedback
        data["override_rate"] = round(self.override_rate, 4)
        return data


@dataclass
class DailyCount:
    day: date
    service_id: str
    topic: str
    shown: int = 0
    accepted: int = 0
    overridden: int = 0


@dataclass
class ServiceCalls:
    service_id: str
    calls: int = 0
    by_outcome: dict[str, int] = field(default_factory=dict)
    mean_latency_ms: float = 0.0


@dataclass
class Report:
    since: datetime
    generated_at: datetime
    topics: list[TopicStats]
    daily: list[DailyCount]
    services: list[ServiceCalls]
    totals_by_day: list[DailyCount] = field(default_factory=list)  # summed by the database

    def by_topic(self) -> list[TopicStats]:
        """The same figures summed over services (one row per topic code)."""
        return _roll_up(self.topics, key=lambda t: ("(all services)", t.topic))

    def by_service(self) -> list[TopicStats]:
        """The same figures summed over topics (one row per service)."""
        return _roll_up(self.topics, key=lambda t: (t.service_id, "(all topics)"))

    def as_dict(self) -> dict[str, object]:
        return {
            "since": self.since.isoformat(),
            "generated_at": self.generated_at.isoformat(),
            "topics": [t.as_dict() for t in self.topics],
            "by_service": [t.as_dict() for t in self.by_service()],
            "daily": [{**asdict(d), "day": d.day.isoformat()} for d in self.daily],
            "hook_calls": [asdict(s) for s in self.services],
        }


def build_report(engine: Engine, since: datetime, now: datetime | None = None, client: str | None = None) -> Report:
    """Figures for cards shown at or after `since` (UTC) and the feedback given on them.

    `client` (an issuer) limits every figure to the cards shown to that client and the feedback
    it sent; None means all clients (the admin's view and the command line). Every sum is a
    GROUP BY in the database: Python only reshapes at most a row per day, topic and reason.
    """
    since = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    cs, fb, hc = schema.card_shown, schema.feedback, schema.hook_call

    decision = func.coalesce(cs.c.decision_key, cs.c.card_uuid)
    shown_rows = select(cs.c.service_id, cs.c.card_uuid, decision.label("decision"), cs.c.topic, cs.c.shown_at).where(
        cs.c.shown_at >= since, cs.c.suppressed.is_(False), cs.c.not_repeated.is_(False)
    )
    if client is not None:
        shown_rows = shown_rows.join(hc, hc.c.id == cs.c.hook_call_id).where(hc.c.client == client)
    card_rows = shown_rows.cte("card_rows")
    held = select(
        cs.c.service_id,
        cs.c.topic,
        func.sum(case((cs.c.suppressed.is_(True), 1), else_=0)).label("n"),
        func.sum(case((cs.c.not_repeated.is_(True), 1), else_=0)).label("repeats"),
    ).where(cs.c.shown_at >= since, (cs.c.suppressed.is_(True)) | (cs.c.not_repeated.is_(True)))
    if client is not None:
        held = held.join(hc, hc.c.id == cs.c.hook_call_id).where(hc.c.client == client)
    held = held.group_by(cs.c.service_id, cs.c.topic)
    cards = (
        select(
            card_rows.c.service_id,
            card_rows.c.decision.label("card_uuid"),  # one row per decision
            func.max(card_rows.c.topic).label("topic"),
            func.min(card_rows.c.shown_at).label("shown_at"),
        )
        .group_by(card_rows.c.service_id, card_rows.c.decision)
        .cte("cards")
    )
    if client is not None:
        fb = select(fb).where(fb.c.client == client).subquery("fb")  # type: ignore[assignment]
    # feedback is about a card (uuid); it counts for the card's decision
    fb_decided = (
        select(fb, card_rows.c.decision)
        .join(card_rows, and_(card_rows.c.service_id == fb.c.service_id, card_rows.c.card_uuid == fb.c.card_uuid))
        .subquery("fb_decided")
    )
    ranked = select(
        fb_decided.c.service_id,
        fb_decided.c.decision.label("card_uuid"),
        fb_decided.c.outcome,
        fb_decided.c.reason_code,
        fb_decided.c.reason_display,
        func.row_number()
        .over(
            partition_by=(fb_decided.c.service_id, fb_decided.c.decision),
            order_by=(fb_decided.c.outcome_at.desc(), fb_decided.c.id.desc()),
        )
        .label("rank"),
    ).cte("ranked")
    latest = select(ranked).where(ranked.c.rank == 1).cte("latest")
    day = func.date(cards.c.shown_at).label("day")
    grouped = (
        select(
            cards.c.service_id,
            cards.c.topic,
            day,
            latest.c.outcome,
            latest.c.reason_code,
            latest.c.reason_display,
            func.count().label("n"),
        )
        .select_from(
            cards.outerjoin(
                latest,
                and_(latest.c.service_id == cards.c.service_id, latest.c.card_uuid == cards.c.card_uuid),
            )
        )
        .group_by(
            cards.c.service_id,
            cards.c.topic,
            day,
            latest.c.outcome,
            latest.c.reason_code,
            latest.c.reason_display,
        )
    )
    calls = select(
        hc.c.service_id, hc.c.outcome, func.count().label("n"), func.avg(hc.c.latency_ms).label("mean")
    ).where(hc.c.received_at >= since)
    if client is not None:
        calls = calls.where(hc.c.client == client)
    calls = calls.group_by(hc.c.service_id, hc.c.outcome)
    joined = cards.outerjoin(
        latest, and_(latest.c.service_id == cards.c.service_id, latest.c.card_uuid == cards.c.card_uuid)
    )
    one_day = func.date(cards.c.shown_at)
    per_day = (
        select(
            one_day.label("day"),
            func.count().label("shown"),
            func.sum(case((latest.c.outcome == "accepted", 1), else_=0)).label("accepted"),
            func.sum(case((latest.c.outcome == "overridden", 1), else_=0)).label("overridden"),
        )
        .select_from(joined)
        .group_by(one_day)
        .order_by(one_day)
    )
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":  # a year of figures may take longer than a request's statement
            conn.execute(text(f"SET LOCAL statement_timeout = {REPORT_STATEMENT_TIMEOUT_MS}"))
        grouped_rows = conn.execute(grouped).all()
        call_rows = conn.execute(calls).all()
        day_rows = conn.execute(per_day).all()
        held_rows = conn.execute(held).all()
        followed = follow_through(conn, since, client)

    topics: dict[tuple[str, str], TopicStats] = {}
    daily: dict[tuple[date, str, str], DailyCount] = {}
    reasons: dict[tuple[str, str], Counter[tuple[str | None, str]]] = defaultdict(Counter)
    for service_id, topic, day_value, outcome, reason_code, reason_display, n in grouped_rows:
        topic = topic or "(no topic)"
        key = (service_id, topic)
        stats = topics.setdefault(key, TopicStats(service_id, topic))
        bucket = daily.setdefault((_as_date(day_value), service_id, topic), DailyCount(_as_date(day_value), *key))
        stats.shown += n
        bucket.shown += n
        if outcome == "accepted":
            stats.accepted += n
            bucket.accepted += n
        elif outcome == "overridden":
            stats.overridden += n
            bucket.overridden += n
            label = reason_display or reason_code or NO_REASON
            reasons[key][(reason_code, label)] += n
    for key, counter in reasons.items():
        ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0][1]))
        topics[key].top_reasons = [ReasonCount(code, label, n) for (code, label), n in ordered[:TOP_REASONS]]
    for service_id, topic, n, repeats in held_rows:
        topic = topic or "(no topic)"
        stats = topics.setdefault((service_id, topic), TopicStats(service_id, topic))
        stats.suppressed += int(n or 0)
        stats.not_repeated += int(repeats or 0)
    for (service_id, topic), result in followed.items():
        stats = topics.setdefault((service_id, topic), TopicStats(service_id, topic))
        stats.applied += result.applied
        stats.not_applied += result.not_applied

    services: dict[str, ServiceCalls] = {}
    latency_sum: dict[str, float] = defaultdict(float)
    for service_id, outcome, n, mean in call_rows:
        entry = services.setdefault(service_id, ServiceCalls(service_id))
        entry.calls += n
        entry.by_outcome[outcome] = n
        latency_sum[service_id] += float(mean or 0.0) * n
    for service_id, entry in services.items():
        entry.mean_latency_ms = round(latency_sum[service_id] / entry.calls, 1) if entry.calls else 0.0

    return Report(
        since=since,
        generated_at=now,
        topics=sorted(topics.values(), key=lambda t: (-t.shown, t.service_id, t.topic)),
        daily=sorted(daily.values(), key=lambda d: (d.day, d.service_id, d.topic)),
        services=sorted(services.values(), key=lambda s: s.service_id),
        totals_by_day=[
            DailyCount(_as_date(day_value), "(all services)", "(all topics)", int(n), int(a or 0), int(o or 0))
            for day_value, n, a, o in day_rows
        ],
    )


def default_since(days: int = 30, now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)


def _as_date(value: object) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _roll_up(rows: list[TopicStats], key) -> list[TopicStats]:  # type: ignore[no-untyped-def]
    totals: dict[tuple[str, str], TopicStats] = {}
    reason_totals: dict[tuple[str, str], Counter[tuple[str | None, str]]] = defaultdict(Counter)
    for row in rows:
        k = key(row)
        total = totals.setdefault(k, TopicStats(*k))
        total.shown += row.shown
        total.accepted += row.accepted
        total.overridden += row.overridden
        total.suppressed += row.suppressed
        total.not_repeated += row.not_repeated
        total.applied += row.applied
        total.not_applied += row.not_applied
        for reason in row.top_reasons:
            reason_totals[k][(reason.code, reason.display)] += reason.count
    for k, counter in reason_totals.items():
        ordered = sorted(counter.items(), key=lambda item: (-item[1], item[0][1]))
        totals[k].top_reasons = [ReasonCount(code, label, n) for (code, label), n in ordered[:TOP_REASONS]]
    return sorted(totals.values(), key=lambda t: (-t.shown, t.service_id, t.topic))


# ---------------------------------------------------------------------------- output formats

CSV_COLUMNS = (
    "service_id",
    "topic",
    "shown",
    "accepted",
    "overridden",
    "no_feedback",
    "override_rate",
    "suppressed",
    "not_repeated",
    "applied",
    "not_applied",
    "top_override_reasons",
)


def _reasons_text(stats: TopicStats) -> str:
    return "; ".join(f"{r.display} ({r.count})" for r in stats.top_reasons)


def format_json(report: Report) -> str:
    return json.dumps(report.as_dict(), indent=2, sort_keys=False)


def format_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for t in report.topics:
        writer.writerow(
            [
                t.service_id,
                t.topic,
                t.shown,
                t.accepted,
                t.overridden,
                t.no_feedback,
                f"{t.override_rate:.4f}",
                t.suppressed,
                t.not_repeated,
                t.applied,
                t.not_applied,
                _reasons_text(t),
            ]
        )
    return out.getvalue()


def format_table(report: Report) -> str:
    header = ("service", "topic", "shown", "accepted", "applied", "overridden", "override %", "suppressed",
              "not repeated", "top override reasons")  # fmt: skip
    rows = [
        (
            t.service_id,
            t.topic,
            str(t.shown),
            str(t.accepted),
            f"{t.applied} (not {t.not_applied})",
            str(t.overridden),
            f"{100 * t.override_rate:.0f}%",
            str(t.suppressed),
            str(t.not_repeated),
            _reasons_text(t) or "-",
        )
        for t in [*report.topics, *report.by_service()]
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    lines = [f"Cards shown since {report.since.date().isoformat()} (UTC), feedback on them:", ""]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    lines.append("  ".join("-" * w for w in widths))
    if not rows:
        lines.append("(no cards shown in this period)")
    lines.extend("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in rows)
    if report.services:
        lines += ["", "Hook calls:"]
        for s in report.services:
            outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(s.by_outcome.items()))
            lines.append(f"  {s.service_id}: {s.calls} calls ({outcomes}); mean latency {s.mean_latency_ms} ms")
    return "\n".join(lines) + "\n"
