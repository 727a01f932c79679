"""Donchian breakout with an ATR trailing exit, long only: the complete strategy file of the
"Writing a strategy" page. tests/unit/docs loads it by path and backtests it with both engines."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar

import msgspec

from gpt_trader.features.live_trade.indicators import atr
from gpt_trader.features.live_trade.strategies.base import Action, BarWindow, Decision, Strategy


class BreakoutParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Channel length in bars, ATR length in bars, and how many ATRs below the channel high exits."""

    channel: Annotated[int, msgspec.Meta(ge=5, le=500)] = 20
    atr_period: Annotated[int, msgspec.Meta(ge=2, le=200)] = 14
    atr_exit: Annotated[float, msgspec.Meta(ge=0.5, le=10.0)] = 2.0


class Breakout(Strategy):
    """Buys a close above the highest high of the previous `channel` bars; closes the position when
    the close falls `atr_exit` ATRs below that high. Not registered: it loads by path."""

    name: ClassVar[str] = "breakout"
    Params = BreakoutParams
    p: BreakoutParams

    @property
    def history_needed(self) -> int:
        return max(self.p.channel, self.p.atr_period) + 1

    def decide(self, symbol: str, window: BarWindow, position_size: Decimal) -> Decision:
        if len(window) < self.history_needed:
            return Decision.hold(f"warming up {len(window)}/{self.history_needed}")
        highs, close = window.high, window.close
        n = len(window)
        channel_high = max(highs[n - 1 - self.p.channel : n - 1])  # the bars before the one just closed
        last = close[-1]
        if position_size == 0 and last > channel_high:
            return Decision(action=Action.BUY, reason=f"close {last:.2f} above {self.p.channel}-bar high")
        if position_size > 0:
            stop = channel_high - self.p.atr_exit * atr(window.high, window.low, close, self.p.atr_period)
            if last < stop:
                return Decision(action=Action.CLOSE, reason=f"close {last:.2f} below trailing stop {stop:.2f}")
        return Decision.hold(f"inside the channel (high {channel_high:.2f})")
