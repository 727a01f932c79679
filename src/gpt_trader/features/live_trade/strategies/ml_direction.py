"""ML direction strategy, long only: an exported model (perps-bot ml train) predicts the direction of
the next `horizon` bars; buy on a confident "up", close on a confident "down". The model's confidence
is the decision's confidence, so Kelly-type sizing scales with it."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, ClassVar

import msgspec

from gpt_trader.features.live_trade.ml_model import load_model
from gpt_trader.features.live_trade.strategies.base import Action, BarWindow, Decision, Strategy, register


class MlDirectionParams(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """`model`: an exported model file (required); act only at or above `min_confidence`."""

    model: str
    min_confidence: Annotated[float, msgspec.Meta(ge=0.5, le=1.0)] = 0.55


@register
class MlDirection(Strategy):
    """Trades what a trained model predicts; refuses to start on a model it cannot compute."""

    name: ClassVar[str] = "ml_direction"
    Params = MlDirectionParams
    p: MlDirectionParams

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self.model = load_model(self.p.model)

    @property
    def history_needed(self) -> int:
        return self.model.need

    def decide(self, symbol: str, window: BarWindow, position_size: Decimal) -> Decision:
        out = self.model.predict(window)
        if out is None:
            return Decision.hold(f"warming up {len(window)}/{self.history_needed}")
        direction, confidence = out
        sure = confidence >= self.p.min_confidence
        if position_size > 0 and direction == "down" and sure:
            return Decision(action=Action.CLOSE, reason=f"model: down ({confidence:.2f})", confidence=confidence)
        if position_size == 0 and direction == "up" and sure:
            return Decision(action=Action.BUY, reason=f"model: up ({confidence:.2f})", confidence=confidence)
        return Decision.hold(f"model: {direction} ({confidence:.2f})")
