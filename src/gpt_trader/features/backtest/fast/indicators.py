"""Vectorized indicators whose values are bit-identical to the live incremental ones.

`base.sma` sums each window oldest first in float64 and divides by n. `sma` here does exactly those
IEEE operations for every window; windows are processed in blocks so the compiler can run many windows
side by side (each window's own addition order is untouched, so no result changes).
"""

from __future__ import annotations

import numpy as np
from numba import njit

_BLOCK = 512


@njit(cache=True, nogil=True)
def _rolling_mean_oldest_first(x: np.ndarray, n: int) -> np.ndarray:  # pragma: no cover - compiled
    size = x.shape[0]
    out = np.full(size, np.nan)
    if n > size:
        return out
    first = n - 1
    acc = np.zeros(_BLOCK)
    for start in range(first, size, _BLOCK):
        stop = min(start + _BLOCK, size)
        m = stop - start
        for i in range(m):
            acc[i] = 0.0
        for k in range(n):
            base = start - first + k
            for i in range(m):
                acc[i] += x[base + i]
        for i in range(m):
            out[start + i] = acc[i] / n
    return out


def sma(close: np.ndarray, n: int) -> np.ndarray:
    """out[t] = mean of close[t-n+1 .. t] summed oldest first (NaN before the window is full)."""
    if n < 1:
        raise ValueError(f"sma window must be >= 1, got {n}")
    x = np.ascontiguousarray(close, dtype=np.float64)
    result: np.ndarray = _rolling_mean_oldest_first(x, int(n))
    return result


def sma_numpy(close: np.ndarray, n: int) -> np.ndarray:
    """Reference without numba: the same per-window order, one vector pass per window offset."""
    x = np.asarray(close, dtype=np.float64)
    out = np.full(x.shape[0], np.nan)
    if n > x.shape[0]:
        return out
    width = x.shape[0] - n + 1
    acc = np.zeros(width)
    for k in range(n):
        acc += x[k : k + width]
    out[n - 1 :] = acc / n
    return out
