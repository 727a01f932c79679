"""Compiled (numba) backends of `indicators`: rolling means bit-identical to the live ones, and an exact
O(n) comparison of two moving averages. Research only: imported lazily by `indicators` vector functions,
never by the live loop.

`indicators.sma` sums each window oldest first in float64 and divides by n. `sma` here does exactly those
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


# ----------------------------------------------------------------------------------------------------
# Exact comparison of two moving averages in O(n).
#
# When every close is the double nearest to an integer number of 10**-k units (prices on a decimal
# grid), the true window sums are exact int64 sums. The live value sma_n (oldest-first float sum, then
# / n) differs from the true mean by at most (n + 3) u max|x| (u = 2**-53: recursive summation error
# gamma_{n-1}, the grid rounding of each close, the division). So the sign of sma_a - sma_b is the sign of
# the exact integer D = S_a * b - S_b * a whenever |D| exceeds that bound in integer units; only the
# remaining (near-tie) bars are recomputed in the live order. The booleans are therefore the live ones.
# ----------------------------------------------------------------------------------------------------
_U = 2.0**-53


@njit(cache=True, nogil=True)
def _live_mean(x: np.ndarray, n: int, t: int) -> float:  # pragma: no cover - compiled
    acc = 0.0
    for k in range(t - n + 1, t + 1):
        acc += x[k]
    return acc / n


@njit(cache=True, nogil=True)
def _sign_of_mean_diff(
    x: np.ndarray, units: np.ndarray, a: int, b: int, threshold: float
) -> tuple[np.ndarray, int]:  # pragma: no cover - compiled
    size = x.shape[0]
    out = np.zeros(size, np.int8)
    m = max(a, b)
    if m > size:
        return out, 0
    sa = np.int64(0)
    sb = np.int64(0)
    for i in range(m - a, m - 1):
        sa += units[i]
    for i in range(m - b, m - 1):
        sb += units[i]
    exact = 0
    for t in range(m - 1, size):
        sa += units[t]
        sb += units[t]
        d = sa * b - sb * a
        if d > threshold:
            out[t] = 1
        elif d < -threshold:
            out[t] = -1
        else:
            exact += 1
            fa, fb = _live_mean(x, a, t), _live_mean(x, b, t)
            out[t] = 1 if fa > fb else (-1 if fa < fb else 0)
        sa -= units[t - a + 1]
        sb -= units[t - b + 1]
    return out, exact


@njit(cache=True, nogil=True)
def _to_units(x: np.ndarray, scale: float, units: np.ndarray) -> float:  # pragma: no cover - compiled
    """max|x| if every x is the double nearest to an integer / scale (filling `units`), else -1."""
    limit = 4e18 / max(x.shape[0], 1)
    biggest = 0.0
    for i in range(x.shape[0]):
        v = np.rint(x[i] * scale)
        if v / scale != x[i] or abs(v) >= limit:
            return -1.0
        units[i] = np.int64(v)
        if abs(x[i]) > biggest:
            biggest = abs(x[i])
    return biggest


def grid_units(close: np.ndarray, max_places: int = 8) -> tuple[np.ndarray, int, float] | None:
    """(integer units, scale, max|close|) when every close is the double nearest to units / scale."""
    x = np.ascontiguousarray(close, dtype=np.float64)
    if x.size == 0:
        return None
    units = np.empty(x.size, dtype=np.int64)
    for places in range(max_places + 1):
        scale = 10**places
        biggest = _to_units(x, float(scale), units)
        if biggest >= 0.0:
            return units, scale, biggest
    return None


def mean_diff_sign(close: np.ndarray, a: int, b: int) -> np.ndarray:
    """int8 per bar: the sign of live sma_a - live sma_b (0 also before both windows are full).

    `a` may be 1 (the close itself). Equal to `np.sign(sma(close, a) - sma(close, b))`, bit for bit.
    """
    if a < 1 or b < 1:
        raise ValueError(f"windows must be >= 1, got {a} and {b}")
    x = np.ascontiguousarray(close, dtype=np.float64)
    grid = grid_units(x)
    if grid is None:
        fa, fb = sma(x, a), sma(x, b)
        with np.errstate(invalid="ignore"):
            return np.nan_to_num(np.sign(fa - fb)).astype(np.int8)
    units, scale, biggest = grid
    threshold = ((a + 3) + (b + 3)) * _U * biggest * 1.01 * a * b * scale
    signs, _exact = _sign_of_mean_diff(x, units, a, b, threshold)
    return signs
