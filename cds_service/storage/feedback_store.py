"""Feedback (CDS Hooks `/feedback`): each entry checked against the cards the audit trail says were
shown to that client, stored all or nothing, a re-sent item once; an override with a reason holds
that card back for the patient (`overrides`). A mixin of `SqlRecorder`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from cds_service.storage import schema
from cds_service.storage.db import describe_db_error, utc
from cds_service.storage.records import FeedbackEntry, FeedbackProblem, FeedbackResult, StorageUnavailable
from cds_service.storage.repeats import accepted_intents
from cds_service.storage.sql_writes import insert_ignoring_duplicates, upsert_suppression

log = logging.getLogger("cds_service.storage")


class FeedbackStore:
    """The feedback half of `SqlRecorder`."""

    async def record_feedback(
        self,
        service_id: str,
        entries: Sequence[FeedbackEntry],
        client: str | None,
        *,
        suppression_days: int = 0,
    ) -> FeedbackResult:
        """Check each entry against the audit trail and store the batch, all or nothing.

        A card overridden with a reason is not shown again to that patient for `suppression_days`
        unless the facts that made it change (its suppression key); critical cards never are.
        Bounded by the gate: a hung database answers StorageUnavailable (503), not a stall."""
        return await self.gate.call(
            self._record_feedback_sync,
            service_id,
            list(entries),
            client,
            suppression_days,
            timeout=self.gate.timeout + 5.0,
        )

    def _record_feedback_sync(
        self, service_id: str, entries: list[FeedbackEntry], client: str | None, suppression_days: int = 0
    ) -> FeedbackResult:
        try:
            self._ensure_schema()
        except Exception as exc:
            raise StorageUnavailable("feedback store unavailable") from exc
        wanted = {e.card_uuid for e in entries}
        try:
            queued = self.pending  # read first: a row committed during the query below is not in its result
            cards = self._cards_shown(service_id, wanted)
            if wanted - cards.keys() and (queued or self.pending):
                # The card may still sit in the audit queue (feedback right after the hook call).
                self.flush(timeout=5.0)
                cards = self._cards_shown(service_id, wanted)
        except SQLAlchemyError as exc:
            log.error("feedback look-up failed: %s", describe_db_error(exc))
            raise StorageUnavailable("feedback store unavailable") from exc

        problems: list[FeedbackProblem] = []
        # shown again at signing, with what was accepted: the suggestion may not have been applied
        accepted_keys: list[tuple[str, tuple[dict[str, object], ...]]] = []
        rows = []
        suppressions: list[dict[str, Any]] = []
        now = datetime.now(UTC)
        for entry in entries:
            card = cards.get(entry.card_uuid)
            if card is not None and card[2] is not None and client is not None and card[2] != client:
                card = None  # another client's card: answered as unknown, so its existence is not revealed
            if card is None:
                problems.append(
                    FeedbackProblem(
                        entry.index,
                        "card",
                        f"card {entry.card_uuid!r} was not issued by service {service_id!r}",
                        not_found=True,
                    )
                )
                continue
            suggestion_uuids, offered_reasons, _, key, indicator, seen_key, intents = card
            if entry.outcome == "accepted" and seen_key:
                accepted_keys.append((seen_key, accepted_intents(intents, " ".join(entry.accepted_suggestions))))
            if (
                entry.outcome == "overridden"
                and entry.reason_code
                and key
                and indicator != "critical"
                and suppression_days > 0
            ):
                until = max(now, utc(entry.outcome_at)) + timedelta(days=suppression_days)
                suppressions.append({"key": key, "client": client, "topic": None, "created_at": now,
                                     "expires_at": until})  # fmt: skip
            for n, suggestion in enumerate(entry.accepted_suggestions):
                if suggestion not in suggestion_uuids:
                    problems.append(
                        FeedbackProblem(
                            entry.index,
                            f"acceptedSuggestions[{n}].id",
                            f"suggestion {suggestion!r} is not one of card {entry.card_uuid!r}'s suggestions",
                        )
                    )
            display = entry.reason_display or offered_reasons.get(entry.reason_code or "")
            rows.append(
                {
                    "service_id": service_id,
                    "card_uuid": entry.card_uuid,
                    "outcome": entry.outcome,
                    "accepted_suggestions": " ".join(entry.accepted_suggestions),
                    "reason_code": entry.reason_code,
                    "reason_system": entry.reason_system,
                    "reason_display": display,
                    "has_comment": entry.has_comment,
                    "outcome_at": utc(entry.outcome_at),
                    "received_at": now,
                    "client": client,
                    "item_digest": entry.identity(),
                }
            )
        if problems:
            return FeedbackResult(stored=0, duplicates=0, problems=tuple(problems))

        stored = 0
        try:
            with self.engine.begin() as conn:
                insert = insert_ignoring_duplicates(conn.dialect.name)
                for row in rows:
                    # RETURNING yields a row only when the item was new (rowcount is unreliable here).
                    stored += len(conn.execute(insert.values(**row).returning(schema.feedback.c.id)).all())
                for suppression in suppressions:
                    conn.execute(upsert_suppression(conn.dialect.name, suppression))
        except SQLAlchemyError as exc:
            log.error("feedback write failed: %s", describe_db_error(exc))
            raise StorageUnavailable("feedback store unavailable") from exc
        for suppression in suppressions:
            self._remember_suppression(suppression["key"], suppression["expires_at"])
        for seen_key, accepted in accepted_keys:
            self.repeats.clear(seen_key, now, accepted)
        return FeedbackResult(stored=stored, duplicates=len(rows) - stored)

    def _cards_shown(
        self, service_id: str, card_uuids: set[str]
    ) -> dict[str, tuple[frozenset[str], dict[str, str], str | None, str | None, str, str | None, str | None]]:
        """Per card: its suggestions, offered reasons, client, suppression key, indicator, repeat key,
        its suggestions' intents (JSON)."""
        if not card_uuids:
            return {}
        query = (
            select(
                schema.card_shown.c.card_uuid,
                schema.card_shown.c.suggestion_uuids,
                schema.card_shown.c.override_reasons,
                schema.hook_call.c.client,
                schema.card_shown.c.suppression_key,
                schema.card_shown.c.indicator,
                schema.card_shown.c.repeat_key,
                schema.card_shown.c.intents,
            )
            .join(schema.hook_call, schema.card_shown.c.hook_call_id == schema.hook_call.c.id)
            .where(
                schema.card_shown.c.service_id == service_id,
                schema.card_shown.c.card_uuid.in_(sorted(card_uuids)),
            )
        )
        found: dict[str, tuple[frozenset[str], dict[str, str], str | None, str | None, str, str | None, str | None]]
        found = {}
        with self.engine.connect() as conn:
            for card_uuid, suggestions, reasons, issued_to, key, indicator, seen, intents in conn.execute(query):
                offered = {code: display for code, display in json.loads(reasons or "[]")}
                uuids = frozenset((suggestions or "").split())
                found[card_uuid] = (uuids, offered, issued_to, key, indicator, seen, intents)
        return found
