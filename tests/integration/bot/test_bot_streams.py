"""The bot on streams against the exchange simulator (127.0.0.1, 30x clock): it trades from the market
and user streams while REST is throttled to a trickle, and it survives each stream fault (dropped socket,
sequence gap, stalled product, malformed frame), seen from the bot as counters, blocked entries and
recovery, with its fills equal to the exchange's and no order sent twice."""

from __future__ import annotations

import asyncio
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from stream_bot_support import SYMBOLS, RunningBot, assert_fills_equal_venue, stream_sim

from gpt_trader.features.brokerages.core.interfaces import OrderSide

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]


async def test_trades_from_streams_while_rest_is_throttled_to_a_trickle(tmp_path: Path) -> None:
    async with stream_sim() as sim:
        run = RunningBot(sim, tmp_path)
        await run.start()
        try:
            bot = run.bot
            assert bot.feed is not None, "a Coinbase venue runs on streams"
            sim.faults.apply("latency:400")  # every REST reply 400 ms late: a trickle of ~2 requests/s
            served = sim.requests_served
            paths = Counter(sim.requests_by_path)
            venue0 = sim.clock.now()
            orders_before = run.filled_orders()
            await run.until(lambda: run.filled_orders() >= orders_before + 4, timeout=60, what="4 orders filled")
            bars = run.metric("stream.bars.closed_by_trade") + run.metric("stream.bars.closed_by_clock")
            rest = sim.requests_served - served
            paths = Counter(sim.requests_by_path) - paths
            minutes = (sim.clock.now() - venue0).total_seconds() / 60
        finally:
            sim.faults.clear()
            await run.stop()
        assert bars >= 3
        # the budget: at most 3 REST requests per symbol per (venue) minute, trading included
        per_symbol_minute = rest / (len(SYMBOLS) * minutes)
        assert per_symbol_minute <= 3, f"{rest} REST requests in {minutes:.1f} venue minutes: {paths}"
        streams = bot.health()["streams"]
        assert streams["order_state"] == "user_stream" and streams["bars_closed_by_trade"] >= 1
        assert run.metric("orders.stream_updates") >= 1, "order state came from the user stream"
        assert run.metric("stream.events.trade") > 0 and run.metric("stream.events.order") > 0
        assert_fills_equal_venue(run)


async def test_dropped_sockets_reconnect_and_trading_goes_on(tmp_path: Path) -> None:
    async with stream_sim() as sim:
        run = RunningBot(sim, tmp_path)
        await run.start()
        try:
            await run.until(lambda: run.filled_orders() >= 1, timeout=40, what="a first fill")
            sim.faults.apply("drop_ws:all")
            await run.until(
                lambda: (
                    run.metric("stream.venue.market.conn.disconnects") >= 1
                    and run.metric("stream.venue.user.conn.disconnects") >= 1
                ),
                timeout=20,
                what="both disconnects counted",
            )
            after = run.filled_orders()
            await run.until(lambda: run.filled_orders() >= after + 2, timeout=40, what="fills after reconnect")
        finally:
            await run.stop()
        assert run.metric("stream.market.disruptions") >= 1 and run.metric("stream.user.disruptions") >= 1
        assert run.metric("stream.bars.repaired") >= 1, "the bar the drop cut into was repaired over REST"
        assert_fills_equal_venue(run)


async def test_a_sequence_gap_resubscribes_and_repairs_the_bar(tmp_path: Path) -> None:
    async with stream_sim() as sim:
        run = RunningBot(sim, tmp_path)
        await run.start()
        try:
            await run.until(lambda: run.metric("stream.events.trade") > 0, timeout=20, what="trades")
            repaired = run.metric("stream.bars.repaired")
            sim.faults.apply("seq_gap:3")
            await run.until(lambda: run.metric("stream.venue.market.conn.gaps") >= 1, timeout=20, what="gap seen")
            await run.until(
                lambda: run.metric("stream.bars.repaired") > repaired, timeout=20, what="suspect bar repaired"
            )
            await run.until(lambda: run.filled_orders() >= 2, timeout=40, what="trading")
        finally:
            await run.stop()
        assert run.metric("stream.venue.market.conn.resubscribes") >= 1
        assert_fills_equal_venue(run)


async def test_a_stalled_product_is_blocked_then_recovers(tmp_path: Path) -> None:
    async with stream_sim() as sim:
        run = RunningBot(sim, tmp_path, env={"COINBASE_STALE_AFTER_S": "1"})  # through ConfigManager
        await run.start()
        bot = run.bot

        def btc_buys() -> int:
            orders = sim.venue.all_orders(sim.account_id)
            return sum(1 for o in orders if o.symbol == "BTC-USD" and o.side is OrderSide.BUY)

        def btc_decisions() -> int:
            return sum(1 for e in run.registry.events.iter_events(kind="decision") if e["symbol"] == "BTC-USD")

        try:
            await run.until(lambda: "BTC-USD" not in bot.health()["stale_symbols"], timeout=20, what="BTC fresh")
            sim.faults.apply("stall:7:BTC-USD")  # 7 s at 30x: three and a half bars without BTC data
            await run.until(lambda: "BTC-USD" in bot.health()["stale_symbols"], timeout=10, what="BTC stale")
            buys_at_stale = btc_buys()
            decisions_at_stale = btc_decisions()
            assert "ETH-USD" not in bot.health()["stale_symbols"]
            assert bot.monitor.is_stale("BTC-USD", bot.broker.now()), "new BTC risk is blocked (stale mark)"
            await run.until(lambda: run.metric("stream.venue.market.stale") >= 1, timeout=5, what="stale counted")
            # no stream bar closes for BTC: its bars come over REST, once per bar, so decisions go on
            await run.until(lambda: run.metric("stream.rest_fallback.candles") >= 1, timeout=8, what="REST bar")
            await run.until(lambda: btc_decisions() > decisions_at_stale, timeout=8, what="a BTC decision")
            # while the stream is not fresh its quote and book come over REST at most once per cycle interval
            # (canary: 10 s); a re-snapshot after the stale report may make the book fresh again first
            assert run.metric("stream.rest_fallback.market") <= 2
            assert btc_buys() == buys_at_stale, "no BTC entry while its stream is stale"
            await run.until(lambda: "BTC-USD" not in bot.health()["stale_symbols"], timeout=20, what="BTC recovered")
        finally:
            await run.stop()
        assert_fills_equal_venue(run)


async def test_a_malformed_frame_is_counted_and_skipped(tmp_path: Path) -> None:
    async with stream_sim() as sim:
        run = RunningBot(sim, tmp_path)
        await run.start()
        try:
            await run.until(lambda: run.metric("stream.events.trade") > 0, timeout=20, what="trades")
            bad = [{"type": "update", "trades": [{"trade_id": "x", "product_id": "BTC-USD", "price": "1"}]}]
            assert sim.hub.publish("market_trades", "BTC-USD", bad) >= 1
            await run.until(
                lambda: run.metric("stream.venue.market.conn.malformed") >= 1, timeout=10, what="malformed counted"
            )
            before = run.metric("stream.events.trade")
            await run.until(lambda: run.metric("stream.events.trade") > before, timeout=10, what="stream goes on")
            await run.until(lambda: run.filled_orders() >= 1, timeout=40, what="trading")
        finally:
            await run.stop()
        assert_fills_equal_venue(run)


async def test_paper_runs_on_the_public_streams_with_local_fills(tmp_path: Path) -> None:
    async with stream_sim() as sim:
        run = RunningBot(sim, tmp_path, broker="paper")
        await run.start()
        try:
            assert run.bot.feed is not None, "paper runs on the feed venue's streams"
            served = sim.requests_served
            await run.until(lambda: len(run.registry.orders.fills()) >= 2, timeout=40, what="paper fills")
            rest = sim.requests_served - served
        finally:
            await run.stop()
        assert run.metric("stream.events.trade") > 0 and run.metric("stream.events.order") >= 1
        assert not run.sim.venue.all_orders(run.sim.account_id), "paper never sends an order to the venue"
        assert rest <= 12, f"{rest} REST requests: paper reads the market from streams"


async def test_a_crash_between_bars_reaches_the_guards_within_a_second(tmp_path: Path) -> None:
    async with stream_sim(speed=1.0) as sim:  # real time: the next bar is up to a minute away
        run = RunningBot(sim, tmp_path)
        await run.start()
        bot = run.bot
        try:
            await run.until(lambda: "BTC-USD" in bot.quotes, timeout=10, what="a BTC mark")
            await run.until(lambda: bot.cycle >= 3, timeout=10, what="a few guard ticks")
            crash = bot.quotes["BTC-USD"].mark_price * Decimal("0.8")
            loop = asyncio.get_running_loop()
            crashed_at = loop.time()
            sim.venue.set_price("BTC-USD", crash)  # -20 %, mid-bar
            await run.until(
                lambda: any(e.name == "volatility" for e in bot.guard_events), timeout=3, what="volatility guard"
            )
            seen_after = loop.time() - crashed_at
        finally:
            await run.stop()
        assert seen_after <= 1.5, f"the crash reached the guards {seen_after:.2f} s later"


async def test_with_the_user_stream_kept_down_rest_fallback_is_paced(tmp_path: Path) -> None:
    async with stream_sim() as sim:
        run = RunningBot(sim, tmp_path)
        await run.start()
        try:
            await run.until(lambda: run.filled_orders() >= 1, timeout=40, what="a first fill")
            sim.faults.apply("drop_ws:user:0.3")  # the user socket is cut every 0.3 s, again and again
            await run.until(lambda: run.metric("stream.user.disruptions") >= 1, timeout=10, what="disruption seen")
            polls = run.metric("stream.rest_fallback.order_poll")
            reads = run.metric("stream.account.rest_reads")
            filled_before = run.filled_orders()
            await asyncio.sleep(6)  # 6 guard ticks: the canary pace (10 s) allows one more fallback read each
            polls_in_window = run.metric("stream.rest_fallback.order_poll") - polls
            reads_in_window = run.metric("stream.account.rest_reads") - reads
            fills_in_window = run.filled_orders() - filled_before
            sim.faults.clear()
            filled = run.filled_orders()
            await run.until(lambda: run.filled_orders() > filled, timeout=40, what="trading after the outage")
        finally:
            sim.faults.clear()
            await run.stop()
        assert polls_in_window <= 1, f"{polls_in_window} order polls in 6 s"
        # account reads: at most one per order filled in the window (balances moved; an order filled just
        # before it may still be read in it) plus at most one paced fallback read
        assert reads_in_window <= fills_in_window + 1 + len(SYMBOLS), (
            f"{reads_in_window} account reads in 6 s, {fills_in_window} orders filled"
        )
        assert_fills_equal_venue(run)
