"""Walk-forward: optimize on each train window, score the best parameters on the test window after it.

Fold k trains on days [k x test, k x test + train) and tests on the `test_days` after; folds step by
the test length, so the test windows tile the data and their curves stitch into one out-of-sample curve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from gpt_trader.features.backtest.bars import NS_PER_DAY, Bars
from gpt_trader.features.optimize.objective import Job
from gpt_trader.features.optimize.space import SearchSpace
from gpt_trader.features.optimize.study import StopFlag, open_study, run_study

if TYPE_CHECKING:
    from gpt_trader.features.optimize.executors import Executor


@dataclass
class Fold:
    """One walk-forward fold: its windows (bar indices and times), best parameters, IS and OOS scores."""

    index: int
    train: tuple[int, int]
    test: tuple[int, int]
    train_start_ns: int
    test_start_ns: int
    test_end_ns: int
    best_params: dict[str, Any]
    in_sample: float
    out_of_sample: float | None
    oos_metrics: dict[str, float | None]
    oos_ts_ns: np.ndarray
    oos_equity: np.ndarray
    trials: int

    def to_dict(self) -> dict[str, Any]:
        from gpt_trader.features.backtest.result import iso, ns_to_dt

        return {
            "fold": self.index,
            "train_start": iso(ns_to_dt(self.train_start_ns)),
            "test_start": iso(ns_to_dt(self.test_start_ns)),
            "test_end": iso(ns_to_dt(self.test_end_ns)),
            "best_params": self.best_params,
            "in_sample": _num(self.in_sample),
            "out_of_sample": _num(self.out_of_sample),
            "oos_return": _num(self.oos_metrics.get("total_return")),
            "trials": self.trials,
        }


def _num(v: float | None) -> float | None:
    return None if v is None or not np.isfinite(v) else float(v)


def fold_windows(bars: Bars, folds: int, train_days: float, test_days: float) -> list[tuple[int, int, int]]:
    """(train_lo, test_lo, test_hi) bar indices per fold; refuses folds the data cannot hold."""
    if folds < 1 or train_days <= 0 or test_days <= 0:
        raise ValueError(
            f"walk-forward needs --walk-forward >= 1 and --train-days, --test-days > 0; "
            f"got {folds}, {train_days}, {test_days}"
        )
    if len(bars) == 0:
        raise ValueError("walk-forward: no bars")
    start = int(bars.ts_ns[0])
    span_days = (int(bars.ts_ns[-1]) - start) / NS_PER_DAY + bars.granularity_s / 86400
    need = train_days + folds * test_days
    if need > span_days + 1e-9:
        raise ValueError(
            f"walk-forward: {folds} folds of {train_days:g} train + {test_days:g} test days need {need:g} days; "
            f"the data spans {span_days:.1f}"
        )
    out = []
    for k in range(folds):
        t0 = start + int(k * test_days * NS_PER_DAY)
        t1 = t0 + int(train_days * NS_PER_DAY)
        t2 = t1 + int(test_days * NS_PER_DAY)
        lo, mid, hi = (int(np.searchsorted(bars.ts_ns, x, side="left")) for x in (t0, t1, t2))
        out.append((lo, mid, hi))
    return out


def walk_forward(
    bars: Bars,
    space: SearchSpace,
    executor: Executor,
    *,
    folds: int,
    train_days: float,
    test_days: float,
    trials: int,
    method: str,
    objective: str,
    seed: int | None,
    progress: bool = True,
    stop: StopFlag | None = None,
) -> list[Fold]:
    out: list[Fold] = []
    for k, (lo, mid, hi) in enumerate(fold_windows(bars, folds, train_days, test_days)):
        if stop is not None and stop.event.is_set():
            break
        study = open_study(
            name=f"fold{k}",
            storage=None,
            method=method,
            space=space,
            objective=objective,
            seed=None if seed is None else seed + 1000 * (k + 1),
            resume=False,
            attrs={},
        )
        run = run_study(
            study,
            space,
            executor,
            trials,
            objective,
            lo=lo,
            hi=mid,
            progress=progress,
            label=f"fold {k + 1}/{folds}",
            stop=stop,
        )
        if not run.completed:
            raise ValueError(f"walk-forward fold {k}: no trial completed on the train window")
        best = run.study.best_trial
        params = {**space.fixed, **best.params}
        [oos] = executor.run([Job(params, mid, hi, curve=True)])
        out.append(
            Fold(
                index=k,
                train=(lo, mid),
                test=(mid, hi),
                train_start_ns=int(bars.ts_ns[lo]),
                test_start_ns=int(bars.ts_ns[mid]),
                test_end_ns=int(bars.ts_ns[hi - 1]) if hi > mid else int(bars.ts_ns[mid]),
                best_params=params,
                in_sample=float(best.value) if best.value is not None else float("nan"),
                out_of_sample=oos.value,
                oos_metrics=oos.metrics,
                oos_ts_ns=oos.ts_ns if oos.ts_ns is not None else np.zeros(0, np.int64),
                oos_equity=oos.equity if oos.equity is not None else np.zeros(0),
                trials=run.completed_now,
            )
        )
    return out


def stitched_equity(folds: list[Fold], initial_cash: float) -> tuple[np.ndarray, np.ndarray]:
    """The test windows' curves chained: each fold starts with the capital the previous one ended with."""
    ts, eq = [], []
    capital = initial_cash
    for f in folds:
        if f.oos_equity.size == 0:
            continue
        curve = f.oos_equity / initial_cash * capital
        ts.append(f.oos_ts_ns)
        eq.append(curve)
        capital = float(curve[-1])
    if not ts:
        return np.zeros(0, np.int64), np.zeros(0)
    return np.concatenate(ts), np.concatenate(eq)
