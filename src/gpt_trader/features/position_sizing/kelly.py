"""Kelly criterion from a trade history: f* = p - (1 - p) / b, b = average win / average loss."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import msgspec

ZERO = Decimal(0)
ONE = Decimal(1)


class KellyEstimate(msgspec.Struct, frozen=True, kw_only=True):
    trades: int
    win_rate: Decimal
    payoff_ratio: Decimal | None  # None when there are no losing trades
    fraction: Decimal  # full-Kelly fraction of equity, clipped to [0, 1]


def kelly_estimate(history: Sequence[Decimal]) -> KellyEstimate:
    """Full-Kelly fraction from closed-trade PnLs. Break-even trades count but neither win nor lose."""
    n = len(history)
    if n == 0:
        return KellyEstimate(trades=0, win_rate=ZERO, payoff_ratio=None, fraction=ZERO)
    wins = [p for p in history if p > 0]
    losses = [-p for p in history if p < 0]
    p = Decimal(len(wins)) / n
    if not wins:
        return KellyEstimate(trades=n, win_rate=p, payoff_ratio=ZERO if losses else None, fraction=ZERO)
    avg_win = sum(wins, ZERO) / len(wins)
    if not losses:
        return KellyEstimate(trades=n, win_rate=p, payoff_ratio=None, fraction=min(p, ONE))
    avg_loss = sum(losses, ZERO) / len(losses)
    b = avg_win / avg_loss
    f = p - (ONE - p) / b
    return KellyEstimate(trades=n, win_rate=p, payoff_ratio=b, fraction=min(max(f, ZERO), ONE))
