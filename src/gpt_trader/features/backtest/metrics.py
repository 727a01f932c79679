"""Performance metrics from an equity curve and a trade list (floats: analytics, not money)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from gpt_trader.features.backtest.result import Trade

SECONDS_PER_YEAR = 365.0 * 86400.0  # crypto trades every day


def compute_metrics(
    equity: np.ndarray,
    ts_ns: np.ndarray,
    trades: Sequence[Trade],
    *,
    initial_cash: float,
    granularity_s: int,
    total_fees: float,
    exposure_bars: int,
    maker_fees: float = 0.0,
) -> dict[str, float | None]:
    n = int(equity.shape[0])
    final = float(equity[-1]) if n else initial_cash
    total_return = final / initial_cash - 1.0
    years = (float(ts_ns[-1] - ts_ns[0]) / 1e9 + granularity_s) / SECONDS_PER_YEAR if n else 0.0
    cagr = (final / initial_cash) ** (1.0 / years) - 1.0 if years > 0 and final > 0 else None
    curve = np.concatenate(([initial_cash], equity)) if n else np.array([initial_cash])
    returns = curve[1:] / curve[:-1] - 1.0
    per_year = SECONDS_PER_YEAR / granularity_s
    sharpe = sortino = None
    if returns.size > 1:
        sd = float(returns.std(ddof=1))
        mean = float(returns.mean())
        sharpe = mean / sd * math.sqrt(per_year) if sd > 0 else None
        downside = float(np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2)))
        sortino = mean / downside * math.sqrt(per_year) if downside > 0 else None
    peak = np.maximum.accumulate(curve)
    max_dd = float(np.max(1.0 - curve / peak)) if curve.size else 0.0
    calmar = cagr / max_dd if cagr is not None and max_dd > 0 else None
    closed = [t for t in trades if t.exit_time is not None]
    wins = [t.pnl for t in closed if t.pnl > 0]
    losses = [t.pnl for t in closed if t.pnl <= 0]
    win_rate = len(wins) / len(closed) if closed else None
    gross_loss = -sum(losses)
    profit_factor = sum(wins) / gross_loss if gross_loss > 0 else None
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
        "trades": float(len(trades)),
    }
