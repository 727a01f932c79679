"""Fault injection through the simulator's admin API. Every test checks three things: no duplicate order
at the exchange, our view converges to the exchange's, and the right counter (or callback) fires."""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal as D

import pytest
from cb_sim import MakeBroker, eventually, fault, pin, sim_env, venue_orders

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.coinbase.ws import MarketDataStream
from gpt_trader.features.brokerages.core.interfaces import (
    AmbiguousOrderStateError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderUpdate,
    RateLimitError,
)
from gpt_trader.orchestration.venue_settings import coinbase_settings_from_env

pytestmark = [pytest.mark.integration, pytest.mark.chaos]
BTC, ETH = "BTC-USD", "ETH-USD"


def market_buy(coid: str, size: str = "0.01", symbol: str = BTC) -> OrderRequest:
    return OrderRequest(
        symbol=symbol, side=OrderSide.BUY, order_type=OrderType.MARKET, size=D(size), client_order_id=coid
    )


async def assert_converged(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    ours = {b.asset: (b.available, b.hold) for b in await broker.list_balances()}
    theirs = {b.asset: (b.available, b.hold) for b in sim.engine.balances(sim.account_id)}
    for asset, value in theirs.items():
        assert ours.get(asset) == value, asset
    venue_open = {sim.venue.public_id(o.order_id) for o in sim.venue.all_orders(sim.account_id) if not o.is_terminal}
    assert {o.order_id for o in await broker.list_orders()} == venue_open


async def test_429_burst_is_retried_once_at_the_venue(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    pin(sim, BTC, [("99990", "5")], [("100010", "5")])
    await fault(sim, "http429:3")
    order = await broker.place_order(market_buy("rl-1"))
    assert order.status is OrderStatus.FILLED
    assert len(venue_orders(sim, "rl-1")) == 1
    assert broker.rest.counters["throttled"] == 3 and broker.rest.limiter.throttled_total == 3
    await fault(sim, "http429:10")
    with pytest.raises(RateLimitError):
        await broker.place_order(market_buy("rl-2"))
    assert venue_orders(sim, "rl-2") == []
    await fault(sim, None)
    await assert_converged(sim, broker)


async def test_5xx_after_execution_is_resolved_by_client_order_id(
    sim: ExchangeSimulator, broker: CoinbaseBroker
) -> None:
    pin(sim, BTC, [("99990", "5")], [("100010", "5")])
    await fault(sim, "http5xx:2:503:after")
    order = await broker.place_order(market_buy("x5-1"))
    assert [o.order_id for o in venue_orders(sim, "x5-1")] == [sim.venue.all_orders(sim.account_id)[0].order_id]
    assert len(venue_orders(sim, "x5-1")) == 1
    assert order.client_order_id == "x5-1" and order.status is OrderStatus.FILLED
    assert broker.rest.counters["retries"] == 2 and broker.rest.counters["errors.http_503"] == 2
    await fault(sim, "http5xx:3:502")
    balances = await broker.list_balances()  # reads retry through a 5xx burst
    assert balances and broker.rest.counters["errors.http_502"] == 3
    await assert_converged(sim, broker)


async def test_latency_spike_and_timeout_after_send(sim: ExchangeSimulator, make_broker: MakeBroker) -> None:
    pin(sim, BTC, [("99990", "5")], [("100010", "5")])
    broker = await make_broker(request_timeout_s=0.5)
    await fault(sim, "latency:200")
    t0 = time.perf_counter()
    assert (await broker.place_order(market_buy("lat-1"))).status is OrderStatus.FILLED
    assert time.perf_counter() - t0 >= 0.2
    await fault(sim, "latency:1200")
    with pytest.raises(AmbiguousOrderStateError):
        await broker.place_order(market_buy("lat-2"))
    assert broker.rest.counters["ambiguous_creates"] == 1
    await fault(sim, None)
    await asyncio.sleep(1.0)  # the delayed request lands at the venue
    found = await broker.get_order_by_client_id("lat-2")
    if found is None:  # the venue never got it: the same id may be sent again
        found = await broker.place_order(market_buy("lat-2"))
    assert len(venue_orders(sim, "lat-2")) == 1
    assert found.order_id == sim.venue.public_id(venue_orders(sim, "lat-2")[0].order_id)
    await assert_converged(sim, broker)


async def _broker(sim: ExchangeSimulator, **env: str) -> CoinbaseBroker:
    b = CoinbaseBroker(coinbase_settings_from_env(sim_env(sim, **env)))
    await b.connect()
    return b


async def books_match(sim: ExchangeSimulator, broker: CoinbaseBroker, stream: MarketDataStream, symbol: str) -> bool:
    ours = stream.book(symbol, depth=50)
    theirs = (await broker.rest.product_book(symbol, 50)).pricebook
    return (
        ours is not None
        and [(x.price, x.size) for x in ours.bids] == [(x.price, x.size) for x in theirs.bids]
        and [(x.price, x.size) for x in ours.asks] == [(x.price, x.size) for x in theirs.asks]
    )


async def step(sim: ExchangeSimulator) -> None:
    sim.clock.advance(2)
    sim.venue.step_market()
    await asyncio.sleep(0.05)


async def drain_user(broker: CoinbaseBroker, sink: list[OrderUpdate]) -> None:
    async for u in broker.stream_user_events():
        sink.append(u)


async def test_dropped_sockets_reconnect_resubscribe_and_recover_missed_fills(sim: ExchangeSimulator) -> None:
    broker = await _broker(sim)
    updates: list[OrderUpdate] = []
    task = asyncio.create_task(drain_user(broker, updates))
    try:
        stream = await broker.open_market_stream([BTC, ETH])
        await stream.wait_synced(5)
        user = await broker.open_user_stream()
        await asyncio.wait_for(user.snapshot_done.wait(), 5)
        pin(sim, BTC, [("99990", "5")], [("100010", "5")])
        await fault(sim, "drop_ws:all")
        # placed while the user socket is down: its fill must still arrive exactly once
        placed = await broker.place_order(market_buy("drop-1", "0.2"))
        await eventually(lambda: stream.conn.counters["connects"] >= 2, what="market reconnect")
        await eventually(lambda: user.conn.counters["connects"] >= 2, what="user reconnect")
        await fault(sim, None)
        await step(sim)
        await eventually(lambda: books_match(sim, broker, stream, ETH), what="ETH book to resync")
        await eventually(lambda: books_match(sim, broker, stream, BTC), what="BTC book to resync")
        await eventually(
            lambda: sum(f.size for u in updates for f in u.fills if f.order_id == placed.order_id) == D("0.2"),
            what="the missed fill to be recovered",
        )
        await asyncio.sleep(0.3)
        fills = [f for u in updates for f in u.fills if f.order_id == placed.order_id]
        assert sum(f.size for f in fills) == D("0.2")  # exactly once
        assert broker.counters["user.reconnect_refreshes"] >= 1
        assert stream.conn.counters["reconnects"] >= 1
        assert len(venue_orders(sim, "drop-1")) == 1
        await assert_converged(sim, broker)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await broker.close()


async def test_sequence_gap_resubscribes_for_a_fresh_snapshot(sim: ExchangeSimulator) -> None:
    broker = await _broker(sim)
    updates: list[OrderUpdate] = []
    task = asyncio.create_task(drain_user(broker, updates))
    try:
        stream = await broker.open_market_stream([BTC, ETH])
        await stream.wait_synced(5)
        user = await broker.open_user_stream()
        await asyncio.wait_for(user.snapshot_done.wait(), 5)
        pin(sim, BTC, [("99990", "5")], [("100010", "5")])
        resting = await broker.place_order(
            OrderRequest(
                symbol=BTC,
                side=OrderSide.BUY,
                order_type=OrderType.LIMIT,
                size=D("1"),
                limit_price=D("99000"),
                client_order_id="gap-1",
            )
        )
        await fault(sim, "seq_gap:3")
        await step(sim)
        await eventually(lambda: stream.conn.counters["gaps"] >= 1, what="market gap detection")
        await eventually(lambda: user.conn.counters["gaps"] >= 1, what="user gap detection")
        await fault(sim, None)
        assert stream.conn.counters["resubscribes"] >= 1 and user.conn.counters["resubscribes"] >= 1
        for _ in range(3):
            await step(sim)
        await eventually(lambda: books_match(sim, broker, stream, BTC), what="BTC book after gap")
        await eventually(lambda: books_match(sim, broker, stream, ETH), what="ETH book after gap")
        pin(sim, BTC, [("99990", "5")], [("98000", "0.4"), ("100010", "5")])  # fills 0.4 of the bid
        await eventually(
            lambda: sum(f.size for u in updates for f in u.fills if f.order_id == resting.order_id) == D("0.4"),
            what="the partial fill after the gap",
        )
        await asyncio.sleep(0.2)
        assert sum(f.size for u in updates for f in u.fills if f.order_id == resting.order_id) == D("0.4")
        assert len(venue_orders(sim, "gap-1")) == 1
        await assert_converged(sim, broker)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await broker.close()


async def test_stalled_feed_reports_staleness_and_falls_back_to_rest(live_sim: ExchangeSimulator) -> None:
    sim = live_sim
    broker = await _broker(sim, COINBASE_STALE_AFTER_S="0.5")
    stale: list[tuple[str, float]] = []
    broker.set_staleness_callback(lambda sym, age: stale.append((sym, age)))
    try:
        stream = await broker.open_market_stream([BTC, ETH])
        await stream.wait_synced(5)
        await eventually(lambda: stream.is_fresh(BTC), what="fresh BTC data")
        await fault(sim, "stall:0:BTC-USD")
        eth_seen = stream.last_data_at[ETH]
        await eventually(lambda: any(s == BTC for s, _ in stale), timeout=5, what="staleness callback")
        assert all(age > 0.5 for _, age in stale)
        await eventually(lambda: stream.last_data_at[ETH] > eth_seen, what="ETH data to keep flowing")
        assert stream.counters["stale"] >= 1 and stream.counters["stale_resubscribes"] >= 1
        eth_age = broker.market_data_age_s(ETH)
        assert eth_age is not None and eth_age < 5
        q = await broker.get_quote(BTC)  # REST fallback while the socket is stale
        rest_book = (await broker.rest.product_book(BTC, 1)).pricebook
        assert abs(q.bid - rest_book.bids[0].price) < q.bid * D("0.01") and q.ask > q.bid
        assert broker.counters["market.stale"] >= 1
        await fault(sim, None)
        await eventually(lambda: stream.is_fresh(BTC), timeout=5, what="BTC data to resume")
        assert stream.counters["recovered"] >= 1
    finally:
        await broker.close()
