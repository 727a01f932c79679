"""Fee tiers by trailing volume, edit edge cases, holds per order, preview of limits, bad input."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from gpt_trader.features.brokerages.core.interfaces import (
    InsufficientFundsError,
    InvalidOrderError,
    OrderSide,
    OrderStatus,
    TimeInForce,
)
from gpt_trader.features.brokerages.core.matching import FeeSchedule, FeeTier, MatchingEngine
from gpt_trader.features.brokerages.core.products import default_products

from .helpers import Clock, limit, lv, market

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def test_fee_tier_follows_trailing_30_day_volume(clock: Clock) -> None:
    eng = MatchingEngine(default_products(), fees=FeeSchedule(), clock=clock, seed=1)
    eng.set_book("BTC-USD", bids=[lv("99", "100")], asks=[lv("101", "100")])
    eng.fund("a", "USD", D("100000"))
    tier = eng.fee_tier("a")
    assert (tier.name, tier.maker_fee_rate, tier.taker_fee_rate) == ("Intro 1", D("0.006"), D("0.012"))
    res = eng.submit("a", market(BUY, "5"))
    assert res.fills[0].fee == D("6.06")  # 505 x 0.012, exact
    eng.submit("a", market(BUY, "10"))  # 505 + 1010 = 1515 USD traded
    assert eng.thirty_day_volume("a") == D("1515")
    assert eng.fee_tier("a").name == "Intro 2"
    clock.tick(30 * 86400 + 1)
    assert eng.fee_tier("a").name == "Intro 1"
    vip = FeeTier(name="VIP", usd_from=D(0), usd_to=None, maker_fee_rate=D(0), taker_fee_rate=D("0.0005"))
    eng.set_fee_tier("a", vip)
    assert eng.fee_tier("a") == vip
    assert eng.submit("a", market(BUY, "1")).fills[0].fee == D("0.0505")  # 101 x 0.0005, unrounded


def test_cancel_filled_order_reason(engine: MatchingEngine) -> None:
    o = engine.submit("a", market(BUY, "0.5")).order
    with pytest.raises(InvalidOrderError) as exc:
        engine.cancel("a", o.order_id)
    assert exc.value.reason == "ORDER_IS_FULLY_FILLED"


def test_edit_size_increase_needs_funds_and_loses_priority(engine: MatchingEngine, clock: Clock) -> None:
    engine.set_book("BTC-USD", bids=[lv("90", "5")], asks=[lv("101", "5")])
    engine.fund("poor", "USD", D("200"))
    o = engine.submit("poor", limit(BUY, "1", "95")).order
    assert engine.order_hold("poor", o.order_id) == D("95") * D("1.002")
    with pytest.raises(InsufficientFundsError):
        engine.edit("poor", o.order_id, size=D("3"))
    assert engine.get_order("poor", o.order_id).status is OrderStatus.OPEN
    clock.tick(1)
    engine.submit("b", limit(BUY, "1", "95"))
    engine.edit("poor", o.order_id, size=D("1.5"))  # bigger: goes behind b
    engine.fund("c", "BTC", D("1"))
    res = engine.submit("c", limit(SELL, "1", "95"))
    assert engine.list_fills("b")[0].trade_id == res.fills[0].trade_id
    with pytest.raises(InvalidOrderError) as exc:
        engine.edit("poor", o.order_id, size=D("0.00000001"))
    assert exc.value.reason in {"INVALID_SIZE", "BELOW_MIN_NOTIONAL"}


def test_edit_rejects_ioc_and_post_only_cross(engine: MatchingEngine) -> None:
    o = engine.submit("a", limit(BUY, "1", "95", post_only=True)).order
    with pytest.raises(InvalidOrderError) as exc:
        engine.edit("a", o.order_id, price=D("101"))
    assert exc.value.reason == "INVALID_LIMIT_PRICE_POST_ONLY"
    gtd = engine.submit(
        "a",
        limit(BUY, "1", "95", time_in_force=TimeInForce.GTD, end_time=engine_now(engine) + timedelta(hours=1)),
    ).order
    with pytest.raises(InvalidOrderError) as exc:
        engine.edit("a", gtd.order_id, price=D("96"))
    assert exc.value.reason == "UNSUPPORTED_ORDER_CONFIGURATION"


def engine_now(engine: MatchingEngine) -> datetime:
    return engine._clock()


def test_edit_refuses_self_trade(engine: MatchingEngine) -> None:
    engine.fund("a", "BTC", D("1"))
    engine.submit("a", limit(SELL, "1", "100.50"))
    bid = engine.submit("a", limit(BUY, "1", "95")).order
    with pytest.raises(InvalidOrderError) as exc:
        engine.edit("a", bid.order_id, price=D("100.50"))
    assert exc.value.reason == "SELF_TRADE_PREVENTION"
    assert engine.get_order("a", bid.order_id).limit_price == D("95")
    assert engine.get_order("a", bid.order_id).status is OrderStatus.OPEN


def test_edit_to_crossing_price_takes_liquidity(engine: MatchingEngine) -> None:
    o = engine.submit("a", limit(BUY, "2", "95")).order
    edited = engine.edit("a", o.order_id, price=D("101"))
    assert edited.filled_size == D("1") and edited.status is OrderStatus.PARTIALLY_FILLED
    assert engine.list_fills("a")[0].price == D("101")
    assert engine.order_hold("a", o.order_id) == D("101") * D("1.002")


def test_gtd_end_time_validation(engine: MatchingEngine, clock: Clock) -> None:
    with pytest.raises(InvalidOrderError) as exc:
        engine.submit("a", limit(BUY, "1", "95", time_in_force=TimeInForce.GTD, end_time=clock.now))
    assert exc.value.reason == "INVALID_END_TIME"
    naive = datetime(2030, 1, 1)
    with pytest.raises(InvalidOrderError) as exc:
        engine.submit("a", limit(BUY, "1", "95", time_in_force=TimeInForce.GTD, end_time=naive))
    assert exc.value.reason == "INVALID_END_TIME"


def test_preview_limit_splits_taker_and_maker(engine: MatchingEngine) -> None:
    p = engine.preview("a", limit(BUY, "2", "101"))
    assert p.ok and p.base_size == D("2")
    assert p.quote_size == D("202")
    assert p.fee == D("0.202") + D("0.101")  # 1 @101 taker 0.2%, 1 resting @101 maker 0.1%, exact
    post = engine.preview("a", limit(BUY, "1", "101", post_only=True))
    assert post.errors == ["INVALID_LIMIT_PRICE_POST_ONLY"]
    assert engine.preview("a", limit(BUY, "1", "101", symbol="NOPE-USD")).errors == ["INVALID_PRODUCT_ID"]


def test_quote_buy_without_book_liquidity(clock: Clock) -> None:
    eng = MatchingEngine(default_products(), clock=clock, seed=1)
    eng.fund("a", "USD", D("100"))
    with pytest.raises(InvalidOrderError) as exc:
        eng.submit("a", market(BUY, quote="10"))
    assert exc.value.reason == "INVALID_NO_LIQUIDITY"


def test_engine_needs_products() -> None:
    with pytest.raises(ValueError, match="at least one product"):
        MatchingEngine([], clock=Clock())


def test_expired_gtd_never_fills_even_without_advance(engine: MatchingEngine, clock: Clock) -> None:
    end = clock.now + timedelta(seconds=10)
    o = engine.submit("a", limit(BUY, "1", "95", time_in_force=TimeInForce.GTD, end_time=end)).order
    clock.tick(20)
    engine.set_book("BTC-USD", bids=[lv("90", "1")], asks=[lv("94", "5")])
    got = engine.get_order("a", o.order_id)
    assert got.status is OrderStatus.EXPIRED and got.filled_size == 0


def test_no_funding_for_periods_before_the_position(engine: MatchingEngine, clock: Clock) -> None:
    perp = "BTC-PERP-INTX"
    engine.set_book(perp, bids=[lv("99.9", "50")], asks=[lv("100.1", "50")])
    engine.set_funding_rate(perp, D("0.001"))
    clock.tick(5 * 3600)  # five boundaries pass with nobody calling advance
    engine.submit("a", market(BUY, "1", symbol=perp, leverage=D("5")))
    engine.advance()
    assert engine.positions("a")[0].funding_paid == 0
    clock.tick(3600)
    engine.advance()
    assert engine.positions("a")[0].funding_paid == D("0.10")
