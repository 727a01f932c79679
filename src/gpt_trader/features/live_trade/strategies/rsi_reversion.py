"""RSI reversion, long only, written with `decide` alone: buy when RSI(period) falls below `oversold`,
close when it rises above `overbought`. The fast engine runs `decide` per bar for it."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar

import msgspec

from gpt_trader.features.live_trade.indicators import rsi
from gpt_trader.features.live_trade.strategies.base import Action, BarWindow, Decision, Strategy, register


class RsiParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """RSI period in bars; thresholds 0..100 with oversold < overbought."""

    period: Annotated[int, msgspec.Meta(ge=2, le=200)] = 14
    oversold: Annotated[float, msgspec.Meta(ge=1.0, le=50.0)] = 30.0
    overbought: Annotated[float, msgspec.Meta(ge=50.0, le=99.0)] = 70.0


@register
class RsiReversion(Strategy):
    """The shape of a new strategy: parameters, warm-up and one `decide`, nothing else."""

    name: ClassVar[str] = "rsi_reversion"
    Params = RsiParams
    p: RsiParams

    @property
    def history_needed(self) -> int:
        return self.p.period + 1

    def decide(self, symbol: str, window: BarWindow, position_size: Decimal) -> Decision:
        if len(window) < self.history_needed:
            return Decision.hold(f"warming up {len(window)}/{self.history_needed}")
        value = rsi(window.close, self.p.period)
        if position_size > 0 and value > self.p.overbought:
            return Decision(action=Action.CLOSE, reason=f"RSI {value:.1f} above {self.p.overbought}")
        if position_size == 0 and value < self.p.oversold:
            confidence = min(1.0, 0.5 + (self.p.oversold - value) / self.p.oversold)
            return Decision(action=Action.BUY, reason=f"RSI {value:.1f} below {self.p.oversold}", confidence=confidence)
        return Decision.hold(f"RSI {value:.1f}")
