"""The armed snapshot on streams (simulator, 127.0.0.1, 30x clock): a bar closing after a quiet cycle is
decided on that cycle's snapshot and guard verdict, without re-reading every market and re-running every
guard; any write to the store since (a fill, a guard event, anything the account may have moved by) sends
the bar's cycle back to a full snapshot. The journal keeps every decision, written after the orders left."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from stream_bot_support import RunningBot, assert_fills_equal_venue, stream_sim

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def test_a_bar_after_a_quiet_cycle_is_decided_on_the_armed_snapshot(tmp_path: Path) -> None:
    async with stream_sim() as sim:
        run = RunningBot(sim, tmp_path)
        await run.start()
        try:
            orders0 = run.filled_orders()
            await run.until(
                lambda: run.metric("cycles.armed") >= 3 and run.filled_orders() >= orders0 + 2,
                timeout=90,
                what="bars decided on armed snapshots, and orders filled",
            )
            await asyncio.sleep(1.0)  # the last fills come in
        finally:
            await run.stop()
        events = list(run.bot.events.iter_events())
    assert run.metric("cycles.armed") < run.metric("cycles")  # guard ticks and order events take full snapshots
    # every decided bar is journaled (a boundary's journal rows are written once its orders are out), and each
    # trading decision's order intent is in the orders store
    decisions = [e for e in events if e["kind"] == "decision"]
    assert sum(sum(c.values()) for c in run.bot.decisions.values()) == len(decisions)
    intents = {
        e["payload"]["intent_id"]: e["payload"]["client_order_id"] for e in events if e["kind"] == "order_intent"
    }
    traded = 0
    for e in decisions:
        if e["payload"]["action"] == "HOLD":
            continue
        bar_key = e["payload"]["bar"].replace("-", "").replace(":", "")[:15]
        intent = f"{e['symbol']}:{bar_key}:{e['payload']['action']}"
        if intent in intents:
            traded += 1
            assert run.registry.orders.get(intents[intent]) is not None, intent
    assert traded >= 2
    assert_fills_equal_venue(run)


async def test_a_store_write_since_the_quiet_cycle_means_a_full_snapshot(tmp_path: Path) -> None:
    """Every time the bot arms a snapshot, something is written to the store right after (as a fill or a
    guard event would be): no armed snapshot is used, every bar's cycle reads its own (counted by reason),
    and the bot trades on as before."""
    async with stream_sim() as sim:
        run = RunningBot(sim, tmp_path)
        bot = run.bot
        arm = bot._arm

        def arm_then_write(*args: Any, **kwargs: Any) -> None:
            arm(*args, **kwargs)
            bot.events.append("test_note", {"why": "the account may have moved"}, ts=bot.broker.now())

        bot._arm = arm_then_write
        await run.start()
        try:
            orders0 = run.filled_orders()
            await run.until(
                lambda: run.metric("cycles.armed_refused.store_write") >= 3 and run.filled_orders() >= orders0 + 1,
                timeout=90,
                what="bars decided on full snapshots after store writes",
            )
            await asyncio.sleep(1.0)  # the last fills come in
        finally:
            await run.stop()
    assert run.metric("cycles.armed") == 0
    assert_fills_equal_venue(run)
