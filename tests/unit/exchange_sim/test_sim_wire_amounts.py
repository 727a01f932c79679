"""Money amounts on the simulator's wire are the exact Decimals, normalized, never in exponent notation:
`commission`, `total_fees`, `filled_value` and `total_value_after_fees` as Coinbase sends them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from gpt_trader.exchange_sim.wire import OrderExtras, d, fill_to_wire, order_to_wire, user_order_event
from gpt_trader.features.brokerages.core.interfaces import BookLevel, OrderRequest, OrderSide, OrderType, TimeInForce
from gpt_trader.features.brokerages.core.matching import FeeSchedule, MatchingEngine
from gpt_trader.features.brokerages.core.products import default_products

T0 = datetime(2025, 1, 1, tzinfo=UTC)
EXTRAS = OrderExtras(user_id="u", portfolio_id="p", product_type="SPOT", number_of_fills=2)


def test_amounts_are_plain_normalized_strings() -> None:
    assert d(Decimal("3.136E-2")) == "0.03136"
    assert d(Decimal("0.0313600")) == "0.03136"
    assert d(Decimal("1E-12")) == "0.000000000001"
    assert d(Decimal("1.2E+3")) == "1200"
    assert d(Decimal("-0.000")) == "0"


def test_a_two_price_fill_reports_the_exact_value_and_fees() -> None:
    """1.23456789 @ 2345.67 + 3.00000001 @ 2345.71: value 9933.0188859934 exactly, where avg x size gives
    ...9934000000000000000001 from the rounded average; the 0.8 % taker fees are finer than the cent."""
    eth = next(p for p in default_products() if p.symbol == "ETH-USD")
    eng = MatchingEngine([eth], fees=FeeSchedule.flat("0.004", "0.008"), clock=lambda: T0, seed=1)
    eng.fund("a", "USD", Decimal("100000"))
    eng.set_book(
        "ETH-USD",
        bids=[BookLevel(Decimal("2345.00"), Decimal("100"))],
        asks=[BookLevel(Decimal("2345.67"), Decimal("1.23456789")), BookLevel(Decimal("2345.71"), Decimal("100"))],
    )
    req = OrderRequest(
        symbol="ETH-USD",
        side=OrderSide.BUY,
        order_type=OrderType.MARKET,
        size=Decimal("4.2345679"),
        time_in_force=TimeInForce.IOC,
    )
    res = eng.submit("a", req)
    order = res.order
    value, fees = Decimal("9933.0188859934"), Decimal("79.4641510879472")
    assert order.avg_fill_price is not None and order.avg_fill_price * order.filled_size != value  # why not avg x size
    for wire in (order_to_wire(order, EXTRAS), user_order_event(order, eth, EXTRAS)):
        assert (wire["filled_value"], wire["total_fees"]) == ("9933.0188859934", "79.4641510879472")
        assert wire["total_value_after_fees"] == "10012.4830370813472"
    commissions = [fill_to_wire(f, user_id="u", portfolio_id="p", entry_id="e")["commission"] for f in res.fills]
    assert commissions == ["23.1671109002904", "56.2970401876568"]
    assert eng.balance("a", "USD").total == Decimal("100000") - value - fees
