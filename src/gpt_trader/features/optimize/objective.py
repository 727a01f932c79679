"""What a trial measures: one fast backtest of one parameter set over a bar range, scored by a metric.

`Evaluator` is what every executor runs (in this process, in a pool worker or a Ray actor); it holds
the bars once and answers `Job`s (parameters and a bar range) with `Outcome`s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from gpt_trader.features.backtest.bars import Bars
from gpt_trader.features.backtest.config import BacktestConfig

# objective name -> (metric key in BacktestResult.metrics, direction)
OBJECTIVES: dict[str, tuple[str, str]] = {
    "sharpe": ("sharpe", "maximize"),
    "sortino": ("sortino", "maximize"),
    "calmar": ("calmar", "maximize"),
    "return": ("total_return", "maximize"),
    "cagr": ("cagr", "maximize"),
    "profit_factor": ("profit_factor", "maximize"),
    "win_rate": ("win_rate", "maximize"),
    "max_drawdown": ("max_drawdown", "minimize"),
}


def objective_of(name: str) -> tuple[str, str]:
    try:
        return OBJECTIVES[name]
    except KeyError:
        raise ValueError(f"--objective must be one of {sorted(OBJECTIVES)}, got {name!r}") from None


@dataclass(frozen=True)
class Job:
    """One evaluation: parameters over bars [lo, hi); `curve` asks for the equity curve back."""

    params: dict[str, Any]
    lo: int = 0
    hi: int = -1
    curve: bool = False


@dataclass
class Outcome:
    """A trial's score (None: the strategy refused the parameters, `error` says why) and its metrics."""

    value: float | None
    metrics: dict[str, float | None] = field(default_factory=dict)
    error: str | None = None
    equity: Any = None  # numpy array when the job asked for the curve
    ts_ns: Any = None


class Evaluator:
    """Runs jobs against one set of bars with one strategy, config and objective (per process, once)."""

    def __init__(self, bars: Bars, strategy: str, config: BacktestConfig, objective: str) -> None:
        self.bars = bars
        self.strategy = strategy
        self.config = config
        self.metric, self.direction = objective_of(objective)

    def worst(self) -> float:
        """Where an undefined metric (no trades, a flat curve) ranks: last."""
        return -math.inf if self.direction == "maximize" else math.inf

    def __call__(self, job: Job) -> Outcome:
        from gpt_trader.features.backtest.fast.engine import run_fast
        from gpt_trader.features.live_trade.strategies import get_strategy

        try:
            strategy = get_strategy(self.strategy, **job.params)
        except ValueError as exc:  # a combination the strategy refuses (fast >= slow, say)
            return Outcome(None, error=str(exc))
        bars = self.bars.window(job.lo, job.hi if job.hi >= 0 else len(self.bars))
        if len(bars) < 2:
            return Outcome(None, error=f"bar range [{job.lo}, {job.hi}) holds {len(bars)} bars")
        res = run_fast(bars, strategy, self.config)
        raw = res.metrics.get(self.metric)
        value = float(raw) if raw is not None and math.isfinite(raw) else self.worst()
        if job.curve:
            return Outcome(value, res.metrics, equity=res.equity, ts_ns=res.ts_ns)
        return Outcome(value, res.metrics)

    def run_many(self, jobs: list[Job]) -> list[Outcome]:
        return [self(j) for j in jobs]
