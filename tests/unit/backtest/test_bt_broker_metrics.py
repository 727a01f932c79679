"""BacktestBroker speaks the Broker protocol; metrics from known curves."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from bt_helpers import make_bars

from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.backtest.metrics import compute_metrics
from gpt_trader.features.backtest.replay.broker import BacktestBroker
from gpt_trader.features.backtest.result import Trade, ns_to_dt
from gpt_trader.features.brokerages.core.interfaces import (
    Broker,
    NotFoundError,
    OrderRequest,
    OrderSide,
    OrderStatus,
    OrderType,
    SimulatedVenue,
    TimeInForce,
)


async def test_broker_protocol_and_fills_through_the_matching_engine() -> None:
    bars = make_bars([100.0, 200.0, 300.0], [100.0, 200.0, 300.0])
    broker = BacktestBroker(bars, BacktestConfig(fee_bps=Decimal(10), slippage_bps=Decimal(50)))
    assert isinstance(broker, Broker) and isinstance(broker, SimulatedVenue)
    broker.set_bar(1)
    book = await broker.get_order_book("TEST-USD")
    assert (book.best_ask, book.best_bid) == (Decimal("201.00"), Decimal("199.00"))
    order = await broker.place_order(
        OrderRequest(
            symbol="TEST-USD",
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            size=Decimal(2),
            time_in_force=TimeInForce.IOC,
            client_order_id="c1",
        )
    )
    assert order.status is OrderStatus.FILLED and order.avg_fill_price == Decimal("201.00")
    [fill] = await broker.list_fills("TEST-USD")
    assert fill.fee == Decimal("0.402")  # 402.00 x 10 bps, unrounded
    balances = {b.asset: b.total for b in await broker.list_balances()}
    assert balances == {"USD": Decimal("10000") - Decimal("402.00") - Decimal("0.402"), "TEST": Decimal(2)}
    found = await broker.get_order_by_client_id("c1")
    assert found is not None and found.order_id == order.order_id
    with pytest.raises(NotFoundError, match="trades TEST-USD only"):
        await broker.get_quote("ETH-USD")
    with pytest.raises(NotImplementedError, match="no streams"):
        broker.stream_market_data(["TEST-USD"])


def test_metrics_on_a_known_curve() -> None:
    ts = np.array([0, 86_400, 2 * 86_400, 3 * 86_400], dtype=np.int64) * 1_000_000_000
    equity = np.array([100.0, 120.0, 90.0, 110.0])
    t0 = ns_to_dt(0)
    trades = [
        Trade(
            entry_time=t0,
            exit_time=t0,
            side="long",
            size=Decimal(1),
            entry_price=Decimal(1),
            exit_price=Decimal(2),
            fees=0.0,
            pnl=30.0,
        ),
        Trade(
            entry_time=t0,
            exit_time=t0,
            side="long",
            size=Decimal(1),
            entry_price=Decimal(1),
            exit_price=Decimal(2),
            fees=0.0,
            pnl=-10.0,
        ),
        Trade(
            entry_time=t0,
            exit_time=None,
            side="long",
            size=Decimal(1),
            entry_price=Decimal(1),
            exit_price=Decimal(2),
            fees=0.0,
            pnl=5.0,
        ),
    ]
    m = compute_metrics(equity, ts, trades, initial_cash=100.0, granularity_s=86_400, total_fees=1.5, exposure_bars=2)
    assert m["total_return"] == pytest.approx(0.10)
    assert m["max_drawdown"] == pytest.approx(0.25)  # 120 -> 90
    assert m["win_rate"] == pytest.approx(0.5) and m["profit_factor"] == pytest.approx(3.0)
    assert m["exposure"] == 0.5 and m["fees"] == 1.5 and m["trades"] == 3.0
    assert m["cagr"] == pytest.approx(1.1 ** (365 / 4) - 1)
    rets = np.array([0.0, 0.2, -0.25, 110 / 90 - 1])
    assert m["sharpe"] == pytest.approx(rets.mean() / rets.std(ddof=1) * np.sqrt(365))
    cagr = m["cagr"]
    assert cagr is not None
    assert m["calmar"] == pytest.approx(cagr / 0.25)
