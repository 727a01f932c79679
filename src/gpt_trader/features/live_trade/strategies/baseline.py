"""Baseline live strategy: moving-average crossover with a trend filter.

Long entry when SMA(fast) crosses above SMA(slow) while the close is above SMA(trend); exit when
SMA(fast) crosses below SMA(slow) (or, with `trend_exit`, the close falls below the trend average).
Shorts mirror this when `allow_shorts` is set (perps only).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from gpt_trader.features.live_trade.strategies.base import Action, Decision, Strategy, register, sma

if TYPE_CHECKING:
    import numpy as np


@register
class BaselineMaTrend(Strategy):
    name: ClassVar[str] = "baseline"
    defaults: ClassVar[dict[str, Any]] = {
        "fast": 5,
        "slow": 20,
        "trend": 50,
        "trend_exit": False,
        "allow_shorts": False,
    }

    def validate(self) -> None:
        fast, slow, trend = self.params["fast"], self.params["slow"], self.params["trend"]
        if not 1 <= fast < slow:
            raise ValueError(f"strategy baseline: need 1 <= fast < slow, got fast={fast} slow={slow}")
        if trend < 1:
            raise ValueError(f"strategy baseline: trend must be >= 1, got {trend}")

    @property
    def history_needed(self) -> int:
        return max(self.params["slow"], self.params["trend"]) + 1

    def decide(self, symbol: str, closes: Sequence[float], position_size: Decimal) -> Decision:
        fast, slow, trend = self.params["fast"], self.params["slow"], self.params["trend"]
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
            if self.params["trend_exit"] and close < t_now:
                return Decision(action=Action.CLOSE, reason="close fell below trend SMA", confidence=1.0)
            return Decision.hold("long, no exit signal")
        if position_size < 0:
            if crossed_up:
                return Decision(action=Action.CLOSE, reason="fast SMA crossed above slow", confidence=1.0)
            return Decision.hold("short, no exit signal")
        if crossed_up and close > t_now:
            return Decision(action=Action.BUY, reason="fast SMA crossed above slow, above trend", confidence=confidence)
        if self.params["allow_shorts"] and crossed_down and close < t_now:
            return Decision(
                action=Action.SELL, reason="fast SMA crossed below slow, below trend", confidence=confidence
            )
        return Decision.hold("flat, no entry signal")

    def signals(self, close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Long-only vectorized form (entries, exits) matching `decide` for a long/flat book.

        Compares the averages exactly as the live `base.sma` values compare (see `vector_mean_sign`).
        """
        import numpy as np

        from gpt_trader.features.live_trade.strategies.sma_cross import vector_mean_sign

        n = len(close)
        fast, slow, trend = self.params["fast"], self.params["slow"], self.params["trend"]
        entries = np.zeros(n, dtype=bool)
        exits = np.zeros(n, dtype=bool)
        start = self.history_needed - 1
        if n <= start:
            return entries, exits
        fs = vector_mean_sign(close, fast, slow)
        above = vector_mean_sign(close, 1, trend)[start:]  # sign of close - SMA(trend)
        now, prev = fs[start:], fs[start - 1 : -1]
        up = (now > 0) & (prev <= 0)
        down = (now < 0) & (prev >= 0)
        entries[start:] = up & (above > 0)
        exits[start:] = (down | (above < 0)) if self.params["trend_exit"] else down
        return entries, exits
