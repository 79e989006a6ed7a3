"""Three instances behind HAProxy, sharing PostgreSQL and Redis (tests/support/fleet.py):

- calls spread across the instances, and each answered call has exactly one audit row;
- a token accepted by one instance is refused by another (the Redis replay store);
- one instance killed (SIGKILL) mid-load: no call fails, because every failure it causes is one
  the balancer retries on another instance (connection refused or closed without an answer);
- an override sent to one instance suppresses the card on the others.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from tests.support.auth import app_token
from tests.support.fhir import draft, hook_request
from tests.support.fleet import Fleet, fleet, haproxy_available
from tests.support.metrics import value
from tests.support.processes import SIGN_PATH, Load, sign_body
from tests.support.storage import PG_ADMIN_URL

pytestmark = [pytest.mark.ops, pytest.mark.postgres]


def _token() -> dict[str, str]:
    return {"Authorization": f"Bearer {app_token(SIGN_PATH)}"}


def _audit_rows(database_url: str) -> Counter[str]:
    schema = database_url.rsplit("search_path%3D", 1)[1]
    with psycopg.connect(PG_ADMIN_URL) as conn:
        rows = conn.execute(f'SELECT hook_instance FROM "{schema}".hook_call').fetchall()
    return Counter(r[0] for r in rows)


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    reason = haproxy_available()
    if reason:
        pytest.skip(reason)
    with fleet(tmp_path_factory.mktemp("fleet"), 3) as running:
        yield running


def test_calls_spread_across_instances_and_each_is_audited_once(three: Fleet) -> None:
    served_by: dict[str, str] = {}
    with httpx.Client(base_url=three.balancer, timeout=30) as client:
        for _ in range(30):
            body = sign_body()
            response = client.post(SIGN_PATH, content=body, headers={"Content-Type": "application/json", **_token()})
            assert response.status_code == 200, response.text
            served_by[httpx.Response(200, content=body).json()["hookInstance"]] = response.headers["x-served-by"]
    spread = Counter(served_by.values())
    assert set(spread) == {"a", "b", "c"} and min(spread.values()) >= 5, spread
    for name in three.instances:
        calls = value(three.metrics(name), "cds_hook_calls_total", status="200")
        assert calls >= spread[name], (name, calls, spread)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rows = _audit_rows(three.database_url)
        if all(rows[h] >= 1 for h in served_by):
            break
        time.sleep(0.2)
    assert all(rows[h] == 1 for h in served_by), {h: rows[h] for h in served_by if rows[h] != 1}


def test_a_token_accepted_by_one_instance_is_refused_by_another(three: Fleet) -> None:
    token = _token()
    headers = {"Content-Type": "application/json", **token}
    first = httpx.post(three.instances["a"].base + SIGN_PATH, content=sign_body(), headers=headers, timeout=30)
    replayed = httpx.post(three.instances["b"].base + SIGN_PATH, content=sign_body(), headers=headers, timeout=30)
    assert first.status_code == 200, first.text
    assert replayed.status_code == 401
    assert value(three.metrics("b"), "cds_jwt_rejections_total", reason="token_replayed") >= 1
    # Through the balancer too: the replay goes to the next instance in the rotation, and is refused.
    again = httpx.post(three.balancer + SIGN_PATH, content=sign_body(), headers=headers, timeout=30)
    assert again.status_code == 401


def test_an_override_suppresses_the_card_on_every_instance(three: Fleet) -> None:
    """An override with a reason, sent as feedback to instance a, keeps that card from the same
    patient on b and c (card_suppression in the shared PostgreSQL, read into each instance's snapshot
    every 0.5 s here), counted as suppressed there."""
    from datetime import UTC, datetime

    from tests.support.fhir import potassium
    from tests.support.http import days_ago

    def order() -> bytes:
        draft_ = draft("197391", "Baclofen 10 MG Oral Tablet", dose=5, frequency=3, authored_on=days_ago(0), pid="pk")
        request = hook_request("order-sign", drafts=[draft_], potassium_results=[potassium(2.8, days_ago(1), pid="pk")],
                               pid="pk")  # fmt: skip
        return json.dumps(request).encode()

    def call(base: str) -> list[dict[str, object]]:
        response = httpx.post(base + SIGN_PATH, content=order(), headers={"Content-Type": "application/json",
                              **_token()}, timeout=30)  # fmt: skip
        assert response.status_code == 200, response.text
        return [c for c in response.json()["cards"] if c["source"]["topic"]["code"] == "electrolyte-potassium"]  # type: ignore[index]

    (card,) = call(three.instances["a"].base)
    reason = card["overrideReasons"][0]  # type: ignore[index]
    feedback = SIGN_PATH + "/feedback"
    item = {"card": card["uuid"], "outcome": "overridden", "outcomeTimestamp": datetime.now(UTC).isoformat(),
            "overrideReason": {"reason": {"code": reason["code"], "system": reason["system"]}}}  # fmt: skip
    stored = httpx.post(three.instances["a"].base + feedback, json={"feedback": [item]},
                        headers={"Authorization": f"Bearer {app_token(feedback)}"}, timeout=30)  # fmt: skip
    assert stored.status_code == 200, stored.text

    def suppressed() -> float:
        return sum(value(three.metrics(n), "cds_cards_suppressed_total", topic="electrolyte-potassium") for n in "abc")

    time.sleep(1.5)  # three refresh periods of the other instances' snapshots
    before = suppressed()
    assert call(three.instances["b"].base) == []
    assert call(three.instances["c"].base) == []
    assert call(three.balancer) == []
    assert suppressed() == before + 3


def _replays(fleet_: Fleet, names: tuple[str, ...]) -> float:
    return sum(value(fleet_.metrics(n), "cds_jwt_rejections_total", reason="token_replayed") for n in names)


def test_an_instance_killed_mid_load_costs_no_call_the_balancer_could_retry(three: Fleet) -> None:
    """SIGKILL to instance c while 4 clients call through HAProxy. Calls that c had not begun to
    answer are retried on a or b (connection refused, or closed with no answer); nothing fails for
    them. Two kinds of call cannot be saved, and are told apart here:
    - c had begun sending its answer (HAProxy logs `SD`): no balancer can replay half an answer;
    - c had accepted the call's JWT before dying: the balancer's retry presents the same token to
      a or b, which refuse it as a replay (401, `token_replayed`): replay protection working as
      specified, at the cost of that one call (see docs/operations.md)."""
    replays_before = _replays(three, ("a", "b"))
    log = three.work / "haproxy.log"
    log_before = log.read_text().count(" SD-- ")
    load = Load(three.balancer, threads=4, token_source=_token).start()
    time.sleep(1.5)
    victim = three.instances["c"]
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    time.sleep(2.5)
    load.stop()
    statuses = load.statuses()
    assert statuses.get(200, 0) > 20, statuses
    begun = log.read_text().count(" SD-- ") - log_before
    broken = sum(n for outcome, n in statuses.items() if isinstance(outcome, str))
    refused_as_replay = statuses.get(401, 0)
    assert set(statuses) <= {200, 401, "RemoteProtocolError", "ReadError"}, statuses
    assert broken <= begun, f"{broken} calls broken but only {begun} answers begun by the killed instance: {statuses}"
    assert refused_as_replay <= _replays(three, ("a", "b")) - replays_before, statuses
    assert refused_as_replay + broken <= 4, f"more failures than calls in flight on the killed instance: {statuses}"

    # Every answer of a survivor is audited exactly once. Rows still queued in the killed process
    # are gone with it (SIGKILL: no drain, no flush; SIGTERM drains, see test_graceful_shutdown.py).
    answered = load.served()
    survivors = [h for h in answered if load.served_by.get(h) in ("a", "b")]
    assert survivors and {load.served_by[h] for h in answered} <= {"a", "b", "c"}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        rows = _audit_rows(three.database_url)
        if all(rows[h] >= 1 for h in survivors):
            break
        time.sleep(0.2)
    assert all(rows[h] == 1 for h in survivors), {h: rows[h] for h in survivors if rows[h] != 1}
    assert max(rows[h] for h in answered) == 1, "an audit row written twice"
