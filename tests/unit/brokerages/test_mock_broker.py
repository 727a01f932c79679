"""MockBroker: protocol conformance, determinism, clock, candles, streams and the scenario hooks."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from gpt_trader.features.brokerages.core.interfaces import (
    Broker,
    InsufficientFundsError,
    NotFoundError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderUpdate,
    Quote,
    RateLimitError,
    SimulatedVenue,
    StopDirection,
    TransientError,
)
from gpt_trader.features.brokerages.core.matching import FundingEvent, LiquidationEvent
from gpt_trader.features.brokerages.core.quantization import quantize_price
from gpt_trader.features.brokerages.mock import MockBroker

from .helpers import T0, limit, market

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
SYMBOLS = ["BTC-USD", "ETH-USD", "BTC-PERP-INTX"]


def make(seed: int = 42, **kw: object) -> MockBroker:
    return MockBroker(symbols=SYMBOLS, seed=seed, start=T0, **kw)  # type: ignore[arg-type]


def test_implements_protocols() -> None:
    broker = make()
    assert isinstance(broker, Broker)
    assert isinstance(broker, SimulatedVenue)
    assert broker.now() == T0


async def _session(broker: MockBroker) -> tuple[list[object], list[object], list[object]]:
    await broker.connect()
    btc = broker.engine.product("BTC-USD")
    await broker.place_order(market(BUY, "0.5", client_order_id="c1"))
    q = await broker.get_quote("BTC-USD")
    await broker.place_order(
        limit(SELL, "0.3", str(quantize_price(q.ask * D("1.001"), btc, SELL)), client_order_id="c2")
    )
    await broker.place_order(limit(BUY, "0.2", str(quantize_price(q.bid * D("0.999"), btc, BUY)), client_order_id="c3"))
    for _ in range(30):
        await broker.advance_time(60)
    await broker.place_order(market(SELL, "0.1", client_order_id="c4"))
    fills = await broker.list_fills()
    balances = await broker.list_balances()
    orders = await broker.list_orders(open_only=False)
    return list(fills), list(balances), list(orders)


async def test_same_seed_same_calls_identical_results() -> None:
    a = await _session(make(seed=7))
    b = await _session(make(seed=7))
    assert a == b
    assert len(a[0]) >= 2
    c = await _session(make(seed=8))
    assert c[0] != a[0]


async def test_clock_and_market_move_only_on_advance() -> None:
    broker = make()
    q0 = await broker.get_quote("BTC-USD")
    assert q0.ts == T0
    assert await broker.get_quote("BTC-USD") == q0
    await broker.advance_time(90.5)
    assert broker.now() == T0 + timedelta(seconds=90.5)
    q1 = await broker.get_quote("BTC-USD")
    assert q1.ts == broker.now() and q1.bid != q0.bid
    assert q1.bid < q1.ask
    with pytest.raises(ValueError):
        await broker.advance_time(-1)


async def test_market_path_independent_of_chunking() -> None:
    a, b = make(), make()
    await a.advance_time(120)
    for _ in range(240):
        await b.advance_time(0.5)
    assert await a.get_quote("ETH-USD") == await b.get_quote("ETH-USD")


async def test_resting_order_fills_as_market_moves_and_user_stream_sees_it() -> None:
    broker = make(seed=3)
    updates = broker.stream_user_events()
    q = await broker.get_quote("BTC-USD")
    btc = broker.engine.product("BTC-USD")
    price = quantize_price(q.bid * D("0.9995"), btc, BUY)
    order = await broker.place_order(limit(BUY, "0.01", str(price)))
    first = await asyncio.wait_for(updates.__anext__(), 1)
    assert isinstance(first, OrderUpdate) and first.order.status is OrderStatus.OPEN
    for _ in range(240):
        await broker.advance_time(30)
        if (await broker.get_order(order.order_id)).status is OrderStatus.FILLED:
            break
    got = await broker.get_order(order.order_id)
    assert got.status is OrderStatus.FILLED and got.avg_fill_price == price
    fill_update = await asyncio.wait_for(updates.__anext__(), 1)
    assert fill_update.fills and fill_update.fills[0].price == price
    await broker.close()


async def test_market_stream_quotes_after_advance() -> None:
    broker = make()
    stream = broker.stream_market_data(["ETH-USD"])
    snap = await asyncio.wait_for(stream.__anext__(), 1)
    assert isinstance(snap, Quote) and snap.symbol == "ETH-USD"
    await broker.advance_time(5)
    nxt = await asyncio.wait_for(stream.__anext__(), 1)
    assert isinstance(nxt, Quote) and nxt.ts == T0 + timedelta(seconds=5)
    await broker.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(stream.__anext__(), 1)


async def test_candles_history_then_session() -> None:
    broker = make()
    await broker.advance_time(3 * 3600)
    candles = await broker.get_candles("BTC-USD", 3600, limit=10)
    assert len(candles) == 10
    assert candles[-1].start == T0 + timedelta(hours=3)  # the candle still forming
    assert candles[-4].start == T0 and candles[-5].start == T0 - timedelta(hours=1)
    assert candles[-5].close == candles[-4].open
    window = await broker.get_candles("BTC-USD", 300, start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=1))
    assert len(window) == 24 and window[0].start == T0 - timedelta(hours=1)
    with pytest.raises(Exception, match="granularity_s"):
        await broker.get_candles("BTC-USD", 45)


async def test_idempotent_client_id_and_lookup() -> None:
    broker = make()
    o1 = await broker.place_order(limit(BUY, "0.01", "50000", client_order_id="bot-1"))
    o2 = await broker.place_order(limit(BUY, "0.01", "50000", client_order_id="bot-1"))
    assert o1.order_id == o2.order_id
    found = await broker.get_order_by_client_id("bot-1")
    assert found is not None and found.order_id == o1.order_id
    assert await broker.get_order_by_client_id("nope") is None
    assert await broker.cancel_orders([o1.order_id, "missing"]) == {o1.order_id: True, "missing": False}
    with pytest.raises(NotFoundError):
        await broker.get_order("missing")
    with pytest.raises(InsufficientFundsError):
        await broker.place_order(market(SELL, "5"))


async def test_set_price_flash_crash_triggers_stop() -> None:
    broker = make(starting_assets={"BTC": D("1")})
    q = await broker.get_quote("BTC-USD")
    stop_px = (q.bid * D("0.95")).quantize(D("0.01"))
    req = OrderRequest(
        symbol="BTC-USD",
        side=SELL,
        order_type=OrderType.STOP_LIMIT,
        size=D("0.5"),
        stop_price=stop_px,
        limit_price=(stop_px * D("0.8")).quantize(D("0.01")),
        stop_direction=StopDirection.STOP_DOWN,
    )
    order = await broker.place_order(req)
    broker.set_price("BTC-USD", D("80000"))
    crashed = await broker.get_quote("BTC-USD")
    assert crashed.bid < D("80000") < crashed.ask
    assert crashed.last == D("80000")
    got = await broker.get_order(order.order_id)
    assert got.triggered and got.status is OrderStatus.FILLED
    assert got.avg_fill_price is not None and got.avg_fill_price < D("80000")


async def test_fail_next_burst() -> None:
    broker = make()
    broker.fail_next(2)
    with pytest.raises(TransientError):
        await broker.list_balances()
    with pytest.raises(TransientError):
        await broker.get_quote("BTC-USD")
    assert await broker.list_balances()
    broker.fail_next(1, RateLimitError)
    with pytest.raises(RateLimitError):
        await broker.list_orders()
    assert broker.injected_failures == 3


async def test_freeze_feed_makes_quotes_stale() -> None:
    broker = make()
    stream = broker.stream_market_data(["BTC-USD", "ETH-USD"])
    for _ in range(2):
        await asyncio.wait_for(stream.__anext__(), 1)
    broker.freeze_feed("BTC-USD")
    frozen = await broker.get_quote("BTC-USD")
    await broker.advance_time(120)
    assert await broker.get_quote("BTC-USD") == frozen
    assert (await broker.get_order_book("BTC-USD")).ts == T0
    only = await asyncio.wait_for(stream.__anext__(), 1)
    assert isinstance(only, Quote) and only.symbol == "ETH-USD"
    assert stream_is_empty(broker)
    broker.freeze_feed("BTC-USD", False)
    fresh = await broker.get_quote("BTC-USD")
    assert fresh.ts == T0 + timedelta(seconds=120)


def stream_is_empty(broker: MockBroker) -> bool:
    return all(sub.queue.empty() for sub in broker._market_subs)


async def test_set_liquidity_thins_the_book() -> None:
    broker = make()
    before = await broker.get_order_book("ETH-USD", 10)
    broker.set_liquidity("ETH-USD", spread_bps=40, depth_scale=0.05)
    after = await broker.get_order_book("ETH-USD", 10)
    assert after.spread_bps is not None and before.spread_bps is not None
    assert after.spread_bps > 10 * before.spread_bps
    assert after.depth(BUY) < before.depth(BUY) / 10


async def test_perps_funding_accrues_through_advance() -> None:
    broker = make(step_s=5.0)
    broker.engine.set_funding_rate("BTC-PERP-INTX", D("0.0001"))
    await broker.place_order(market(BUY, "0.1", symbol="BTC-PERP-INTX", leverage=D("5")))
    await broker.advance_time(2 * 3600)
    (pos,) = [p for p in await broker.list_positions() if p.symbol == "BTC-PERP-INTX"]
    assert pos.funding_paid == sum((e.payment for e in broker.engine_events if isinstance(e, FundingEvent)), D(0))
    assert len([e for e in broker.engine_events if isinstance(e, FundingEvent)]) == 2
    assert pos.funding_paid > 0
    assert pos.liquidation_price is None  # 100k USD of cross collateral behind 0.1 BTC


def test_unknown_symbol_rejected() -> None:
    with pytest.raises(ValueError, match="unknown symbols"):
        MockBroker(symbols=["NOPE-USD"])


async def test_flash_crash_liquidates_leveraged_perp() -> None:
    broker = MockBroker(symbols=["BTC-PERP-INTX"], seed=1, start=T0, starting_cash=D("1000"))
    await broker.place_order(market(BUY, "0.1", symbol="BTC-PERP-INTX", leverage=D("20")))
    (pos,) = await broker.list_positions()
    assert pos.liquidation_price is not None
    broker.set_price("BTC-PERP-INTX", (pos.liquidation_price * D("0.98")).quantize(D("0.1")))
    assert await broker.list_positions() == []
    liqs = [e for e in broker.engine_events if isinstance(e, LiquidationEvent)]
    assert len(liqs) == 1 and liqs[0].symbol == "BTC-PERP-INTX"


async def test_perp_fill_and_funding_move_usdc_collateral_spot_moves_usd() -> None:
    broker = make(starting_cash=D("50000"))
    cash = {b.asset: b.total for b in await broker.list_balances()}
    assert cash == {"USD": D("50000"), "USDC": D("50000")}  # USD for spot, USDC collateral for the perp
    assert broker.engine.product("BTC-PERP-INTX").quote_asset == "USDC"
    perps_only = MockBroker(symbols=["BTC-PERP-INTX"], seed=1, start=T0, starting_cash=D("1000"))
    assert {b.asset: b.total for b in await perps_only.list_balances()} == {"USDC": D("1000")}

    opened = await broker.place_order(market(BUY, "0.1", symbol="BTC-PERP-INTX", leverage=D("5")))
    after_open = {b.asset: b.total for b in await broker.list_balances()}
    assert after_open["USDC"] == D("50000") - opened.fees and after_open["USD"] == D("50000")

    broker.engine.set_funding_rate("BTC-PERP-INTX", D("0.0001"))
    await broker.advance_time(3600)
    paid = sum((e.payment for e in broker.engine_events if isinstance(e, FundingEvent)), D(0))
    assert paid > 0
    after_funding = {b.asset: b.total for b in await broker.list_balances()}
    assert after_funding["USDC"] == after_open["USDC"] - paid and after_funding["USD"] == D("50000")

    closed = await broker.place_order(market(SELL, "0.1", symbol="BTC-PERP-INTX", reduce_only=True))
    realized = (closed.avg_fill_price - opened.avg_fill_price) * D("0.1")  # type: ignore[operator]
    after_close = {b.asset: b.total for b in await broker.list_balances()}
    assert after_close["USDC"] == after_funding["USDC"] + realized - closed.fees
    assert after_close["USD"] == D("50000")

    spot = await broker.place_order(market(BUY, "0.01", symbol="BTC-USD"))
    after_spot = {b.asset: b.total for b in await broker.list_balances()}
    spent = spot.filled_size * spot.avg_fill_price + spot.fees  # type: ignore[operator]
    assert abs(D("50000") - after_spot["USD"] - spent) <= D("0.005")  # the notional may settle at the cent
    assert after_spot["USDC"] == after_close["USDC"]
