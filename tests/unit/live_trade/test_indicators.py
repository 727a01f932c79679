"""The shared indicators: bounded where they should be, and each a function of its last `need` bars only
(what lets a short live window give the research value at the same bar)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gpt_trader.features.live_trade import indicators as ind

prices = st.lists(st.floats(min_value=1.0, max_value=1e5, allow_nan=False), min_size=60, max_size=200)


def _bars(closes: list[float]) -> tuple[list[float], list[float], list[float]]:
    high = [c * 1.01 for c in closes]
    low = [c * 0.99 for c in closes]
    return high, low, closes


@settings(max_examples=50, deadline=None)
@given(closes=prices, n=st.integers(min_value=2, max_value=14), extra=st.integers(min_value=1, max_value=30))
def test_values_depend_only_on_the_last_bars(closes: list[float], n: int, extra: int) -> None:
    high, low, close = _bars(closes)
    volume = [float(i % 7 + 1) for i in range(len(close))]

    def value(name: str, lo: int) -> float:
        c, h, lw, v = close[lo:], high[lo:], low[lo:], volume[lo:]
        return {
            "rsi": lambda: ind.rsi(c, n),
            "vol": lambda: ind.realized_vol(c, n),
            "atr": lambda: ind.atr(h, lw, c, n),
            "adx": lambda: ind.adx(h, lw, c, n),
            "mom": lambda: ind.momentum(c, n),
            "volr": lambda: ind.volume_ratio(v, n),
        }[name]()

    need = {"rsi": n + 1, "vol": n + 1, "atr": n + 1, "adx": 2 * n, "mom": n + 1, "volr": n + 1}
    full = {name: value(name, 0) for name in need}
    for name, k in need.items():
        assert value(name, len(close) - k) == full[name], name
    assert 0.0 <= full["rsi"] <= 100.0 and 0.0 <= full["adx"] <= 100.0 + 1e-9
    assert full["vol"] >= 0.0 and full["atr"] > 0.0 and math.isfinite(full["mom"])
    assert ind.sma(close, n) == ind.sma(close[-n - extra :], n)


def test_known_values_and_window_errors() -> None:
    up = [float(i) for i in range(1, 40)]
    assert ind.rsi(up, 14) == 100.0 and ind.rsi([5.0] * 20, 14) == 50.0
    assert ind.adx([c + 1 for c in up], [c - 1 for c in up], up, 10) == 100.0  # a clean trend
    assert ind.momentum([100.0, 110.0], 1) == pytest.approx(math.log(1.1))
    assert ind.volume_ratio([1.0, 1.0, 1.0, 3.0], 3) == 3.0
    with pytest.raises(ValueError, match="realized_vol: window must be >= 2, got 1"):
        ind.realized_vol(up, 1)
    with pytest.raises(ValueError, match="adx: window must be >= 1, got 0"):
        ind.adx(up, up, up, 0)
