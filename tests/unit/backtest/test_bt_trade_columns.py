"""The fast engine returns trades as columns; objects are built only when asked, and agree with them."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np
import pytest
from bt_helpers import make_bars

from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.backtest.engine import run_backtest
from gpt_trader.features.backtest.metrics import compute_metrics, curve_stats
from gpt_trader.features.backtest.result import TradeLog, dt_to_ns
from gpt_trader.features.live_trade.strategies import get_strategy


def _walk(n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = np.round(100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n))), 2)
    opens = np.round(np.concatenate(([100.0], close[:-1])), 2)
    return opens, close


def test_trades_are_built_lazily_and_match_the_columns() -> None:
    opens, close = _walk(3000)
    bars = make_bars(opens.tolist(), close.tolist(), freq="1h")
    res = run_backtest(bars, get_strategy("sma_cross", fast=5, slow=20), BacktestConfig(fee_bps=Decimal(40)))
    log = res.trade_log
    assert len(log) > 20 and log._trades is None  # columns only until someone asks
    trades = res.trades
    assert log._trades is trades and res.trades is trades  # built once
    assert list(log.pnl) == [t.pnl for t in trades]  # the column pnl is the Decimal-exact pnl, bit for bit
    assert list(log.fees) == [t.fees for t in trades]
    assert list(log.entry_ns) == [dt_to_ns(t.entry_time) for t in trades]
    assert [bool(c) for c in log.closed] == [t.exit_time is not None for t in trades]
    again = TradeLog.from_trades(trades)  # the replay engines' path gives the same columns
    np.testing.assert_array_equal(again.pnl, log.pnl)
    np.testing.assert_array_equal(again.exit_ns, log.exit_ns)
    m_cols = compute_metrics(
        res.equity,
        res.ts_ns,
        log,
        initial_cash=res.initial_cash,
        granularity_s=res.granularity_s,
        total_fees=res.total_fees,
        exposure_bars=res.exposure_bars,
    )
    m_objs = compute_metrics(
        res.equity,
        res.ts_ns,
        trades,
        initial_cash=res.initial_cash,
        granularity_s=res.granularity_s,
        total_fees=res.total_fees,
        exposure_bars=res.exposure_bars,
    )
    assert m_cols == m_objs == res.metrics


def test_curve_stats_agree_with_numpy() -> None:
    _, close = _walk(5000, seed=9)
    curve = np.concatenate(([100.0], close))
    rets = curve[1:] / curve[:-1] - 1.0
    mean, sd, downside, max_dd = curve_stats(100.0, close)
    assert mean == pytest.approx(rets.mean(), rel=1e-9)
    assert sd == pytest.approx(rets.std(ddof=1), rel=1e-7)
    assert downside == pytest.approx(math.sqrt(np.mean(np.minimum(rets, 0.0) ** 2)), rel=1e-9)
    assert max_dd == pytest.approx(np.max(1.0 - curve / np.maximum.accumulate(curve)), rel=1e-12)


def test_elapsed_covers_the_whole_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """elapsed_s includes what follows the kernel (trade columns, metrics): slow the metrics down by
    50 ms and the reported time grows by at least that much."""
    import time

    import gpt_trader.features.backtest.fast.engine as fast_engine

    opens, close = _walk(2000)
    bars = make_bars(opens.tolist(), close.tolist(), freq="1h")
    strategy = get_strategy("sma_cross", fast=5, slow=20)
    real = fast_engine.compute_metrics

    def slow_metrics(*args: Any, **kwargs: Any) -> dict[str, float | None]:
        time.sleep(0.05)
        return real(*args, **kwargs)

    monkeypatch.setattr(fast_engine, "compute_metrics", slow_metrics)
    t0 = time.perf_counter()
    res = run_backtest(bars, strategy, BacktestConfig())
    wall = time.perf_counter() - t0
    assert 0.05 <= res.elapsed_s <= wall
