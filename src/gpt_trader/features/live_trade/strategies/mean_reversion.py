"""Mean reversion, long only: buy when the close sits `entry_pct` % or more below its SMA(window), sell
when it has come back to `exit_pct` % below the average (0 = back at the mean).

Thresholds are the average times a constant, computed with the same float operations live and vectorized.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar

import msgspec

from gpt_trader.features.live_trade.indicators import sma, sma_vec
from gpt_trader.features.live_trade.strategies.base import (
    Action,
    BarWindow,
    Decision,
    Signals,
    Strategy,
    VectorBars,
    register,
)


class MeanReversionParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Average window in bars; entry and exit distances below the average in percent (exit < entry)."""

    window: Annotated[int, msgspec.Meta(ge=2, le=2000)] = 20
    entry_pct: Annotated[float, msgspec.Meta(gt=0.0, le=50.0)] = 2.0
    exit_pct: Annotated[float, msgspec.Meta(ge=0.0, le=50.0)] = 0.0

    def __post_init__(self) -> None:
        if self.exit_pct >= self.entry_pct:
            raise ValueError(f"need exit_pct < entry_pct, got exit_pct={self.exit_pct} entry_pct={self.entry_pct}")


@register
class MeanReversion(Strategy):
    """Buys stretches below the average and sells the snap back: a ranging-market strategy."""

    name: ClassVar[str] = "mean_reversion"
    Params = MeanReversionParams
    p: MeanReversionParams

    @property
    def history_needed(self) -> int:
        return self.p.window

    def _factors(self) -> tuple[float, float]:
        return 1.0 - self.p.entry_pct / 100.0, 1.0 - self.p.exit_pct / 100.0

    def decide(self, symbol: str, window: BarWindow, position_size: Decimal) -> Decision:
        closes = window.close
        n = len(closes)
        if n < self.history_needed:
            return Decision.hold(f"warming up {n}/{self.history_needed}")
        mean = sma(closes, self.p.window, n)
        entry_f, exit_f = self._factors()
        close = closes[-1]
        if position_size > 0:
            if close >= mean * exit_f:
                return Decision(action=Action.CLOSE, reason="close reverted to the mean", confidence=1.0)
            return Decision.hold("long, below the mean")
        if position_size == 0 and close < mean * entry_f:
            depth = (mean - close) / mean if mean else 0.0
            return Decision(
                action=Action.BUY,
                reason="close stretched below the mean",
                confidence=min(1.0, depth * 100 / (2 * self.p.entry_pct) + 0.5),
            )
        return Decision.hold("no signal")

    def signals(self, bars: VectorBars) -> Signals:
        import numpy as np

        close = bars.close
        mean = sma_vec(close, self.p.window)
        entry_f, exit_f = self._factors()
        valid = ~np.isnan(mean)
        return Signals(valid & (close < mean * entry_f), valid & (close >= mean * exit_f))
