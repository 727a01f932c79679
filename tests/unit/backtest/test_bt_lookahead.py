"""No look-ahead: appending future bars never changes past signals, equity or trades."""

from __future__ import annotations

import numpy as np
import pytest
from bt_helpers import SHARED_FILES, shared_bars, trade_keys

from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.backtest.engine import run_backtest
from gpt_trader.features.live_trade.strategies import get_strategy

FILE = SHARED_FILES[3]  # Coinbase hourly, 13k bars


@pytest.mark.parametrize("name", ["sma_cross", "mean_reversion", "baseline"])
@pytest.mark.parametrize("engine", ["fast", "replay"])
def test_future_bars_do_not_change_the_past(name: str, engine: str) -> None:
    bars = shared_bars(*FILE)
    strategy = get_strategy(name)
    cfg = BacktestConfig(stop_loss_pct=None)
    full = run_backtest(bars, strategy, cfg, engine)
    e_full, x_full = strategy.signals(bars)[:2]  # type: ignore[attr-defined]
    for cut in (700, 4000, 9001):
        part = run_backtest(bars.head(cut), strategy, cfg, engine)
        e, x = strategy.signals(bars.head(cut))[:2]  # type: ignore[attr-defined]
        assert np.array_equal(e, e_full[:cut]) and np.array_equal(x, x_full[:cut])
        np.testing.assert_array_equal(part.equity, full.equity[:cut])
        closed = [k for k in trade_keys(part) if k[1] is not None]
        assert closed == trade_keys(full)[: len(closed)]
        if len(part.trades) > len(closed):  # the still-open trade entered exactly as in the full run
            assert trade_keys(part)[-1][:1] == trade_keys(full)[len(closed)][:1]


def test_replay_venue_serves_closed_bars_only() -> None:
    import asyncio

    from gpt_trader.features.backtest.replay.broker import BacktestBroker

    bars = shared_bars(*FILE).head(100)
    broker = BacktestBroker(bars, BacktestConfig())

    async def probe() -> None:
        broker.set_bar(10)  # clock at bar 10's open: bars 0..9 have closed
        candles = await broker.get_candles(bars.symbol, 3600, limit=350)
        assert len(candles) == 10 and candles[-1].start.timestamp() * 1e9 == bars.ts_ns[9]
        await broker.advance_time(1800)  # half way through bar 10: still not closed
        assert len(await broker.get_candles(bars.symbol, 3600)) == 10
        await broker.advance_time(1800)
        assert len(await broker.get_candles(bars.symbol, 3600)) == 11
        quote = await broker.get_quote(bars.symbol)
        assert float(quote.last) == bars.open[11]
        with pytest.raises(ValueError, match="cannot go back"):
            broker.set_bar(3)

    asyncio.run(probe())
