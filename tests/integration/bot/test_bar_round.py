"""What holds while a bar boundary's orders are decided and sent (simulator, 127.0.0.1, 30x clock, store_sync
normal): the garbage collector is off and the stream consumers yield after every event until the orders
are out, and the store's disk flush never runs under an order's commit (an fsync under way made commits
wait up to 4 ms); afterwards the collector is back on, the flag is down, and the flush has run. Every order
of a cycle is checked against one snapshot object: the pre-trade check's in-flight accounting (cash and
exposure of the cycle's earlier orders) lives with the snapshot it is bound to, and a new object per order
(as the armed path made until this session) started each order's check from nothing in flight."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path
from typing import Any

import pytest
from stream_bot_support import RunningBot, assert_fills_equal_venue, stream_sim

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def test_while_a_boundary_decides_no_collection_no_flush_and_consumers_yield(tmp_path: Path) -> None:
    async with stream_sim() as sim:
        run = RunningBot(sim, tmp_path, env={"GPT_TRADER_STORE_SYNC": "normal"})
        bot = run.bot
        flusher = run.registry.wal_flusher
        assert flusher is not None  # `normal` flushes in a worker thread
        # per decision that trades: gc enabled, feed deciding, flushes requested so far, its cycle
        seen: list[tuple[bool, bool, int, int]] = []
        flushes = 0
        request = flusher.request

        def counted_request() -> None:
            nonlocal flushes
            flushes += 1
            request()

        flusher.request = counted_request
        act = bot._act

        async def watched_act(*args: Any, **kwargs: Any) -> None:
            assert bot.feed is not None
            seen.append((gc.isenabled(), bot.feed.deciding, flushes, bot.cycle))
            await act(*args, **kwargs)

        bound: dict[int, set[int]] = {}  # cycle -> the snapshot objects its pre-trade checks were bound to
        check = bot.risk.check_order

        def watched_check(*args: Any, **kwargs: Any) -> Any:
            result = check(*args, **kwargs)
            snapshot = bot.risk._pretrade._bound
            assert snapshot is not None
            bound.setdefault(bot.cycle, set()).add(id(snapshot()))
            return result

        bot._act = watched_act
        bot.risk.check_order = watched_check
        await run.start()
        try:
            await run.until(
                lambda: len(seen) >= 4 and any(len(c) > 1 for c in _by_cycle(seen).values()),
                timeout=90,
                what="decisions that trade, two in one cycle",
            )
            before = max(f for _, _, f, _ in seen)
            await run.until(lambda: flushes > before, timeout=30, what="the flush after the boundary")
            await asyncio.sleep(1.0)  # the last fills come in
        finally:
            await run.stop()
        assert gc.isenabled()
        assert bot.feed is not None and not bot.feed.deciding
    assert all(not enabled for enabled, _, _, _ in seen), seen
    assert all(deciding for _, deciding, _, _ in seen), seen
    by_cycle = _by_cycle(seen)
    assert all(len(set(counts)) == 1 for counts in by_cycle.values()), by_cycle  # no flush between its orders
    assert all(len(objects) == 1 for objects in bound.values()), bound  # one snapshot per cycle's checks
    assert_fills_equal_venue(run)


def _by_cycle(seen: list[tuple[bool, bool, int, int]]) -> dict[int, list[int]]:
    """cycle -> the flush counts seen by each of its decisions that trade."""
    out: dict[int, list[int]] = {}
    for _, _, flushes, cycle in seen:
        out.setdefault(cycle, []).append(flushes)
    return out
