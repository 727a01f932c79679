"""Perpetuals: signed positions, margin holds, funding, liquidation, reduce-only, close_position."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from gpt_trader.features.brokerages.core.interfaces import (
    InsufficientFundsError,
    InvalidOrderError,
    OrderSide,
    OrderStatus,
    ProductType,
)
from gpt_trader.features.brokerages.core.matching import FundingEvent, LiquidationEvent, MatchingEngine

from .helpers import Clock, limit, lv, market

D = Decimal
BUY, SELL = OrderSide.BUY, OrderSide.SELL
PERP = "BTC-PERP-INTX"


@pytest.fixture
def perp(engine: MatchingEngine) -> MatchingEngine:
    engine.set_book(PERP, bids=[lv("99.9", "50")], asks=[lv("100.1", "50")])
    engine.fund("p", "USDC", D("60"))
    return engine


def test_long_with_leverage_holds_margin(perp: MatchingEngine) -> None:
    res = perp.submit("p", market(BUY, "10", symbol=PERP, leverage=D("20")))
    assert res.order.status is OrderStatus.FILLED
    (pos,) = perp.positions("p")
    assert pos.product_type is ProductType.PERPETUAL and pos.size == D("10") and pos.leverage == D("20")
    assert pos.entry_price == D("100.1") and pos.mark_price == D("100")
    assert pos.unrealized_pnl == D("-1.0")
    usd = perp.balance("p", "USDC")
    assert usd.total == D("60") - D("2.002")  # no notional exchanged, only the taker fee (0.2% of 1001)
    assert usd.hold == D("10") * D("100") / D("20")
    assert usd.available == usd.total + pos.unrealized_pnl - usd.hold


def test_margin_insufficient_rejected(perp: MatchingEngine) -> None:
    with pytest.raises(InsufficientFundsError) as exc:
        perp.submit("p", market(BUY, "10", symbol=PERP, leverage=D("5")))
    assert exc.value.reason == "INSUFFICIENT_FUND"
    with pytest.raises(InvalidOrderError) as exc2:
        perp.submit("p", market(BUY, "1", symbol=PERP, leverage=D("50")))
    assert exc2.value.reason == "INVALID_LEVERAGE"


def test_short_then_close_realizes_pnl(perp: MatchingEngine, clock: Clock) -> None:
    perp.submit("p", limit(SELL, "2", "99.9", symbol=PERP, leverage=D("10")))
    assert perp.positions("p")[0].size == D("-2")
    clock.tick(1)
    perp.set_book(PERP, bids=[lv("94.9", "50")], asks=[lv("95.1", "50")])
    res = perp.close_position("p", PERP)
    assert res.order.reduce_only and res.order.status is OrderStatus.FILLED
    assert perp.positions("p") == []
    fees = sum(f.fee for f in perp.list_fills("p"))
    assert perp.balance("p", "USDC").total == D("60") + (D("99.9") - D("95.1")) * 2 - fees


def test_reduce_only_enforced(perp: MatchingEngine) -> None:
    with pytest.raises(InvalidOrderError) as exc:
        perp.submit("p", market(SELL, "1", symbol=PERP, reduce_only=True))
    assert exc.value.reason == "INVALID_REDUCE_ONLY"  # flat: any reduce-only would open
    perp.submit("p", market(BUY, "2", symbol=PERP, leverage=D("10")))
    with pytest.raises(InvalidOrderError):
        perp.submit("p", market(BUY, "1", symbol=PERP, reduce_only=True))
    with pytest.raises(InvalidOrderError):
        perp.submit("p", market(SELL, "3", symbol=PERP, reduce_only=True))
    ok = perp.submit("p", market(SELL, "1", symbol=PERP, reduce_only=True))
    assert ok.order.status is OrderStatus.FILLED and perp.positions("p")[0].size == D("1")


def test_resting_reduce_only_never_flips(perp: MatchingEngine, clock: Clock) -> None:
    perp.submit("p", market(BUY, "2", symbol=PERP, leverage=D("10")))
    ro = perp.submit("p", limit(SELL, "2", "105", symbol=PERP, reduce_only=True)).order
    perp.submit("p", market(SELL, "1.5", symbol=PERP))  # position shrinks under the resting order
    clock.tick(1)
    perp.set_book(PERP, bids=[lv("106", "50")], asks=[lv("106.2", "50")])
    got = perp.get_order("p", ro.order_id)
    assert got.filled_size == D("0.5")
    assert got.status is OrderStatus.CANCELLED  # the position is gone, so the reduce-only remainder is too
    assert perp.positions("p") == []


def test_funding_every_interval_longs_pay(perp: MatchingEngine, clock: Clock) -> None:
    perp.fund("q", "USDC", D("1000"))
    perp.submit("p", market(BUY, "10", symbol=PERP, leverage=D("20")))
    perp.submit("q", market(SELL, "10", symbol=PERP, leverage=D("20")))
    perp.set_funding_rate(PERP, D("0.0001"))
    assert perp.next_funding_time(PERP) == clock.now + timedelta(hours=1)
    cash_p = perp.balance("p", "USDC").total
    cash_q = perp.balance("q", "USDC").total
    clock.tick(3599)
    assert not [e for e in perp.advance() if isinstance(e, FundingEvent)]
    clock.tick(3601)  # two boundaries crossed in one call
    events = [e for e in perp.advance() if isinstance(e, FundingEvent)]
    assert len(events) == 4
    assert perp.balance("p", "USDC").total == cash_p - D("0.20")
    assert perp.balance("q", "USDC").total == cash_q + D("0.20")
    assert perp.positions("p")[0].funding_paid == D("0.20")


def test_liquidation_below_maintenance(perp: MatchingEngine, clock: Clock) -> None:
    perp.submit("p", market(BUY, "10", symbol=PERP, leverage=D("20")))
    pos = perp.positions("p")[0]
    assert pos.liquidation_price == D("96.7")
    clock.tick(1)
    perp.set_book(PERP, bids=[lv("96.9", "50")], asks=[lv("97.1", "50")])
    assert not [e for e in perp.advance() if isinstance(e, LiquidationEvent)]
    clock.tick(1)
    perp.set_book(PERP, bids=[lv("95.9", "50")], asks=[lv("96.1", "50")])
    events = perp.advance()
    liqs = [e for e in events if isinstance(e, LiquidationEvent)]
    assert len(liqs) == 1 and liqs[0].size == D("10") and liqs[0].mark_price == D("96.0")
    assert perp.positions("p") == []
    assert perp.liquidations == liqs
    order = perp.get_order("p", liqs[0].order_id)
    assert order.status is OrderStatus.FILLED and order.client_order_id.startswith("liquidation-")
    expected = D("57.998") + (D("96.0") - D("100.1")) * 10 - D("1.920")
    assert perp.balance("p", "USDC").total == expected


def test_set_mark_overrides_mid(perp: MatchingEngine) -> None:
    perp.submit("p", market(BUY, "10", symbol=PERP, leverage=D("20")))
    perp.set_mark(PERP, D("90"))
    assert perp.positions("p") == []
    assert perp.liquidations[0].mark_price == D("90")


def test_perp_bracket_is_an_exit_only(perp: MatchingEngine, clock: Clock) -> None:
    from gpt_trader.features.brokerages.core.interfaces import OrderRequest, OrderType

    def bracket(side: OrderSide, size: str, take: str, stop_trigger: str) -> OrderRequest:
        return OrderRequest(
            symbol=PERP,
            side=side,
            order_type=OrderType.BRACKET,
            size=D(size),
            limit_price=D(take),
            stop_trigger_price=D(stop_trigger),
        )

    with pytest.raises(InvalidOrderError) as exc:
        perp.submit("p", bracket(SELL, "1", "110", "90"))
    assert exc.value.reason == "NO_POSITION"
    perp.submit("p", market(BUY, "2", symbol=PERP, leverage=D("10")))
    with pytest.raises(InvalidOrderError) as exc:
        perp.submit("p", bracket(SELL, "3", "110", "90"))
    assert exc.value.reason == "INVALID_REDUCE_ONLY"
    exit_order = perp.submit("p", bracket(SELL, "2", "110", "95")).order
    clock.tick(1)
    perp.set_book(PERP, bids=[lv("94.9", "50")], asks=[lv("95.1", "50")])
    got = perp.get_order("p", exit_order.order_id)
    assert got.triggered and got.status is OrderStatus.FILLED
    assert perp.positions("p") == []


def test_listener_failure_does_not_break_engine(perp: MatchingEngine) -> None:
    def broken(_: object) -> None:
        raise RuntimeError("subscriber bug")

    perp.add_listener(broken)
    res = perp.submit("p", market(BUY, "1", symbol=PERP, leverage=D("10")))
    assert res.order.status is OrderStatus.FILLED
    assert perp.listener_errors > 0
    assert perp.list_orders("p") == [] and len(perp.list_orders("p", open_only=False)) == 1
