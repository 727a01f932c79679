"""The bar path on streams (simulator, 127.0.0.1, 30x clock): a bar that closes while other orders of the
cycle are still waiting for their acknowledgements is decided at once, on the same snapshot, instead of
queueing behind them; what the feed tells the bot about a boundary (bars still closing, one near, which
symbols may be decided while orders are in the air) is checked on a feed over the real venue."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from stream_bot_support import SYMBOLS, RunningBot, assert_fills_equal_venue, stream_sim

from gpt_trader.features.brokerages.core.interfaces import (
    BookUpdate,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderUpdate,
    TradeTick,
)
from gpt_trader.features.monitor.metrics import MetricsRegistry
from gpt_trader.orchestration.market_monitor import MarketMonitor
from gpt_trader.orchestration.stream_feed import StreamFeed

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

ACK_DELAY_MS = 500


async def test_a_bar_closing_while_orders_are_in_the_air_is_decided_at_once(tmp_path: Path) -> None:
    async with stream_sim() as sim:
        run = RunningBot(sim, tmp_path)
        await run.start()
        try:
            feed = run.bot.feed
            assert feed is not None
            # every order creation answered ACK_DELAY_MS late (reads of orders and fills are not slowed: a
            # bar waiting behind a slow fills read is another matter than the one this test is about)
            sim.faults.apply(f"slow_path:400:/brokerage/orders$:{ACK_DELAY_MS}")
            await run.until(
                lambda: run.metric("decision.rounds_in_flight") >= 2,
                timeout=90,
                what="bars decided while the cycle's orders were in the air",
            )
            sim.faults.clear()
            await asyncio.sleep(1.0)  # the last replies and fills come in
        finally:
            sim.faults.clear()
            await run.stop()
        decisions = list(feed.latency.samples["decision"])
        acks = list(feed.latency.samples["ack"])
        assert decisions and acks
        # a bar's order leaves without waiting for another order's reply: most leave long before one comes
        assert statistics.median(decisions) < ACK_DELAY_MS / 2, sorted(decisions)
        assert_fills_equal_venue(run)


def _tick(symbol: str, at: datetime, price: str = "100") -> TradeTick:
    return TradeTick(
        symbol=symbol,
        trade_id=f"{symbol}-{at.timestamp()}",
        price=Decimal(price),
        size=Decimal("1"),
        side=OrderSide.BUY,
        ts=at,
    )


def _feed_over(run: RunningBot, kind: type[StreamFeed] = StreamFeed) -> StreamFeed:
    """A feed of its own (not the bot's) over the running bot's connected venue."""
    return kind(run.bot.broker, SYMBOLS, 60, metrics=MetricsRegistry(), monitor=MarketMonitor(stale_after_s=600))


async def test_the_feed_says_when_a_boundary_is_closing_and_what_may_be_decided(tmp_path: Path) -> None:
    async with stream_sim() as sim:
        run = RunningBot(sim, tmp_path)
        await run.start()
        try:
            feed = _feed_over(run)
        finally:
            await run.stop()
    btc, eth, sol = SYMBOLS
    boundary = datetime.fromisoformat("2026-01-05T14:01:00+00:00")
    # no open bar: near only within the lead before a boundary
    assert feed.boundary_near(boundary - timedelta(seconds=0.5))
    assert not feed.boundary_near(boundary - timedelta(seconds=30))
    assert not feed.bars_closing(boundary + timedelta(seconds=1))
    for sym in SYMBOLS:
        feed._on_trade(_tick(sym, boundary - timedelta(seconds=20)))
    # past the boundary with bars still open: closing (optional REST waits), until each has closed
    after = boundary + timedelta(seconds=1)
    assert feed.bars_closing(after) and feed.boundary_near(after)
    waiter = feed.next_bar()
    feed._on_trade(_tick(btc, boundary + timedelta(seconds=0.1)))  # BTC's first trade past the end
    await asyncio.wait_for(waiter, timeout=1)  # the bar event reaches whoever waits on it
    assert feed.bars_waiting()
    # BTC is ready unless an order of its own is in the air or an order event of its own waits to be applied
    assert feed.ready_while_in_flight(set()) == [btc]
    assert feed.ready_while_in_flight({btc}) == []
    order = Order(
        order_id="o-1",
        client_order_id="c-1",
        symbol=btc,
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        size=Decimal("1"),
        status=OrderStatus.FILLED,
        filled_size=Decimal("1"),
        avg_fill_price=Decimal("100"),
        created_at=boundary,
    )
    feed._on_order(OrderUpdate(order=order, fills=()))
    assert feed.ready_while_in_flight(set()) == []
    feed.take_orders()
    assert feed.ready_while_in_flight(set()) == [btc]
    feed.check_time(after)  # the clock closes ETH and SOL once their grace has passed
    await asyncio.sleep(0.35)
    feed.check_time(after)
    assert not feed.bars_closing(after)
    assert sorted(feed.ready_while_in_flight(set())) == sorted([btc, eth, sol])


async def test_market_reads_served_by_a_fresh_stream_are_not_counted_as_venue_calls(tmp_path: Path) -> None:
    """The API error-rate guard counts venue calls: quotes and books a fresh stream serves cannot fail and
    must not dilute it (before, every cycle added two "successful calls" per symbol)."""
    async with stream_sim() as sim:
        run = RunningBot(sim, tmp_path)
        await run.start()
        try:
            served0, calls0, cycles0 = sim.requests_served, run.metric("api.calls"), run.bot.cycle
            await run.until(lambda: run.bot.cycle >= cycles0 + 20, timeout=60, what="20 cycles")
            served, calls = sim.requests_served - served0, run.metric("api.calls") - calls0
        finally:
            await run.stop()
    assert calls <= served, f"{calls} venue calls counted, {served} REST requests reached the venue"


class _BurstFeed(StreamFeed):
    """A feed whose market stream is a burst already received: a trade that closes BTC's bar, then 500
    book updates (as a busy venue's frames sit in the socket buffer at a boundary)."""

    boundary = datetime.fromisoformat("2026-01-05T14:01:00+00:00")

    async def _burst(self) -> AsyncIterator[object]:
        yield _tick("BTC-USD", self.boundary - timedelta(seconds=20))
        yield _tick("BTC-USD", self.boundary + timedelta(seconds=0.1))  # closes the bar
        for i in range(500):
            yield BookUpdate(
                symbol="ETH-USD", side=OrderSide.BUY, price=Decimal(100 + i), size=Decimal(1), ts=self.boundary
            )
        await asyncio.Event().wait()  # the socket stays open

    def _market_events(self) -> AsyncIterator[object]:
        return self._burst()


async def test_a_closed_bar_reaches_the_bot_before_the_feed_works_through_its_backlog(tmp_path: Path) -> None:
    async with stream_sim() as sim:
        run = RunningBot(sim, tmp_path)
        await run.start()
        try:
            feed = _feed_over(run, _BurstFeed)
            consumer = asyncio.create_task(feed._consume("market", feed._market_events))
            try:
                await feed.wait(timeout=5)  # as the bot's loop waits between cycles
                books_when_woken = feed.counts["events.book"]
                await asyncio.sleep(0.1)
                books_later = feed.counts["events.book"]
            finally:
                consumer.cancel()
        finally:
            await run.stop()
    assert feed.bars_waiting()
    assert books_when_woken == 0, f"the bar waited for {books_when_woken} book updates of the backlog"
    assert books_later == 500  # the backlog is worked through right after
