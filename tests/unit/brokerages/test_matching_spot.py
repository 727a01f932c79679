"""Spot matching: walking levels, priority, TIFs, post-only, cancel/edit, holds, fees and conservation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from gpt_trader.features.brokerages.core.interfaces import (
    InsufficientFundsError,
    InvalidOrderError,
    Liquidity,
    NotFoundError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    OrderUpdate,
    TimeInForce,
)
from gpt_trader.features.brokerages.core.matching import MatchingEngine

from .helpers import Clock, limit, lv, market

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL


def usd(engine: MatchingEngine, acct: str) -> tuple[Decimal, Decimal, Decimal]:
    b = engine.balance(acct, "USD")
    return b.total, b.available, b.hold


def test_market_buy_walks_levels_with_slippage(engine: MatchingEngine) -> None:
    res = engine.submit("a", market(BUY, "2.5"))
    assert res.order.status is OrderStatus.FILLED
    assert [(f.price, f.size) for f in res.fills] == [(D("101"), D("1")), (D("102"), D("1.5"))]
    assert all(f.liquidity is Liquidity.TAKER for f in res.fills)
    assert res.order.avg_fill_price == (D("101") + D("153")) / D("2.5")
    fees = sum(f.fee for f in res.fills)
    assert fees == D("0.202") + D("0.306")  # 0.2% of 101 and of 153, exact (the venue does not round)
    assert res.order.filled_value == D("254")
    total, _, hold = usd(engine, "a")
    assert total == D("100000") - D("254") - fees
    assert hold == 0
    assert engine.balance("a", "BTC").total == D("2.5")
    book = engine.book("BTC-USD", 5)
    assert book.asks[0] == lv("102", "0.5")  # consumed external liquidity stays consumed until next set_book


def test_market_buy_by_quote_size(engine: MatchingEngine) -> None:
    res = engine.submit("a", market(BUY, quote="152"))
    sizes = [(f.price, f.size) for f in res.fills]
    assert sizes[0] == (D("101"), D("1"))
    assert sizes[1][0] == D("102") and sizes[1][1] == D("0.5")
    assert res.order.status is OrderStatus.FILLED
    assert res.order.size == res.order.filled_size == D("1.5")


def test_market_sell_without_base_is_insufficient_funds(engine: MatchingEngine) -> None:
    with pytest.raises(InsufficientFundsError) as exc:
        engine.submit("a", market(SELL, "0.5"))
    assert exc.value.reason == "INSUFFICIENT_FUND"
    assert engine.list_orders("a", open_only=False) == []


def test_limit_buy_too_big_for_balance_rejected(engine: MatchingEngine) -> None:
    with pytest.raises(InsufficientFundsError) as exc:
        engine.submit("a", limit(BUY, "1000", "100"))
    assert exc.value.reason == "INSUFFICIENT_FUND"


def test_limit_takes_what_crosses_then_rests(engine: MatchingEngine) -> None:
    res = engine.submit("a", limit(BUY, "2", "101.50"))
    assert [(f.price, f.size) for f in res.fills] == [(D("101"), D("1"))]
    assert res.order.status is OrderStatus.PARTIALLY_FILLED
    book = engine.book("BTC-USD", 3)
    assert book.bids[0] == lv("101.50", "1")
    # hold for the resting 1 BTC at 101.50 incl. taker fee
    assert usd(engine, "a")[2] == D("101.50") * D("1.002")


def test_price_time_priority_and_multi_account_match(engine: MatchingEngine, clock: Clock) -> None:
    engine.fund("a", "BTC", D("5"))
    engine.fund("b", "BTC", D("5"))
    first = engine.submit("a", limit(SELL, "1", "100.50")).order
    clock.tick(1)
    second = engine.submit("b", limit(SELL, "1", "100.50")).order
    clock.tick(1)
    engine.fund("c", "USD", D("10000"))
    res = engine.submit("c", limit(BUY, "1.5", "100.50"))
    assert [(f.order_id, f.size) for f in res.fills] == [
        (res.order.order_id, D("1")),
        (res.order.order_id, D("0.5")),
    ]
    assert engine.get_order("a", first.order_id).status is OrderStatus.FILLED
    maker2 = engine.get_order("b", second.order_id)
    assert maker2.status is OrderStatus.PARTIALLY_FILLED and maker2.filled_size == D("0.5")
    maker_fill = engine.list_fills("a")[0]
    assert maker_fill.liquidity is Liquidity.MAKER and maker_fill.fee == D("0.1005")
    assert maker_fill.trade_id == res.fills[0].trade_id


def test_user_orders_go_before_external_at_same_price(engine: MatchingEngine) -> None:
    engine.fund("b", "BTC", D("1"))
    engine.submit("b", limit(SELL, "0.5", "101"))
    res = engine.submit("a", market(BUY, "1"))
    assert engine.list_fills("b")[0].size == D("0.5")
    assert [f.size for f in res.fills] == [D("0.5"), D("0.5")]


def test_post_only_rejected_when_crossing(engine: MatchingEngine) -> None:
    with pytest.raises(InvalidOrderError) as exc:
        engine.submit("a", limit(BUY, "1", "101", post_only=True))
    assert exc.value.reason == "INVALID_LIMIT_PRICE_POST_ONLY"
    ok = engine.submit("a", limit(BUY, "1", "100", post_only=True))
    assert ok.order.status is OrderStatus.OPEN


def test_ioc_cancels_remainder(engine: MatchingEngine) -> None:
    res = engine.submit("a", limit(BUY, "2", "101", time_in_force=TimeInForce.IOC))
    assert res.order.status is OrderStatus.CANCELLED
    assert res.order.filled_size == D("1")
    assert usd(engine, "a")[2] == 0


def test_fok_all_or_nothing(engine: MatchingEngine) -> None:
    miss = engine.submit("a", limit(BUY, "2", "101", time_in_force=TimeInForce.FOK))
    assert miss.order.status is OrderStatus.CANCELLED and miss.fills == []
    hit = engine.submit("a", limit(BUY, "2", "102", time_in_force=TimeInForce.FOK))
    assert hit.order.status is OrderStatus.FILLED
    assert usd(engine, "a")[2] == 0


def test_cancel_releases_hold_and_rejects_second_cancel(engine: MatchingEngine) -> None:
    order = engine.submit("a", limit(BUY, "1", "90")).order
    assert usd(engine, "a")[2] > 0
    cancelled = engine.cancel("a", order.order_id)
    assert cancelled.status is OrderStatus.CANCELLED
    assert usd(engine, "a") == (D("100000"), D("100000"), D("0"))
    with pytest.raises(InvalidOrderError) as exc:
        engine.cancel("a", order.order_id)
    assert exc.value.reason == "DUPLICATE_CANCEL_REQUEST"
    with pytest.raises(NotFoundError):
        engine.cancel("b", order.order_id)


def test_edit_keeps_priority_on_size_decrease_loses_on_price_change(engine: MatchingEngine, clock: Clock) -> None:
    o1 = engine.submit("a", limit(BUY, "1", "100")).order
    clock.tick(1)
    engine.submit("b", limit(BUY, "1", "100"))
    engine.edit("a", o1.order_id, size=D("0.5"))
    engine.fund("c", "BTC", D("1"))
    res = engine.submit("c", limit(SELL, "0.25", "100"))
    assert engine.list_fills("a")[0].trade_id == res.fills[0].trade_id  # a kept priority
    engine.edit("a", o1.order_id, price=D("100.00") + D("0"))  # same price: no change in priority
    edited = engine.edit("a", o1.order_id, price=D("99.50"))
    assert edited.limit_price == D("99.50") and edited.status is OrderStatus.PARTIALLY_FILLED
    hold = usd(engine, "a")[2]
    assert hold == D("0.25") * D("99.50") * D("1.002")
    # raise back to 100: now behind b
    engine.edit("a", o1.order_id, price=D("100"))
    res2 = engine.submit("c", limit(SELL, "0.25", "100"))
    assert res2.fills[0].trade_id == engine.list_fills("b")[0].trade_id


def test_edit_rejects_non_gtc_limit_and_bad_precision(engine: MatchingEngine) -> None:
    o = engine.submit("a", limit(BUY, "1", "90")).order
    with pytest.raises(InvalidOrderError) as exc:
        engine.edit("a", o.order_id, price=D("90.001"))
    assert exc.value.reason == "INVALID_PRICE_PRECISION"
    assert engine.get_order("a", o.order_id).status is OrderStatus.OPEN


def test_gtd_expiry(engine: MatchingEngine, clock: Clock) -> None:
    end = clock.now + timedelta(seconds=30)
    o = engine.submit("a", limit(BUY, "1", "90", time_in_force=TimeInForce.GTD, end_time=end)).order
    clock.tick(29)
    engine.advance()
    assert engine.get_order("a", o.order_id).status is OrderStatus.OPEN
    clock.tick(1)
    events = engine.advance()
    assert engine.get_order("a", o.order_id).status is OrderStatus.EXPIRED
    assert any(isinstance(e, OrderUpdate) and e.order.status is OrderStatus.EXPIRED for e in events)
    assert usd(engine, "a")[2] == 0


def test_precision_errors(engine: MatchingEngine) -> None:
    with pytest.raises(InvalidOrderError) as exc:
        engine.submit("a", limit(BUY, "0.000000001", "100"))
    assert exc.value.reason == "INVALID_SIZE_PRECISION"
    with pytest.raises(InvalidOrderError) as exc:
        engine.submit("a", limit(BUY, "1", "100.001"))
    assert exc.value.reason == "INVALID_PRICE_PRECISION"
    with pytest.raises(InvalidOrderError) as exc:
        engine.submit("a", limit(BUY, "0.001", "100"))
    assert exc.value.reason == "BELOW_MIN_NOTIONAL"
    with pytest.raises(InvalidOrderError) as exc:
        engine.submit("a", OrderRequest(symbol="NOPE-USD", side=BUY, order_type=OrderType.MARKET, size=D(1)))
    assert exc.value.reason == "INVALID_PRODUCT_ID"


def test_client_order_id_idempotent(engine: MatchingEngine) -> None:
    first = engine.submit("a", limit(BUY, "1", "90", client_order_id="bot-1-cycle-1"))
    again = engine.submit("a", limit(BUY, "1", "90", client_order_id="bot-1-cycle-1"))
    assert again.duplicate and again.order.order_id == first.order.order_id
    assert len(engine.list_orders("a")) == 1
    assert engine.find_by_client_id("a", "bot-1-cycle-1") == engine.get_order("a", first.order.order_id)
    assert engine.find_by_client_id("a", "missing") is None


def test_resting_order_filled_by_new_external_book_as_maker(engine: MatchingEngine, clock: Clock) -> None:
    o = engine.submit("a", limit(BUY, "3", "100")).order
    clock.tick(1)
    engine.set_book("BTC-USD", bids=[lv("98", "1")], asks=[lv("99.5", "1"), lv("100", "1"), lv("100.5", "9")])
    got = engine.get_order("a", o.order_id)
    assert got.status is OrderStatus.PARTIALLY_FILLED and got.filled_size == D("2")
    fills = engine.list_fills("a")
    assert {f.price for f in fills} == {D("100")} and all(f.liquidity is Liquidity.MAKER for f in fills)
    assert engine.book("BTC-USD").asks[0] == lv("100.5", "9")


def test_value_conserved_minus_fees(engine: MatchingEngine, clock: Clock) -> None:
    engine.fund("b", "BTC", D("10"))
    start_usd = engine.balance("a", "USD").total + engine.balance("b", "USD").total
    start_btc = sum((engine.balance(x, "BTC").total for x in ("a", "b")), D(0))
    engine.submit("b", limit(SELL, "2", "100.50"))
    engine.submit("a", limit(BUY, "1.2", "100.50"))
    engine.submit("a", market(BUY, "1.5"))  # 0.8 from b, rest external
    engine.submit("b", market(SELL, "1"))
    fills = engine.list_fills("a") + engine.list_fills("b")
    fees = sum((f.fee for f in fills), D(0))
    ext_usd = D(0)
    ext_btc = D(0)
    user_trade_ids = {f.trade_id for f in engine.list_fills("a")} & {f.trade_id for f in engine.list_fills("b")}
    for f in fills:
        if f.trade_id in user_trade_ids:
            continue
        sign = 1 if f.side is BUY else -1
        ext_usd += sign * (f.price * f.size).quantize(D("0.01"))
        ext_btc += sign * f.size
    end_usd = engine.balance("a", "USD").total + engine.balance("b", "USD").total
    end_btc = sum((engine.balance(x, "BTC").total for x in ("a", "b")), D(0))
    assert end_usd == start_usd - fees - ext_usd
    assert end_btc == start_btc + ext_btc
    for acct in ("a", "b"):
        for bal in engine.balances(acct):
            assert bal.hold == 0 or bal.available == bal.total - bal.hold


def test_self_trade_prevention_cancels_taker(engine: MatchingEngine) -> None:
    engine.fund("a", "BTC", D("1"))
    engine.submit("a", limit(SELL, "1", "100.50"))
    res = engine.submit("a", limit(BUY, "1", "101"))
    assert res.fills == [] and res.order.status is OrderStatus.CANCELLED


def test_preview_estimates_without_changing_state(engine: MatchingEngine) -> None:
    p = engine.preview("a", market(BUY, "2"))
    assert p.ok and p.avg_price == D("101.5") and p.fee == D("0.406")
    assert p.total == D("203") + D("0.406")
    assert engine.list_orders("a", open_only=False) == []
    bad = engine.preview("a", market(SELL, "2"))
    assert bad.errors == ["INSUFFICIENT_FUND"]


def test_listener_receives_events(engine: MatchingEngine) -> None:
    seen: list[object] = []
    engine.add_listener(seen.append)
    res = engine.submit("a", market(BUY, "1"))
    assert res.events == seen
    kinds = {type(e).__name__ for e in seen}
    assert {"Fill", "TradeTick", "OrderUpdate", "BookUpdate"} <= kinds
    assert engine.account_of(res.order.order_id) == "a"
