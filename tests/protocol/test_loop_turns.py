"""Issue 21, finding 1 at the client: refusals were not instant under load (p99 1.5-2.7 s). A refusal
is written as soon as the event loop reads a call's headers, so it waits for the loop: every admitted
call that was ready used to run its whole CPU step (parse, facts, rules) in the same loop iteration,
and the sockets were polled only after all of them. Now a typical call's CPU steps take turns
(`CpuLane.turn`): at most `turn_budget` seconds of steps per loop iteration, the sockets polled in
between. Counted in loop iterations; bench/edge_probe.py measures the effect at the client.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, TypeVar

import orjson

from cds_service.auth import DEV_CLIENT
from cds_service.protocol.hooks import handle_hook_call
from cds_service.protocol.lanes import CpuLane
from cds_service.settings import load_settings
from tests.support.fhir import draft, hook_request

T = TypeVar("T")


async def _ticking(steps: int, run: Callable[[Callable[[], int]], Any], step_seconds: float = 0.0) -> list[int]:
    """`steps` concurrent calls each running one CPU step through `run`, beside a task that counts
    loop iterations (it wakes once per iteration): the iteration each step ran in."""
    ticks = 0
    seen: list[int] = []

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0)
            ticks += 1

    def step() -> int:
        seen.append(ticks)
        busy_until = time.perf_counter() + step_seconds
        while time.perf_counter() < busy_until:  # a CPU step (parse, facts, rules)
            pass
        return ticks

    async def call() -> None:
        await asyncio.sleep(0)  # every call becomes ready in the same iteration, as a burst does
        await run(step)

    counter = asyncio.get_running_loop().create_task(ticker())
    await asyncio.gather(*(call() for _ in range(steps)))
    counter.cancel()
    return seen


def test_cpu_steps_of_concurrent_calls_share_a_loop_iteration_within_the_budget() -> None:
    lane = CpuLane(turn_budget=0.02)
    seen = asyncio.run(_ticking(16, lambda fn: lane.turn(fn), step_seconds=0.005))
    assert len(seen) == 16
    per_iteration = max(seen.count(tick) for tick in set(seen))
    assert per_iteration <= 5, f"more than 20 ms of 5 ms steps in one loop iteration: {seen}"


def test_a_budget_below_one_step_runs_one_step_per_iteration() -> None:
    lane = CpuLane(turn_budget=1e-9)
    seen = asyncio.run(_ticking(16, lambda fn: lane.turn(fn)))
    assert len(set(seen)) == 16, f"steps sharing a loop iteration: {seen}"


def test_without_turns_a_burst_runs_in_one_iteration() -> None:
    """What the turns replace (the check above can fail): run inline, all 16 steps share an iteration."""

    async def inline(fn: Callable[[], T]) -> T:
        return fn()

    seen = asyncio.run(_ticking(16, inline, step_seconds=0.005))
    assert len(set(seen)) == 1


def test_a_typical_hook_call_takes_its_turns_and_a_large_one_goes_off_the_loop() -> None:
    class CountingLane(CpuLane):
        def __init__(self) -> None:
            super().__init__()
            self.turns = self.runs = 0

        async def turn(self, fn: Callable[..., T], *args: Any) -> T:
            self.turns += 1
            return await super().turn(fn, *args)

        async def run(self, fn: Callable[..., T], *args: Any) -> T:
            self.runs += 1
            return await super().run(fn, *args)

    settings = load_settings(dev=True, storage_enabled=False)
    request = hook_request("order-sign", drafts=[draft("197381", "baclofen 10 MG Oral Tablet", dose=20, frequency=3)])
    body = orjson.dumps(request)
    large = body[:-1] + b" " * (1 << 20) + b"}"

    async def both(lane: CountingLane) -> list[int]:
        statuses = []
        for payload in (body, large):
            outcome = await handle_hook_call(
                "muscle-spasm-order-sign", payload, client=DEV_CLIENT, settings=settings, http=None,  # type: ignore[arg-type]
                base_url="http://cds.test", cpu=lane,
            )  # fmt: skip
            statuses.append(outcome.status)
        return statuses

    lane = CountingLane()
    assert asyncio.run(both(lane)) == [200, 200]
    # nothing to fetch: parse and evaluate are one step, on the loop by a turn, then off it
    assert (lane.turns, lane.runs) == (1, 1)


def test_a_call_under_way_finishes_before_calls_that_arrived_later_start() -> None:
    """Each call has two steps (parse, then facts and rules). A burst of 12 calls with a budget of one
    step per iteration: every call's second step runs before the first step of any call still waiting,
    so calls finish in order of arrival, one every two steps, instead of all finishing at the end."""
    lane = CpuLane(turn_budget=1e-9)
    order: list[tuple[int, str]] = []

    def step(call: int, name: str) -> None:
        order.append((call, name))

    async def call(number: int) -> None:
        await asyncio.sleep(0)  # every call becomes ready in the same iteration, as a burst does
        await lane.turn(step, number, "parse")
        await lane.turn(step, number, "rules")

    async def burst() -> None:
        await asyncio.gather(*(call(n) for n in range(12)))

    asyncio.run(burst())
    finished = [n for n, name in order if name == "rules"]
    assert finished == list(range(12)), order
    # after the first call, each call's rules step comes right after its parse step (or the next call's)
    positions = {entry: i for i, entry in enumerate(order)}
    assert all(positions[(n, "rules")] - positions[(n, "parse")] <= 2 for n in range(12)), order
