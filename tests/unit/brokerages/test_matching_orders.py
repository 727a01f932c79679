"""Stop-limit triggers and trigger_bracket exits (take-profit limit or stop leg)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gpt_trader.features.brokerages.core.interfaces import (
    InvalidOrderError,
    Liquidity,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    StopDirection,
)
from gpt_trader.features.brokerages.core.matching import MatchingEngine

from .helpers import Clock, lv

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def stop(side: OrderSide, size: str, stop_price: str, limit_price: str, direction: StopDirection) -> OrderRequest:
    return OrderRequest(
        symbol="BTC-USD",
        side=side,
        order_type=OrderType.STOP_LIMIT,
        size=D(size),
        stop_price=D(stop_price),
        limit_price=D(limit_price),
        stop_direction=direction,
    )


def bracket(side: OrderSide, size: str, take: str, stop_trigger: str) -> OrderRequest:
    return OrderRequest(
        symbol="BTC-USD",
        side=side,
        order_type=OrderType.BRACKET,
        size=D(size),
        limit_price=D(take),
        stop_trigger_price=D(stop_trigger),
    )


def test_stop_down_triggers_on_mid_and_fills_as_limit(engine: MatchingEngine, clock: Clock) -> None:
    engine.fund("a", "BTC", D("1"))
    o = engine.submit("a", stop(SELL, "1", "95", "94", StopDirection.STOP_DOWN)).order
    assert o.status is OrderStatus.OPEN and not o.triggered
    assert engine.book("BTC-USD").asks[0].price == D("101")  # untriggered stops are not in the book
    clock.tick(1)
    engine.set_book("BTC-USD", bids=[lv("96", "5")], asks=[lv("97", "5")])
    assert engine.get_order("a", o.order_id).status is OrderStatus.OPEN
    clock.tick(1)
    engine.set_book("BTC-USD", bids=[lv("94.50", "0.4"), lv("93", "5")], asks=[lv("95.50", "5")])
    got = engine.get_order("a", o.order_id)
    assert got.triggered and got.status is OrderStatus.PARTIALLY_FILLED
    assert got.filled_size == D("0.4")
    fills = engine.list_fills("a", order_id=o.order_id)
    assert fills[0].price == D("94.50") and fills[0].liquidity is Liquidity.TAKER
    assert engine.book("BTC-USD").asks[0] == lv("94", "0.6")  # remainder rests as a limit


def test_stop_up_buy(engine: MatchingEngine, clock: Clock) -> None:
    o = engine.submit("a", stop(BUY, "1", "105", "106", StopDirection.STOP_UP)).order
    clock.tick(1)
    engine.set_book("BTC-USD", bids=[lv("104.5", "1")], asks=[lv("105.5", "3")])
    got = engine.get_order("a", o.order_id)
    assert got.status is OrderStatus.FILLED and got.avg_fill_price == D("105.5")


def test_stop_on_wrong_side_rejected(engine: MatchingEngine) -> None:
    engine.fund("a", "BTC", D("1"))
    with pytest.raises(InvalidOrderError) as exc:
        engine.submit("a", stop(SELL, "1", "120", "119", StopDirection.STOP_DOWN))
    assert exc.value.reason == "STOP_PRICE_ABOVE_LAST_TRADE_PRICE"


def test_stop_direction_inferred(engine: MatchingEngine) -> None:
    req = OrderRequest(
        symbol="BTC-USD",
        side=BUY,
        order_type=OrderType.STOP_LIMIT,
        size=D("1"),
        stop_price=D("110"),
        limit_price=D("111"),
    )
    assert engine.submit("a", req).order.stop_direction is StopDirection.STOP_UP


def test_bracket_take_profit_leg(engine: MatchingEngine, clock: Clock) -> None:
    engine.fund("a", "BTC", D("1"))
    o = engine.submit("a", bracket(SELL, "1", "110", "90")).order
    assert o.status is OrderStatus.OPEN
    assert engine.balance("a", "BTC").hold == D("1")
    assert engine.book("BTC-USD").asks[-1].price == D("110")
    clock.tick(1)
    engine.set_book("BTC-USD", bids=[lv("111", "2")], asks=[lv("112", "2")])
    got = engine.get_order("a", o.order_id)
    assert got.status is OrderStatus.FILLED and got.avg_fill_price == D("110") and not got.triggered
    assert engine.list_fills("a")[0].liquidity is Liquidity.MAKER
    assert engine.balance("a", "BTC").total == 0


def test_bracket_stop_leg_triggers(engine: MatchingEngine, clock: Clock) -> None:
    engine.fund("a", "BTC", D("1"))
    o = engine.submit("a", bracket(SELL, "1", "110", "90")).order
    clock.tick(1)
    engine.set_book("BTC-USD", bids=[lv("89", "0.5"), lv("88", "5")], asks=[lv("89.5", "2")])
    got = engine.get_order("a", o.order_id)
    assert got.triggered and got.status is OrderStatus.FILLED
    assert [f.price for f in engine.list_fills("a")] == [D("89"), D("88")]
    assert all(lvl.price != D("110") for lvl in engine.book("BTC-USD").asks)


def test_bracket_price_order_validated(engine: MatchingEngine) -> None:
    engine.fund("a", "BTC", D("1"))
    with pytest.raises(InvalidOrderError) as exc:
        engine.submit("a", bracket(SELL, "1", "90", "110"))
    assert exc.value.reason == "INVALID_BRACKET_PRICES"


def test_bracket_stop_protection_band(engine: MatchingEngine, clock: Clock) -> None:
    """A gap far below the trigger leaves the stop leg resting at trigger x (1 - 5%)."""
    engine.fund("a", "BTC", D("1"))
    o = engine.submit("a", bracket(SELL, "1", "110", "90")).order
    clock.tick(1)
    engine.set_book("BTC-USD", bids=[lv("80", "5")], asks=[lv("81", "5")])
    got = engine.get_order("a", o.order_id)
    assert got.triggered and got.status is OrderStatus.OPEN
    assert engine.book("BTC-USD").asks[0] == lv("81", "5")
    assert any(lvl == lv("85.50", "1") for lvl in engine.book("BTC-USD").asks)
