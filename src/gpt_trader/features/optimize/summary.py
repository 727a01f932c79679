"""What an optimize run says: best trial, top trials, overfitting measures, walk-forward folds, and the
best parameters as a profile snippet; one dict for the JSON, the console table and the HTML report."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from gpt_trader.features.backtest.bars import NS_PER_DAY, Bars
from gpt_trader.features.backtest.config import BacktestConfig
from gpt_trader.features.optimize.objective import Job
from gpt_trader.features.optimize.overfitting import deflated_sharpe, pbo_cscv
from gpt_trader.features.optimize.space import SearchSpace

if TYPE_CHECKING:
    from gpt_trader.features.optimize.executors import Executor
    from gpt_trader.features.optimize.study import StudyRun
    from gpt_trader.features.optimize.walkforward import Fold

PBO_CONFIGS = 16  # configurations (spread over the value ranking) whose curves the CSCV compares
PBO_BLOCKS = 16


def daily_returns(equity: np.ndarray, ts_ns: np.ndarray, initial_cash: float) -> np.ndarray:
    """Returns of the equity at each UTC day's last bar (the first against the initial cash)."""
    if equity.size == 0:
        return np.zeros(0)
    day = ts_ns // NS_PER_DAY
    last = np.flatnonzero(np.append(day[1:] != day[:-1], True))
    closes = np.concatenate(([initial_cash], equity[last]))
    return closes[1:] / closes[:-1] - 1.0


def _finite(v: Any) -> float | None:
    return float(v) if v is not None and math.isfinite(float(v)) else None


def _rank_value(v: float | None, maximize: bool) -> float:
    """A trial's value for ranking: an undefined one ranks last."""
    if v is None or not math.isfinite(v):
        return -math.inf if maximize else math.inf
    return v


def profile_snippet(strategy: str, params: dict[str, Any]) -> str:
    """The best parameters as a profile's `strategy:` section (YAML)."""
    body = ", ".join(f"{k}: {json_scalar(v)}" for k, v in params.items())
    return f"strategy:\n  name: {strategy}\n  params: {{{body}}}\n"


def json_scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, float) else str(v)


def overfitting(
    run: StudyRun, space: SearchSpace, executor: Executor, bars: Bars, initial_cash: float
) -> dict[str, Any]:
    """PBO (CSCV) over up to 16 distinct configurations spread over the ranking (the best included),
    and the deflated Sharpe ratio of the best against every completed trial's Sharpe."""
    done = [t for t in run.completed if t.value is not None and math.isfinite(t.value)]
    out: dict[str, Any] = {"pbo": None, "pbo_configs": 0, "pbo_blocks": 0, "deflated_sharpe": None, "note": None}
    if len(done) < 2:
        out["note"] = "fewer than 2 completed trials"
        return out
    ranked = sorted(done, key=lambda t: float(t.value or 0.0), reverse=run.study.direction.name == "MAXIMIZE")
    distinct: list[dict[str, Any]] = []
    for t in ranked:
        p = {**space.fixed, **t.params}
        if p not in distinct:
            distinct.append(p)
    pick = np.unique(np.linspace(0, len(distinct) - 1, min(PBO_CONFIGS, len(distinct))).astype(int))
    outcomes = executor.run([Job(distinct[i], curve=True) for i in pick])
    rets = np.column_stack([daily_returns(o.equity, o.ts_ns, initial_cash) for o in outcomes])
    days = rets.shape[0]
    blocks = min(PBO_BLOCKS, days // 2)
    blocks -= blocks % 2
    if rets.shape[1] >= 2 and blocks >= 2:
        pbo, _ = pbo_cscv(rets, blocks)
        out.update(pbo=pbo, pbo_configs=int(rets.shape[1]), pbo_blocks=blocks)
    else:
        out["note"] = f"PBO needs >= 2 distinct configurations and >= 4 days ({rets.shape[1]}, {days})"
    sharpes = [t.user_attrs.get("metrics", {}).get("sharpe") for t in done]
    per_day = np.array([s for s in sharpes if s is not None]) / math.sqrt(365.0)
    if per_day.size >= 2:
        out["deflated_sharpe"] = deflated_sharpe(rets[:, 0], per_day)
        out["trials_for_deflation"] = int(per_day.size)
    return out


def summarize(
    run: StudyRun,
    space: SearchSpace,
    executor: Executor,
    bars: Bars,
    config: BacktestConfig,
    folds: list[Fold],
    storage: str,
    name: str,
) -> dict[str, Any]:
    study = run.study
    completed = run.completed
    initial = float(config.initial_cash)
    summary: dict[str, Any] = {"strategy": space.strategy, "study": name, "storage": storage}
    best_params: dict[str, Any] | None = None
    best_value: float | None = None
    if completed:
        best = study.best_trial
        best_params = {**space.fixed, **best.params}
        best_value = _finite(best.value)
    reverse = study.direction.name == "MAXIMIZE"
    ranked = sorted(
        (t for t in completed if t.value is not None),
        key=lambda t: _rank_value(t.value, reverse),
        reverse=reverse,
    )
    top = [
        {
            "number": t.number,
            "value": _finite(t.value),
            "params": {**space.fixed, **t.params},
            "metrics": t.user_attrs.get("metrics", {}),
        }
        for t in ranked[:50]
    ]
    over = overfitting(run, space, executor, bars, initial)
    wf: dict[str, Any] | None = None
    if folds:
        from gpt_trader.features.optimize.walkforward import stitched_equity

        ts, eq = stitched_equity(folds, initial)
        wf = {
            "folds": [f.to_dict() for f in folds],
            "stitched_oos_return": float(eq[-1] / initial - 1.0) if eq.size else None,
            "mean_in_sample": _finite(np.mean([f.in_sample for f in folds])),
            "mean_out_of_sample": _finite(np.mean([f.out_of_sample for f in folds if f.out_of_sample is not None]))
            if any(f.out_of_sample is not None for f in folds)
            else None,
        }
        summary["stitched"] = (ts, eq)
    snippet = profile_snippet(space.strategy, best_params) if best_params is not None else None
    summary["json"] = {
        "strategy": space.strategy,
        "study": name,
        "storage": storage,
        "objective": run.objective,
        "space": space.describe(),
        "best_params": best_params,
        "best_value": best_value,
        "trials": len(completed),
        "trials_this_run": run.completed_now,
        "failed_this_run": run.failed_now,
        "interrupted": run.interrupted,
        "notes": run.notes,
        "overfitting": over,
        "walk_forward": wf,
        "top_trials": top,
        "profile_snippet": snippet,
    }
    return summary
