"""SMA crossover, long only: enter when SMA(fast) crosses above SMA(slow), exit when it crosses below.

A cross above at bar t means fast[t] > slow[t] and fast[t-1] <= slow[t-1] (below: the mirror).
Signals start once both averages and their previous values exist (slow + 1 closes).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from gpt_trader.features.live_trade.strategies.base import Action, Decision, Strategy, register, sma

if TYPE_CHECKING:
    import numpy as np

# CPython < 3.12 `sum` adds floats left to right exactly like `base.sma`; 3.12+ compensates, so it
# would no longer match the vectorized form bit for bit.
_PLAIN_SUM = sys.version_info < (3, 12)


def window_mean(values: Sequence[float], n: int, end: int) -> float:
    """`base.sma(values, n, end)`, faster on CPython 3.11 (same left-to-right float additions)."""
    if _PLAIN_SUM:
        return float(sum(values[end - n : end], 0.0)) / n
    return sma(values, n, end)


def vector_sma(close: np.ndarray, n: int) -> np.ndarray:
    """Vectorized SMA bit-identical to `window_mean` (research path; imports numba lazily)."""
    from gpt_trader.features.backtest.fast.indicators import sma as _sma

    return _sma(close, n)


_HOLD = Decision.hold("no signal")
_HOLD_LONG = Decision.hold("long, no exit signal")
_BUY = Decision(action=Action.BUY, reason="fast SMA crossed above slow", confidence=1.0)
_CLOSE = Decision(action=Action.CLOSE, reason="fast SMA crossed below slow", confidence=1.0)


def vector_mean_sign(close: np.ndarray, a: int, b: int) -> np.ndarray:
    """int8 sign of SMA(a) - SMA(b) per bar, exactly as the live averages compare (a may be 1: the close).

    O(n) with exact integer window sums when prices sit on a decimal grid; see backtest.fast.indicators.
    """
    from gpt_trader.features.backtest.fast.indicators import mean_diff_sign

    return mean_diff_sign(close, a, b)


@register
class SmaCross(Strategy):
    name: ClassVar[str] = "sma_cross"
    defaults: ClassVar[dict[str, Any]] = {"fast": 20, "slow": 50}

    def validate(self) -> None:
        fast, slow = self.params["fast"], self.params["slow"]
        if not 1 <= fast < slow:
            raise ValueError(f"strategy sma_cross: need 1 <= fast < slow, got fast={fast} slow={slow}")

    @property
    def history_needed(self) -> int:
        return int(self.params["slow"]) + 1

    def decide(self, symbol: str, closes: Sequence[float], position_size: Decimal) -> Decision:
        fast, slow = self.params["fast"], self.params["slow"]
        n = len(closes)
        if n <= slow:
            return Decision.hold(f"warming up {n}/{slow + 1}")
        f_now, s_now = window_mean(closes, fast, n), window_mean(closes, slow, n)
        f_prev, s_prev = window_mean(closes, fast, n - 1), window_mean(closes, slow, n - 1)
        if position_size > 0:
            return _CLOSE if f_now < s_now and f_prev >= s_prev else _HOLD_LONG
        if position_size == 0 and f_now > s_now and f_prev <= s_prev:
            return _BUY
        return _HOLD

    def signals(self, close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        fast, slow = self.params["fast"], self.params["slow"]
        n = len(close)
        entries = np.zeros(n, dtype=bool)
        exits = np.zeros(n, dtype=bool)
        if n > slow:
            cmp = vector_mean_sign(close, fast, slow)
            now, prev = cmp[slow:], cmp[slow - 1 : -1]
            entries[slow:] = (now > 0) & (prev <= 0)
            exits[slow:] = (now < 0) & (prev >= 0)
        return entries, exits
