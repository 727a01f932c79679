from datetime import UTC, datetime, timedelta
from decimal import Decimal

from gpt_trader.features.brokerages.core.interfaces import Fill, Liquidity, OrderSide
from gpt_trader.orchestration.configuration import TradingWindow
from gpt_trader.orchestration.market_monitor import MarketMonitor
from gpt_trader.orchestration.positions import PositionBook
from gpt_trader.orchestration.session_guard import SessionGuard

T0 = datetime(2025, 1, 6, 14, 30, tzinfo=UTC)


def test_session_window_canary() -> None:
    g = SessionGuard(TradingWindow(start="14:00", end="15:00"))
    assert g.is_open(T0)
    assert g.is_open(T0.replace(hour=14, minute=0))
    assert not g.is_open(T0.replace(hour=15, minute=0))
    assert not g.is_open(T0.replace(hour=13, minute=59, second=59))


def test_session_window_wrapping_midnight_and_none() -> None:
    g = SessionGuard(TradingWindow(start="22:00", end="02:00"))
    assert g.is_open(T0.replace(hour=23)) and g.is_open(T0.replace(hour=1, minute=59))
    assert not g.is_open(T0.replace(hour=2)) and not g.is_open(T0.replace(hour=12))
    assert SessionGuard(None).is_open(T0)


def test_market_monitor_staleness() -> None:
    m = MarketMonitor(stale_after_s=30)
    assert m.is_stale("BTC-USD", T0)  # no mark at all is stale: fail closed
    m.update("BTC-USD", Decimal("100"), T0)
    assert not m.is_stale("BTC-USD", T0 + timedelta(seconds=30))
    assert m.is_stale("BTC-USD", T0 + timedelta(seconds=31))
    m.update("BTC-USD", Decimal("90"), T0 - timedelta(seconds=5))  # out-of-order: ignored
    assert m.mark("BTC-USD") == Decimal("100")
    assert m.stale_symbols(["BTC-USD", "ETH-USD"], T0) == ["ETH-USD"]


def _fill(side: OrderSide, size: str, price: str, fee: str = "0", n: int = 0) -> Fill:
    return Fill(
        trade_id=f"t{n}{side.value}{size}{price}",
        order_id="o",
        symbol="BTC-USD",
        side=side,
        price=Decimal(price),
        size=Decimal(size),
        fee=Decimal(fee),
        liquidity=Liquidity.TAKER,
        ts=T0,
    )


def test_position_ledger_average_cost_and_round_trip() -> None:
    book = PositionBook()
    assert book.apply_fill(_fill(OrderSide.BUY, "1", "100", "0.5")) is None
    assert book.apply_fill(_fill(OrderSide.BUY, "1", "110", "0.5")) is None
    led = book.ledger("BTC-USD")
    assert led.size == Decimal("2") and led.entry_price == Decimal("105")
    assert book.apply_fill(_fill(OrderSide.SELL, "0.5", "120", "0.25")) is None
    assert led.realized_pnl == Decimal("7.5") and led.entry_price == Decimal("105")
    trip = book.apply_fill(_fill(OrderSide.SELL, "1.5", "100", "0.75"))
    # gross: 7.5 + (100-105)*1.5 = 0 ; fees 2.0 -> net -2.0
    assert trip == Decimal("-2.0")
    assert led.size == 0 and led.fees == Decimal("2.0") and book.trade_history() == [Decimal("-2.0")]
    assert led.unrealized(Decimal("1")) == 0


def test_position_ledger_flip_and_short() -> None:
    book = PositionBook()
    book.apply_fill(_fill(OrderSide.SELL, "1", "100"))
    led = book.ledger("BTC-USD")
    assert led.size == Decimal("-1") and led.unrealized(Decimal("90")) == Decimal("10")
    trip = book.apply_fill(_fill(OrderSide.BUY, "3", "90"))
    assert trip == Decimal("10") and led.size == Decimal("2") and led.entry_price == Decimal("90")


def test_feed_reported_staleness_until_fresh_mark() -> None:
    m = MarketMonitor(stale_after_s=30)
    m.update("BTC-USD", Decimal("100"), T0)
    m.report_stale("BTC-USD", 45.0)
    assert m.is_stale("BTC-USD", T0)
    m.report_stale("BTC-USD", 10.0)  # under the limit: not stale by the feed's word
    assert not m.is_stale("BTC-USD", T0)
    m.report_stale("BTC-USD", 60.0)
    m.update("BTC-USD", Decimal("101"), T0 + timedelta(seconds=1))
    assert not m.is_stale("BTC-USD", T0 + timedelta(seconds=1))
