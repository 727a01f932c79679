"""How much of an optimizer's best result is luck: the probability of backtest overfitting (CSCV,
Bailey, Borwein, Lopez de Prado and Zhu 2015) and the deflated Sharpe ratio (Bailey and Lopez de Prado
2014). Both read per-period returns (floats: statistics, not money)."""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numpy as np

EULER_GAMMA = 0.5772156649015329


def _sharpe(returns: np.ndarray) -> np.ndarray:
    """Column-wise mean / sample deviation (0 where a column is flat)."""
    sd = returns.std(axis=0, ddof=1)
    mean = returns.mean(axis=0)
    return np.divide(mean, sd, out=np.zeros_like(mean), where=sd > 0)


def pbo_cscv(returns: np.ndarray, blocks: int = 16) -> tuple[float, np.ndarray]:
    """PBO of choosing the best of N configurations by Sharpe: `returns` is T periods x N configurations.

    Rows are cut into `blocks` (even) contiguous blocks; for every half of the blocks taken as in-sample
    (the rest out-of-sample) the in-sample best is ranked out of sample; PBO is the share of splits where
    it ranks at or below the median (logit <= 0). Returns (pbo, the logits)."""
    t, n = returns.shape
    if n < 2:
        raise ValueError(f"PBO needs at least 2 configurations, got {n}")
    if blocks < 2 or blocks % 2:
        raise ValueError(f"PBO blocks must be an even number >= 2, got {blocks}")
    if t < 2 * blocks:
        raise ValueError(f"PBO needs at least {2 * blocks} periods for {blocks} blocks, got {t}")
    parts = np.array_split(np.arange(t), blocks)
    logits = []
    for chosen in itertools.combinations(range(blocks), blocks // 2):
        mask = np.zeros(t, dtype=bool)
        for b in chosen:
            mask[parts[b]] = True
        best = int(np.argmax(_sharpe(returns[mask])))
        oos = _sharpe(returns[~mask])
        rank = float((oos < oos[best]).sum() + 1 + 0.5 * ((oos == oos[best]).sum() - 1))  # 1..n, ties halved
        omega = rank / (n + 1)
        logits.append(math.log(omega / (1.0 - omega)))
    lam = np.asarray(logits)
    return float((lam <= 0).mean()), lam


def expected_max_sharpe(trial_sharpes: np.ndarray) -> float:
    """The Sharpe ratio the best of N independent trials reaches by luck alone (the deflation's bar)."""
    n = trial_sharpes.size
    if n < 2:
        return 0.0
    sd = float(np.std(trial_sharpes, ddof=1))
    z = NormalDist()
    return sd * ((1 - EULER_GAMMA) * z.inv_cdf(1 - 1 / n) + EULER_GAMMA * z.inv_cdf(1 - 1 / (n * math.e)))


def deflated_sharpe(best_returns: np.ndarray, trial_sharpes: np.ndarray) -> float | None:
    """P(the best trial's true Sharpe > what N trials reach by luck), from its per-period returns (their
    skew and kurtosis) and the per-period Sharpe ratios of all N trials. None with < 3 periods."""
    r = np.asarray(best_returns, dtype=np.float64)
    t = r.size
    if t < 3:
        return None
    sd = float(r.std(ddof=1))
    if sd == 0:
        return None
    sr = float(r.mean()) / sd
    z = (r - r.mean()) / r.std()
    skew = float(np.mean(z**3))
    kurt = float(np.mean(z**4))
    sr0 = expected_max_sharpe(np.asarray(trial_sharpes, dtype=np.float64))
    denom = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if denom <= 0:
        return None
    return NormalDist().cdf((sr - sr0) * math.sqrt(t - 1) / math.sqrt(denom))
