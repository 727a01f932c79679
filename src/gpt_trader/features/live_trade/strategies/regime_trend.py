"""Regime-aware trend following, long only, written with `decide` alone: buy when the rules detector
says the market is trending up, close when it turns to trending down, crash or (optionally) high
volatility. Confidence grows with the trend's strength (its z-score)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar

import msgspec

from gpt_trader.features.live_trade.regime import FeatureParams, Regime, RuleDetector, RuleParams, window_features
from gpt_trader.features.live_trade.strategies.base import Action, BarWindow, Decision, Strategy, register


class RegimeTrendParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The detector's look-backs and trend threshold, and whether high volatility also exits."""

    horizon: Annotated[int, msgspec.Meta(ge=4, le=200)] = 24
    adx_period: Annotated[int, msgspec.Meta(ge=2, le=100)] = 14
    trend_z: Annotated[float, msgspec.Meta(ge=0.0, le=5.0)] = 0.75
    exit_on_high_vol: bool = True


_EXITS = {Regime.TREND_DOWN, Regime.CRASH}


@register
class RegimeTrend(Strategy):
    """Holds only while the market's regime is a rising trend."""

    name: ClassVar[str] = "regime_trend"
    Params = RegimeTrendParams
    p: RegimeTrendParams

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        fp = FeatureParams(horizon=self.p.horizon, adx_period=self.p.adx_period)
        self.detector = RuleDetector(RuleParams(features=fp, trend_z=self.p.trend_z))
        self._exits = _EXITS | ({Regime.HIGH_VOL} if self.p.exit_on_high_vol else set())

    @property
    def history_needed(self) -> int:
        return self.detector.need

    def decide(self, symbol: str, window: BarWindow, position_size: Decimal) -> Decision:
        f = window_features(window, self.detector.p.features)
        regime = self.detector.classify_features(f)
        if f is None:
            return Decision.hold(f"warming up {len(window)}/{self.history_needed}")
        if position_size > 0 and regime in self._exits:
            return Decision(action=Action.CLOSE, reason=f"regime {regime.value}")
        if position_size == 0 and regime is Regime.TREND_UP:
            confidence = min(1.0, 0.5 + 0.25 * (f[0] - self.p.trend_z))
            return Decision(action=Action.BUY, reason="regime trending_up", confidence=confidence)
        return Decision.hold(f"regime {regime.value}")
