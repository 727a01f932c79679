"""Mean reversion, long only: buy when the close sits `entry_pct` % or more below its SMA(window), sell
when it has come back to `exit_pct` % below the average (0 = back at the mean).

Thresholds are the average times a constant, computed with the same float operations live and vectorized.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from gpt_trader.features.live_trade.strategies.base import Action, Decision, Strategy, register
from gpt_trader.features.live_trade.strategies.sma_cross import vector_sma, window_mean

if TYPE_CHECKING:
    import numpy as np


@register
class MeanReversion(Strategy):
    name: ClassVar[str] = "mean_reversion"
    defaults: ClassVar[dict[str, Any]] = {"window": 20, "entry_pct": 2.0, "exit_pct": 0.0}

    def validate(self) -> None:
        window, entry, exit_ = self.params["window"], self.params["entry_pct"], self.params["exit_pct"]
        if window < 2:
            raise ValueError(f"strategy mean_reversion: window must be >= 2, got {window}")
        if not 0.0 < entry < 100.0:
            raise ValueError(f"strategy mean_reversion: entry_pct must be in (0, 100), got {entry}")
        if not 0.0 <= exit_ < entry:
            raise ValueError(f"strategy mean_reversion: need 0 <= exit_pct < entry_pct, got {exit_}")

    @property
    def history_needed(self) -> int:
        return int(self.params["window"])

    def _factors(self) -> tuple[float, float]:
        return 1.0 - self.params["entry_pct"] / 100.0, 1.0 - self.params["exit_pct"] / 100.0

    def decide(self, symbol: str, closes: Sequence[float], position_size: Decimal) -> Decision:
        n = len(closes)
        if n < self.history_needed:
            return Decision.hold(f"warming up {n}/{self.history_needed}")
        mean = window_mean(closes, self.params["window"], n)
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
                confidence=min(1.0, depth * 100 / (2 * self.params["entry_pct"]) + 0.5),
            )
        return Decision.hold("no signal")

    def signals(self, close: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        mean = vector_sma(close, self.params["window"])
        entry_f, exit_f = self._factors()
        valid = ~np.isnan(mean)
        entries = valid & (close < mean * entry_f)
        exits = valid & (close >= mean * exit_f)
        return entries, exits
