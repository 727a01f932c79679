"""SMA crossover, long only: enter when SMA(fast) crosses above SMA(slow), exit when it crosses below.

A cross above at bar t means fast[t] > slow[t] and fast[t-1] <= slow[t-1] (below: the mirror).
Signals start once both averages and their previous values exist (slow + 1 closes).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar

import msgspec

from gpt_trader.features.live_trade.indicators import mean_diff_sign_vec, sma
from gpt_trader.features.live_trade.strategies.base import (
    Action,
    BarWindow,
    Decision,
    Signals,
    Strategy,
    VectorBars,
    register,
)

_HOLD = Decision.hold("no signal")
_HOLD_LONG = Decision.hold("long, no exit signal")
_BUY = Decision(action=Action.BUY, reason="fast SMA crossed above slow", confidence=1.0)
_CLOSE = Decision(action=Action.CLOSE, reason="fast SMA crossed below slow", confidence=1.0)


class SmaCrossParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Window lengths in bars; fast < slow."""

    fast: Annotated[int, msgspec.Meta(ge=1, le=500)] = 20
    slow: Annotated[int, msgspec.Meta(ge=2, le=2000)] = 50

    def __post_init__(self) -> None:
        if self.fast >= self.slow:
            raise ValueError(f"need fast < slow, got fast={self.fast} slow={self.slow}")


@register
class SmaCross(Strategy):
    """The classic two-average trend follower; the reference strategy of the parity tests."""

    name: ClassVar[str] = "sma_cross"
    Params = SmaCrossParams
    p: SmaCrossParams

    @property
    def history_needed(self) -> int:
        return self.p.slow + 1

    def decide(self, symbol: str, window: BarWindow, position_size: Decimal) -> Decision:
        fast, slow = self.p.fast, self.p.slow
        closes = window.close
        n = len(closes)
        if n <= slow:
            return Decision.hold(f"warming up {n}/{slow + 1}")
        f_now, s_now = sma(closes, fast, n), sma(closes, slow, n)
        f_prev, s_prev = sma(closes, fast, n - 1), sma(closes, slow, n - 1)
        if position_size > 0:
            return _CLOSE if f_now < s_now and f_prev >= s_prev else _HOLD_LONG
        if position_size == 0 and f_now > s_now and f_prev <= s_prev:
            return _BUY
        return _HOLD

    def signals(self, bars: VectorBars) -> Signals:
        import numpy as np

        fast, slow = self.p.fast, self.p.slow
        n = len(bars.close)
        entries = np.zeros(n, dtype=bool)
        exits = np.zeros(n, dtype=bool)
        if n > slow:
            cmp = mean_diff_sign_vec(bars.close, fast, slow)
            now, prev = cmp[slow:], cmp[slow - 1 : -1]
            entries[slow:] = (now > 0) & (prev <= 0)
            exits[slow:] = (now < 0) & (prev >= 0)
        return Signals(entries, exits)
