"""Performance metrics from an equity curve and the trade columns (floats: analytics, not money).

The curve statistics (mean, deviation and downside deviation of bar returns, maximum drawdown) come from
one compiled pass over the curve: an optimizer computes them for every trial.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numba import njit

from gpt_trader.features.backtest.result import Trade, TradeLog

SECONDS_PER_YEAR = 365.0 * 86400.0  # crypto trades every day


@njit(cache=True, nogil=True)
def curve_stats(initial_cash: float, equity: np.ndarray) -> tuple[float, float, float, float]:  # pragma: no cover
    """(mean, sample deviation, downside deviation) of the bar returns of [initial_cash, *equity], and the
    maximum drawdown of that curve (a fraction of the running peak). Sums of returns and of squares
    (bar returns are small, so the one-pass variance loses nothing that matters to a ratio)."""
    n = equity.shape[0]
    prev = initial_cash
    peak = initial_cash
    trough_ratio = 1.0  # min of x / peak
    total = 0.0
    total2 = 0.0
    down2 = 0.0
    for i in range(n):
        x = equity[i]
        r = x / prev - 1.0
        prev = x
        total += r
        total2 += r * r
        if r < 0.0:
            down2 += r * r
        if x > peak:
            peak = x
        elif x < peak * trough_ratio:
            trough_ratio = x / peak
    mean = total / n if n > 0 else 0.0
    var = (total2 - total * mean) / (n - 1) if n > 1 else 0.0
    sd = math.sqrt(var) if var > 0.0 else 0.0
    downside = math.sqrt(down2 / n) if n > 0 else 0.0
    return mean, sd, downside, 1.0 - trough_ratio


def compute_metrics(
    equity: np.ndarray,
    ts_ns: np.ndarray,
    trades: TradeLog | Sequence[Trade],
    *,
    initial_cash: float,
    granularity_s: int,
    total_fees: float,
    exposure_bars: int,
    maker_fees: float = 0.0,
) -> dict[str, float | None]:
    log = trades if isinstance(trades, TradeLog) else TradeLog.from_trades(trades)
    n = int(equity.shape[0])
    final = float(equity[-1]) if n else initial_cash
    total_return = final / initial_cash - 1.0
    years = (float(ts_ns[-1] - ts_ns[0]) / 1e9 + granularity_s) / SECONDS_PER_YEAR if n else 0.0
    cagr = (final / initial_cash) ** (1.0 / years) - 1.0 if years > 0 and final > 0 else None
    curve = np.ascontiguousarray(equity, dtype=np.float64)
    mean, sd, downside, max_dd = curve_stats(float(initial_cash), curve)
    per_year = SECONDS_PER_YEAR / granularity_s
    sharpe = sortino = None
    if n > 1:
        sharpe = mean / sd * math.sqrt(per_year) if sd > 0 else None
        sortino = mean / downside * math.sqrt(per_year) if downside > 0 else None
    calmar = cagr / max_dd if cagr is not None and max_dd > 0 else None
    closed_pnl = log.pnl[log.closed]
    wins = closed_pnl[closed_pnl > 0]
    gross_loss = -float(closed_pnl[closed_pnl <= 0].sum())
    win_rate = wins.size / closed_pnl.size if closed_pnl.size else None
    profit_factor = float(wins.sum()) / gross_loss if gross_loss > 0 else None
    return {
        "total_return": total_return,
        "cagr": cagr,
        "sharpe": sharpe,
        "sortino": sortino,
        "max_drawdown": max_dd,
        "calmar": calmar,
        "win_rate": win_rate,
        "profit_factor": profit_factor,
        "exposure": exposure_bars / n if n else 0.0,
        "fees": total_fees,
        "fees_maker": maker_fees,
        "fees_taker": total_fees - maker_fees,
        "trades": float(len(log)),
    }
