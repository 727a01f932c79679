"""Cross-check against an independent engine (vectorbt) on the shared real data, with the venue's
settlement (notionals and fees exact, prices on the tick grid, sizes on the base increment).

1. Signals and sizing: vectorbt, sizing on its own, makes the same sma_cross trades at the same prices,
   sizes within 1e-6 (it floors sizes with a float division, which can land a satoshi lower).
2. Accounting: driven with our sizes, vectorbt's fills, fees and cash give the same final equity to 1e-9
   relative (measured worst 3.2e-14 over these files; 3.9e-6 when fees and notionals were rounded to
   the cent). 99 % sizing keeps cash away from zero, where vectorbt snaps a residual within its float
   tolerance to 0.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from btint_helpers import SHARED_FILES, shared_bars

from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.backtest.engine import run_backtest
from gpt_trader.features.backtest.result import ns_to_dt
from gpt_trader.features.live_trade.strategies import get_strategy

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("params", "fee_bps"), [({}, 60), ({"fast": 10, "slow": 30}, 10)])
@pytest.mark.parametrize("file", SHARED_FILES, ids=lambda f: f[0].split("_")[0] + "_" + f[2])
def test_sma_cross_matches_vectorbt(file: tuple[str, str, str], params: dict[str, int], fee_bps: int) -> None:
    vbt = pytest.importorskip("vectorbt")
    bars = shared_bars(*file)
    strategy = get_strategy("sma_cross", **params)
    cash = 1_000_000.0  # large enough that whole-satoshi sizes stay negligible after heavy fee drag
    cfg = BacktestConfig(initial_cash=Decimal(int(cash)), fee_bps=Decimal(fee_bps), size_pct=Decimal(99))
    ours = run_backtest(bars, strategy, cfg, "fast")

    entries, exits = strategy.signals(bars)[:2]  # type: ignore[attr-defined]
    e_next = np.concatenate(([False], entries[:-1]))  # decided on t's close, filled at t+1's open
    x_next = np.concatenate(([False], exits[:-1]))
    common = {"price": bars.open, "fees": fee_bps / 10_000, "init_cash": cash, "direction": "longonly"}
    pf = vbt.Portfolio.from_signals(  # numpy inputs: the pandas-wrapped path is far slower here
        bars.close,
        e_next,
        x_next,
        size=0.99,
        size_type="percent",
        size_granularity=np.where(e_next, 1e-8, np.nan),  # whole satoshis; sells close all
        **common,
    )
    theirs = pf.trades.records_arr
    assert len(theirs) == len(ours.trades)
    ts = bars.ts_ns
    got = [(t.entry_time, t.exit_time) for t in ours.trades]
    want = [
        (ns_to_dt(int(ts[r["entry_idx"]])), None if r["status"] == 0 else ns_to_dt(int(ts[r["exit_idx"]])))
        for r in theirs
    ]
    assert got == want
    for t, r in zip(ours.trades, theirs, strict=True):
        assert float(t.entry_price) == pytest.approx(r["entry_price"], rel=1e-12)
        assert float(t.size) == pytest.approx(r["size"], rel=1e-6)

    sizes = np.full(len(ts), np.inf)  # sells close all
    sizes[theirs["entry_idx"]] = [float(t.size) for t in ours.trades]
    exact = vbt.Portfolio.from_signals(bars.close, e_next, x_next, size=sizes, **common)
    assert [float(t.size) for t in ours.trades] == list(exact.trades.records_arr["size"])
    final_vbt = float(np.asarray(exact.value())[-1])  # cash + position at the last close (as ours)
    rel = abs(ours.final_equity / final_vbt - 1.0)
    print(f"final equity relative difference vs vectorbt: {rel:.3e}")
    assert rel <= 1e-9, (ours.final_equity, final_vbt)
