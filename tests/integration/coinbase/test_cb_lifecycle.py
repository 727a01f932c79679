"""Full order lifecycles through CoinbaseBroker against the simulator over loopback."""

from __future__ import annotations

import itertools
from datetime import timedelta
from decimal import Decimal as D

import pytest
from cb_sim import eventually, pin, venue_orders

from gpt_trader.exchange_sim import ExchangeSimulator
from gpt_trader.features.brokerages.coinbase.broker import CoinbaseBroker
from gpt_trader.features.brokerages.core.interfaces import (
    Broker,
    InsufficientFundsError,
    InvalidOrderError,
    NotFoundError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    StopDirection,
    TimeInForce,
)

pytestmark = pytest.mark.integration
BTC = "BTC-USD"
BOOK_BIDS = [("99990", "1"), ("99980", "2"), ("99970", "5")]
BOOK_ASKS = [("100010", "1"), ("100020", "2"), ("100030", "5")]


def req(coid: str, **kw: object) -> OrderRequest:
    base: dict[str, object] = {"symbol": BTC, "side": OrderSide.BUY, "client_order_id": coid}
    base.update(kw)
    return OrderRequest(**base)  # type: ignore[arg-type]


async def test_broker_satisfies_protocol(broker: CoinbaseBroker) -> None:
    assert isinstance(broker, Broker)
    products = {p.symbol: p for p in await broker.list_products()}
    assert products[BTC].price_increment > 0 and products[BTC].base_min_size > 0
    assert "BTC-PERP-INTX" in products and products["BTC-PERP-INTX"].is_perpetual


async def test_market_orders_quote_and_base_sized(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    pin(sim, BTC, BOOK_BIDS, BOOK_ASKS)
    buy = await broker.place_order(req("mkt-buy", order_type=OrderType.MARKET, quote_size=D("1000")))
    assert buy.status is OrderStatus.FILLED
    fills = await broker.list_fills(order_id=buy.order_id)
    assert sum(f.size for f in fills) == buy.filled_size > 0
    assert all(f.price == D("100010") for f in fills) and fills[0].client_order_id == "mkt-buy"
    sell = await broker.place_order(
        req("mkt-sell", side=OrderSide.SELL, order_type=OrderType.MARKET, size=buy.filled_size)
    )
    assert sell.status is OrderStatus.FILLED and sell.avg_fill_price == D("99990")
    assert len(venue_orders(sim, "mkt-buy")) == 1


async def test_limit_gtc_rest_amend_cancel(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    pin(sim, BTC, BOOK_BIDS, BOOK_ASKS)
    o = await broker.place_order(req("lim-1", order_type=OrderType.LIMIT, size=D("0.01"), limit_price=D("99000")))
    assert o.status is OrderStatus.OPEN and o.limit_price == D("99000")
    assert o.order_id in {x.order_id for x in await broker.list_orders(BTC)}
    edited = await broker.edit_order(o.order_id, size=D("0.02"), price=D("99100.004"))
    assert edited.limit_price == D("99100.00") and edited.size == D("0.02") and edited.status is OrderStatus.OPEN
    assert (await broker.cancel_orders([o.order_id])) == {o.order_id: True}
    assert (await broker.get_order(o.order_id)).status is OrderStatus.CANCELLED
    assert o.order_id not in {x.order_id for x in await broker.list_orders(BTC)}
    found = await broker.get_order_by_client_id("lim-1")
    assert found is not None and found.order_id == o.order_id
    assert await broker.get_order_by_client_id("never-sent") is None


async def test_partial_fill_then_complete(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    pin(sim, BTC, BOOK_BIDS, BOOK_ASKS)
    o = await broker.place_order(req("part-1", order_type=OrderType.LIMIT, size=D("1.5"), limit_price=D("100010")))
    assert o.status is OrderStatus.PARTIALLY_FILLED and o.filled_size == D("1")
    pin(sim, BTC, BOOK_BIDS, [("100005", "3"), *BOOK_ASKS])
    await eventually(lambda: _status(broker, o.order_id, OrderStatus.FILLED), what="resting remainder to fill")
    fills = await broker.list_fills(order_id=o.order_id)
    assert sum(f.size for f in fills) == D("1.5")
    # the first lot took liquidity, the rest rested and was hit as maker
    assert {f.liquidity.value for f in fills} == {"TAKER", "MAKER"}


async def _status(broker: CoinbaseBroker, order_id: str, status: OrderStatus) -> bool:
    return (await broker.get_order(order_id)).status is status


async def test_ioc_fok_and_post_only(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    pin(sim, BTC, BOOK_BIDS, BOOK_ASKS)
    ioc = await broker.place_order(
        req("ioc-1", order_type=OrderType.LIMIT, size=D("2"), limit_price=D("100010"), time_in_force=TimeInForce.IOC)
    )
    assert ioc.filled_size == D("1") and ioc.status is OrderStatus.CANCELLED
    fok = await broker.place_order(
        req("fok-1", order_type=OrderType.LIMIT, size=D("5"), limit_price=D("100020"), time_in_force=TimeInForce.FOK)
    )
    assert fok.filled_size == 0 and fok.status in (OrderStatus.CANCELLED, OrderStatus.EXPIRED)
    with pytest.raises(InvalidOrderError) as e:
        await broker.place_order(
            req("po-1", order_type=OrderType.LIMIT, size=D("0.1"), limit_price=D("100500"), post_only=True)
        )
    assert e.value.reason == "INVALID_LIMIT_PRICE_POST_ONLY"


async def test_gtd_expires(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    pin(sim, BTC, BOOK_BIDS, BOOK_ASKS)
    end = broker.now() + timedelta(minutes=5)
    o = await broker.place_order(
        req(
            "gtd-1",
            order_type=OrderType.LIMIT,
            size=D("0.1"),
            limit_price=D("90000"),
            time_in_force=TimeInForce.GTD,
            end_time=end,
        )
    )
    assert o.status is OrderStatus.OPEN and o.time_in_force is TimeInForce.GTD
    sim.clock.advance(600)
    sim.venue.step_market()
    await eventually(lambda: _status(broker, o.order_id, OrderStatus.EXPIRED), what="GTD expiry")


async def test_native_stop_limit_triggers(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    sim.fund("BTC", "1")
    pin(sim, BTC, BOOK_BIDS, BOOK_ASKS)
    o = await broker.place_order(
        req(
            "stop-1",
            side=OrderSide.SELL,
            order_type=OrderType.STOP_LIMIT,
            size=D("0.5"),
            stop_price=D("95000"),
            limit_price=D("94000"),
            stop_direction=StopDirection.STOP_DOWN,
        )
    )
    assert o.status is OrderStatus.OPEN and not o.triggered and o.order_type is OrderType.STOP_LIMIT
    sim.venue.pinned.release(BTC)
    sim.venue.set_price(BTC, D("94800"))
    sim.venue.step_market()
    await eventually(lambda: _status(broker, o.order_id, OrderStatus.FILLED), what="stop to trigger and fill")
    done = await broker.get_order(o.order_id)
    assert done.triggered and done.filled_size == D("0.5")
    assert done.avg_fill_price is not None and done.avg_fill_price >= D("94000")


async def test_native_bracket_take_profit(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    sim.fund("BTC", "1")
    pin(sim, BTC, BOOK_BIDS, BOOK_ASKS)
    o = await broker.place_order(
        req(
            "br-1",
            side=OrderSide.SELL,
            order_type=OrderType.BRACKET,
            size=D("0.5"),
            limit_price=D("101000"),
            stop_trigger_price=D("98000"),
        )
    )
    assert o.status is OrderStatus.OPEN and o.stop_trigger_price == D("98000")
    pin(sim, BTC, [("101500", "2"), *BOOK_BIDS], [("101600", "1")])
    await eventually(lambda: _status(broker, o.order_id, OrderStatus.FILLED), what="take profit")
    filled = await broker.get_order(o.order_id)
    assert filled.avg_fill_price is not None and filled.avg_fill_price >= D("101000")


async def test_rejections_are_typed(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    pin(sim, BTC, BOOK_BIDS, BOOK_ASKS)
    with pytest.raises(InsufficientFundsError) as e:
        await broker.place_order(req("big-1", order_type=OrderType.MARKET, quote_size=D("50000000")))
    assert e.value.reason in ("INSUFFICIENT_FUND", "INSUFFICIENT_FUNDS")
    with pytest.raises(InvalidOrderError) as e2:
        await broker.place_order(req("tiny-1", order_type=OrderType.LIMIT, size=D("1e-12"), limit_price=D("1")))
    assert e2.value.reason
    assert venue_orders(sim, "big-1") == []


async def test_balances_and_open_orders_converge_with_exchange(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    pin(sim, BTC, BOOK_BIDS, BOOK_ASKS)
    await broker.place_order(req("conv-1", order_type=OrderType.MARKET, quote_size=D("5000")))
    resting = await broker.place_order(req("conv-2", order_type=OrderType.LIMIT, size=D("0.1"), limit_price=D("90000")))
    ours = {b.asset: b for b in await broker.list_balances()}
    theirs = {b.asset: b for b in sim.engine.balances(sim.account_id)}
    for asset in ("USD", "BTC"):
        assert (ours[asset].total, ours[asset].available, ours[asset].hold) == (
            theirs[asset].total,
            theirs[asset].available,
            theirs[asset].hold,
        )
    assert ours["USD"].hold >= D("9000")  # the resting bid's hold (plus its fee reserve)
    venue_open = {sim.venue.public_id(o.order_id) for o in sim.venue.all_orders(sim.account_id) if not o.is_terminal}
    assert {o.order_id for o in await broker.list_orders()} == venue_open == {resting.order_id}
    positions = {p.symbol: p for p in await broker.list_positions()}
    assert positions[BTC].size == ours["BTC"].total and positions[BTC].mark_price > 0


async def test_candles_paginate_past_350(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    bars = await broker.get_candles(BTC, 60, limit=800)
    assert len(bars) == 800
    starts = [b.start for b in bars]
    assert starts == sorted(set(starts))
    assert all((b - a).total_seconds() == 60 for a, b in itertools.pairwise(starts))
    assert all(b.low <= min(b.open, b.close) and b.high >= max(b.open, b.close) for b in bars)
    with pytest.raises(ValueError, match="allowed: 60, 300"):
        await broker.get_candles(BTC, 42)


async def test_edit_and_cancel_refusals_are_typed(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    pin(sim, BTC, BOOK_BIDS, BOOK_ASKS)
    filled = await broker.place_order(req("done-1", order_type=OrderType.MARKET, size=D("0.1")))
    assert filled.status is OrderStatus.FILLED
    assert await broker.cancel_orders([filled.order_id]) == {filled.order_id: False}
    assert broker.counters["cancel.failed.ORDER_IS_FULLY_FILLED"] == 1
    with pytest.raises(InvalidOrderError) as e:
        await broker.edit_order(filled.order_id, price=D("1"))
    assert e.value.reason
    with pytest.raises(NotFoundError):
        await broker.get_order("00000000-0000-0000-0000-000000000000")


async def test_preview_order(sim: ExchangeSimulator, broker: CoinbaseBroker) -> None:
    pin(sim, BTC, BOOK_BIDS, BOOK_ASKS)
    pv = await broker.preview_order(req("pv-1", order_type=OrderType.MARKET, size=D("0.5")))
    assert pv.order_total > D("0.5") * D("100000") * D("0.99") and pv.commission_total > 0
    with pytest.raises(InsufficientFundsError):
        await broker.preview_order(req("pv-2", order_type=OrderType.MARKET, quote_size=D("50000000")))
    assert venue_orders(sim, "pv-1") == []


@pytest.mark.parametrize("kind", ["stop_gtd", "bracket_gtd"])
async def test_gtd_stop_and_bracket_variants_rest_and_cancel(
    sim: ExchangeSimulator, broker: CoinbaseBroker, kind: str
) -> None:
    sim.fund("BTC", "1")
    pin(sim, BTC, BOOK_BIDS, BOOK_ASKS)
    end = broker.now() + timedelta(hours=1)
    extra: dict[str, object] = (
        {"order_type": OrderType.STOP_LIMIT, "stop_price": D("95000"), "limit_price": D("94000")}
        if kind == "stop_gtd"
        else {"order_type": OrderType.BRACKET, "limit_price": D("105000"), "stop_trigger_price": D("95000")}
    )
    o = await broker.place_order(
        req(kind, side=OrderSide.SELL, size=D("0.1"), time_in_force=TimeInForce.GTD, end_time=end, **extra)
    )
    assert o.status is OrderStatus.OPEN and o.time_in_force is TimeInForce.GTD
    assert o.end_time is not None and abs((o.end_time - end).total_seconds()) < 1
    assert o.order_type is extra["order_type"]
    assert await broker.cancel_orders([o.order_id]) == {o.order_id: True}
    assert (await broker.get_order(o.order_id)).status is OrderStatus.CANCELLED
