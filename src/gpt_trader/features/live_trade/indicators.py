"""Indicators, written once for strategies, regime detection, ML features and both backtest engines.

The scalar functions take plain sequences of floats (oldest first) and return the value at the end of
the sequence; they are pure Python, so the live loop imports no research library. Each one depends
only on the last `need` values (no recursive state seeded at the start of the series), so a value
computed over a short live window equals the value computed over a long history at the same bar.

The `*_vec` functions are the vectorized forms for research code (numpy/numba imported lazily); each
is bit-identical to its scalar function at every bar (tests hold them together).
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# CPython < 3.12 `sum` adds floats left to right exactly like a plain loop; 3.12+ compensates, so it
# would no longer match the vectorized forms bit for bit.
_PLAIN_SUM = sys.version_info < (3, 12)


def _check_window(name: str, n: int, minimum: int = 1) -> None:
    if n < minimum:
        raise ValueError(f"{name}: window must be >= {minimum}, got {n}")


def sma(values: Sequence[float], n: int, end: int | None = None) -> float:
    """Mean of the `n` values ending at index `end` (exclusive; default: the end), summed oldest first.

    The summation order is part of the contract: the vectorized forms sum each window oldest first too,
    so both paths produce bit-identical averages.
    """
    stop = len(values) if end is None else end
    if _PLAIN_SUM:
        return float(sum(values[stop - n : stop], 0.0)) / n
    total = 0.0
    for v in values[stop - n : stop]:
        total += v
    return total / n


def log_returns(closes: Sequence[float]) -> list[float]:
    """ln(c[t] / c[t-1]) for every consecutive pair (0.0 where a close is not positive)."""
    out = []
    prev = closes[0] if closes else 0.0
    for c in closes[1:]:
        out.append(math.log(c / prev) if prev > 0.0 and c > 0.0 else 0.0)
        prev = c
    return out


def stdev(values: Sequence[float]) -> float:
    """Sample standard deviation (n - 1), 0.0 for fewer than two values."""
    n = len(values)
    if n < 2:
        return 0.0
    mean = sum(values, 0.0) / n
    return math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))


def realized_vol(closes: Sequence[float], n: int) -> float:
    """Standard deviation of the last `n` log returns (needs n + 1 closes)."""
    _check_window("realized_vol", n, 2)
    return stdev(log_returns(closes[-(n + 1) :]))


def momentum(closes: Sequence[float], n: int) -> float:
    """ln(close / close n bars ago) (needs n + 1 closes)."""
    _check_window("momentum", n)
    a, b = closes[-(n + 1)], closes[-1]
    return math.log(b / a) if a > 0.0 and b > 0.0 else 0.0


def rsi(closes: Sequence[float], n: int) -> float:
    """RSI over the last `n` changes with simple averages (Cutler's form: no seeded smoothing), 0..100."""
    _check_window("rsi", n)
    gain = loss = 0.0
    window = closes[-(n + 1) :]
    for a, b in itertools.pairwise(window):
        d = b - a
        if d > 0.0:
            gain += d
        else:
            loss -= d
    if gain + loss == 0.0:
        return 50.0
    return 100.0 * gain / (gain + loss)


def true_range(high: float, low: float, prev_close: float) -> float:
    return max(high - low, abs(high - prev_close), abs(low - prev_close))


def atr(high: Sequence[float], low: Sequence[float], close: Sequence[float], n: int) -> float:
    """Mean true range of the last `n` bars (needs n + 1 bars)."""
    _check_window("atr", n)
    m = len(close)
    total = 0.0
    for i in range(m - n, m):
        total += true_range(high[i], low[i], close[i - 1])
    return total / n


def adx(high: Sequence[float], low: Sequence[float], close: Sequence[float], n: int) -> float:
    """Trend strength 0..100: the mean over the last `n` bars of DX, each DX from `n`-bar sums of the
    directional moves and true ranges (simple sums, not Wilder's seeded smoothing; needs 2n bars)."""
    _check_window("adx", n)
    m = len(close)
    plus: list[float] = []
    minus: list[float] = []
    trs: list[float] = []
    for i in range(m - 2 * n + 1, m):
        up, down = high[i] - high[i - 1], low[i - 1] - low[i]
        plus.append(up if up > down and up > 0.0 else 0.0)
        minus.append(down if down > up and down > 0.0 else 0.0)
        trs.append(true_range(high[i], low[i], close[i - 1]))
    total = 0.0
    for j in range(n):
        tr = sum(trs[j : j + n], 0.0)
        if tr <= 0.0:
            continue
        p, q = sum(plus[j : j + n], 0.0) / tr, sum(minus[j : j + n], 0.0) / tr
        if p + q > 0.0:
            total += abs(p - q) / (p + q)
    return 100.0 * total / n


def volume_ratio(volume: Sequence[float], n: int) -> float:
    """Last bar's volume over the mean of the `n` bars before it (1.0 when that mean is 0)."""
    _check_window("volume_ratio", n)
    mean = sum(volume[-(n + 1) : -1], 0.0) / n
    return volume[-1] / mean if mean > 0.0 else 1.0


# ---------------------------------------------------------------- vectorized forms (research only)


def sma_vec(close: np.ndarray, n: int) -> np.ndarray:
    """out[t] = `sma(close[:t+1], n)` bit for bit (NaN before the window is full); compiled."""
    from gpt_trader.features.live_trade.indicators_compiled import sma as _sma

    return _sma(close, n)


def mean_diff_sign_vec(close: np.ndarray, a: int, b: int) -> np.ndarray:
    """int8 per bar: the sign of `sma(.., a) - sma(.., b)` exactly as the scalar averages compare
    (0 before both windows are full); `a` may be 1 (the close itself). O(n), compiled."""
    from gpt_trader.features.live_trade.indicators_compiled import mean_diff_sign

    return mean_diff_sign(close, a, b)
