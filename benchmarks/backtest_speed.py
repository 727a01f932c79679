"""Backtest speed: one symbol-year of 1-minute bars (525,600), sma_cross 20/50, fee 60 bps.

Prints symbol-days/s for the fast engine's whole call (`run_backtest`: bars in, result with trade columns
and metrics out, warm), the replay engine, and vectorbt doing the same work through its usual API
(`MA.run`, `ma_crossed_above`/`below`, `Portfolio.from_signals` at the next open, then the final value,
trade count and Sharpe), warm, side by side in this process: once on numpy arrays (vectorbt's fastest
path) and once on pandas Series (its documented usage; much slower with pandas 3). Then the wall time of a
whole `perps-bot backtest` process on the same bars (Parquet). Bars are a seeded random walk on the 0.01
grid (no year of real 1m data ships with the repo). Targets (issues 7, 16): the whole fast call >= 10x
vectorbt warm, replay >= 100 symbol-days/s, whole process <= 2 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

BARS = 525_600
DAYS = BARS / 1440
OUT = Path("var/bench/backtest")


def make_bars(seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, 0.0009, BARS)  # ~1.6% daily vol
    close = np.round(40_000.0 * np.exp(np.cumsum(steps)), 2)
    opens = np.round(np.concatenate(([40_000.0], close[:-1])) * (1 + rng.normal(0, 0.0001, BARS)), 2)
    high = np.maximum(opens, close) + np.round(rng.uniform(0, 5, BARS), 2)
    low = np.minimum(opens, close) - np.round(rng.uniform(0, 5, BARS), 2)
    idx = pd.date_range("2024-01-01", periods=BARS, freq="1min", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": opens, "high": high, "low": low, "close": close, "volume": rng.uniform(0.1, 5, BARS)}, index=idx
    )


def best_of(fn, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        times.append(fn())
    return min(times)


def main() -> int:
    from gpt_trader.features.backtest.bars import Bars
    from gpt_trader.features.backtest.config import BacktestConfig
    from gpt_trader.features.backtest.engine import run_backtest
    from gpt_trader.features.live_trade.strategies import get_strategy

    df = make_bars()
    bars = Bars.from_frame(df, "BTC-USD", 60)
    strategy = get_strategy("sma_cross", fast=20, slow=50)
    cfg = BacktestConfig(fee_bps=Decimal(60))

    run_backtest(bars, strategy, cfg, "fast")  # compile or load the numba caches

    def whole_call() -> float:
        t0 = time.perf_counter()
        run_backtest(bars, strategy, cfg, "fast")
        return time.perf_counter() - t0

    fast_s = best_of(whole_call, 7)
    fast = run_backtest(bars, strategy, cfg, "fast")
    replay = run_backtest(bars, strategy, cfg, "replay")
    same = [(t.entry_time, t.size, t.entry_price, t.exit_price) for t in fast.trades] == [
        (t.entry_time, t.size, t.entry_price, t.exit_price) for t in replay.trades
    ]
    print(f"bars: {BARS:,} 1m ({DAYS:.0f} symbol-days), sma_cross 20/50, fee 60 bps, trades: {len(fast.trades)}")
    print(
        f"fast engine   : {fast_s * 1000:8.1f} ms  -> {DAYS / fast_s:12,.0f} symbol-days/s "
        f"(whole run_backtest call, best of 7, warm; its elapsed_s {fast.elapsed_s * 1000:.1f} ms)"
    )
    print(f"replay engine : {replay.elapsed_s * 1000:8.1f} ms  -> {DAYS / replay.elapsed_s:12,.0f} symbol-days/s")
    print(
        f"parity fast/replay: trades identical={same}, "
        f"final equity rel diff={abs(fast.final_equity / replay.final_equity - 1):.1e}"
    )

    try:
        import vectorbt as vbt
    except ImportError:
        print("vectorbt       : not installed")
        vbt_s = None
    else:

        def vbt_run(close: Any, opens: Any) -> float:
            t0 = time.perf_counter()
            f = vbt.MA.run(close, 20)
            s = vbt.MA.run(close, 50)
            up = np.asarray(f.ma_crossed_above(s)).ravel()
            down = np.asarray(f.ma_crossed_below(s)).ravel()
            entries = np.concatenate(([False], up[:-1]))  # decided on t's close, filled at t+1's open
            exits = np.concatenate(([False], down[:-1]))
            if isinstance(close, pd.Series):
                entries = pd.Series(entries, index=close.index)
                exits = pd.Series(exits, index=close.index)
            pf = vbt.Portfolio.from_signals(
                close,
                entries,
                exits,
                price=opens,
                fees=0.006,
                size=np.inf,
                init_cash=10_000.0,
                direction="longonly",
                freq="1min",
            )
            pf.final_value()
            pf.trades.count()
            pf.sharpe_ratio()
            return time.perf_counter() - t0

        for label, close, opens, runs in (
            ("numpy arrays", df["close"].to_numpy(), df["open"].to_numpy(), 3),
            ("pandas Series", df["close"], df["open"], 1),
        ):
            vbt_run(close, opens)
            vbt_s = best_of(lambda c=close, o=opens: vbt_run(c, o), runs)
            print(
                f"vectorbt ({label}): {vbt_s * 1000:8.1f} ms  -> {DAYS / vbt_s:12,.0f} symbol-days/s "
                f"(best of {runs}, warm); whole fast call is {vbt_s / fast_s:.1f}x faster"
            )

    OUT.mkdir(parents=True, exist_ok=True)
    data = OUT / "bench_1m_year.parquet"
    df.to_parquet(data)
    exe = shutil.which("perps-bot") or str(Path(sys.executable).with_name("perps-bot"))
    cmd = [
        exe,
        "backtest",
        "--data",
        str(data),
        "--symbol",
        "BTC-USD",
        "--granularity",
        "1m",
        "--strategy",
        "sma_cross",
        "--param",
        "fast=20",
        "--param",
        "slow=50",
        "--fee-bps",
        "60",
        "--json",
    ]
    if not Path(exe).exists():
        cmd = [sys.executable, "-m", "gpt_trader.cli", *cmd[1:]]
    subprocess.run(cmd, check=True, capture_output=True, env=dict(os.environ))  # warm the OS file cache
    walls = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
    print(f"whole `perps-bot backtest` process: {min(walls):.2f} s wall (best of 3; median {sorted(walls)[1]:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
