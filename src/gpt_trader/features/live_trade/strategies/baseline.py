"""Baseline live strategy: moving-average crossover with a trend filter.

Long entry when SMA(fast) crosses above SMA(slow) while the close is above SMA(trend); exit when
SMA(fast) crosses below SMA(slow) (or, with `trend_exit`, the close falls below the trend average).
Shorts mirror this when `allow_shorts` is set (perps only).
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


class BaselineParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Window lengths in bars (fast < slow); `trend_exit` also exits below the trend; shorts for perps."""

    fast: Annotated[int, msgspec.Meta(ge=1, le=500)] = 5
    slow: Annotated[int, msgspec.Meta(ge=2, le=2000)] = 20
    trend: Annotated[int, msgspec.Meta(ge=1, le=2000)] = 50
    trend_exit: bool = False
    allow_shorts: bool = False

    def __post_init__(self) -> None:
        if self.fast >= self.slow:
            raise ValueError(f"need fast < slow, got fast={self.fast} slow={self.slow}")


@register
class BaselineMaTrend(Strategy):
    """The live bot's default: a crossover that only trades with the longer trend."""

    name: ClassVar[str] = "baseline"
    Params = BaselineParams
    p: BaselineParams

    @property
    def history_needed(self) -> int:
        return max(self.p.slow, self.p.trend) + 1

    def decide(self, symbol: str, window: BarWindow, position_size: Decimal) -> Decision:
        fast, slow, trend = self.p.fast, self.p.slow, self.p.trend
        closes = window.close
        n = len(closes)
        if n < self.history_needed:
            return Decision.hold(f"warming up {n}/{self.history_needed}")
        f_now, s_now = sma(closes, fast), sma(closes, slow)
        f_prev, s_prev = sma(closes, fast, n - 1), sma(closes, slow, n - 1)
        t_now = sma(closes, trend)
        close = closes[-1]
        crossed_up = f_now > s_now and f_prev <= s_prev
        crossed_down = f_now < s_now and f_prev >= s_prev
        spread = abs(f_now - s_now) / s_now if s_now else 0.0
        confidence = min(1.0, 0.5 + spread * 100)
        if position_size > 0:
            if crossed_down:
                return Decision(action=Action.CLOSE, reason="fast SMA crossed below slow", confidence=1.0)
            if self.p.trend_exit and close < t_now:
                return Decision(action=Action.CLOSE, reason="close fell below trend SMA", confidence=1.0)
            return Decision.hold("long, no exit signal")
        if position_size < 0:
            if crossed_up:
                return Decision(action=Action.CLOSE, reason="fast SMA crossed above slow", confidence=1.0)
            return Decision.hold("short, no exit signal")
        if crossed_up and close > t_now:
            return Decision(action=Action.BUY, reason="fast SMA crossed above slow, above trend", confidence=confidence)
        if self.p.allow_shorts and crossed_down and close < t_now:
            return Decision(
                action=Action.SELL, reason="fast SMA crossed below slow, below trend", confidence=confidence
            )
        return Decision.hold("flat, no entry signal")

    def signals(self, bars: VectorBars) -> Signals:
        """Vectorized form; compares the averages exactly as `decide` does (see `mean_diff_sign_vec`)."""
        import numpy as np

        close = bars.close
        n = len(close)
        fast, slow, trend = self.p.fast, self.p.slow, self.p.trend
        long_entry, long_exit = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        short_entry, short_exit = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        start = self.history_needed - 1
        shorts = (short_entry, short_exit) if self.p.allow_shorts else (None, None)
        if n <= start:
            return Signals(long_entry, long_exit, *shorts)
        fs = mean_diff_sign_vec(close, fast, slow)
        above = mean_diff_sign_vec(close, 1, trend)[start:]  # sign of close - SMA(trend)
        now, prev = fs[start:], fs[start - 1 : -1]
        up = (now > 0) & (prev <= 0)
        down = (now < 0) & (prev >= 0)
        long_entry[start:] = up & (above > 0)
        long_exit[start:] = (down | (above < 0)) if self.p.trend_exit else down
        short_entry[start:] = down & (above < 0)
        short_exit[start:] = up
        return Signals(long_entry, long_exit, *shorts)
