"""A test strategy for the protection tests: buy when flat, never exit (the venue-side protection is the
only way out), so a test knows exactly which order closes the position."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar

from gpt_trader.features.live_trade.strategies.base import Action, BarWindow, Decision, Strategy


class EnterWhenFlat(Strategy):
    """Buys on the first bar it sees flat; holds otherwise."""

    name: ClassVar[str] = "enter_when_flat"

    @property
    def history_needed(self) -> int:
        return 1

    def decide(self, symbol: str, window: BarWindow, position_size: Decimal) -> Decision:
        if position_size == 0:
            return Decision(action=Action.BUY, reason="flat: enter")
        return Decision.hold("held: the protection exits")
