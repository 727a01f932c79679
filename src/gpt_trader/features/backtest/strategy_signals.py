"""How both engines ask a strategy: the `BarWindow` at each bar, and the fast engine's signal arrays.

`window_at` is the one definition of what a strategy sees at bar t's close in a backtest (the last
`history_needed` bars up to t, and the funding rate charged at t's open), used by the replay engine,
the fast engine's decide-per-bar path and the parity tests. `strategy_signals` gives the fast engine
the strategy's vectorized `signals` when it has one, else `decide` run per bar, and says which.
"""

from __future__ import annotations

from decimal import Decimal

import numpy as np

from gpt_trader.features.backtest.bars import Bars
from gpt_trader.features.live_trade.strategies.base import Action, BarWindow, Signals, Strategy, has_signals

VECTORIZED = "vectorized signals"
DECIDE_PER_BAR = "decide per bar"
_LONG, _FLAT, _SHORT = Decimal(1), Decimal(0), Decimal(-1)


class BarColumns:
    """The bars as Python lists (what `decide` reads), sliced into windows without copying columns."""

    __slots__ = ("close", "funding", "high", "low", "need", "open", "volume")

    def __init__(self, bars: Bars, need: int) -> None:
        self.open: list[float] = bars.open.tolist()
        self.high: list[float] = bars.high.tolist()
        self.low: list[float] = bars.low.tolist()
        self.close: list[float] = bars.close.tolist()
        self.volume: list[float] = bars.volume.tolist()
        self.funding: list[float] = bars.funding.tolist()
        self.need = need

    def window_at(self, t: int) -> BarWindow:
        rate = self.funding[t]
        return BarWindow(
            self.open,
            self.high,
            self.low,
            self.close,
            self.volume,
            t + 1 - self.need,
            t + 1,
            funding_rate=rate if rate != 0.0 else None,
        )


def signals_from_decide(strategy: Strategy, bars: Bars, *, shorts: bool = True) -> Signals:
    """`decide` at every bar on a flat, a long and (with `shorts`) a short book, as signal arrays."""
    n = len(bars)
    cols = BarColumns(bars, strategy.history_needed)
    decide, symbol = strategy.decide, bars.symbol
    long_entry, long_exit = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    short_entry, short_exit = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    buy, sell, close = Action.BUY, Action.SELL, Action.CLOSE
    for t in range(n):
        window = cols.window_at(t)
        flat = decide(symbol, window, _FLAT).action
        long_entry[t] = flat is buy
        short_entry[t] = flat is sell
        held = decide(symbol, window, _LONG).action
        long_exit[t] = held is close or held is sell
        if shorts:
            short = decide(symbol, window, _SHORT).action
            short_exit[t] = short is close or short is buy
    if not shorts:
        return Signals(long_entry, long_exit)
    return Signals(long_entry, long_exit, short_entry, short_exit)


def strategy_signals(strategy: Strategy, bars: Bars, *, shorts: bool = True) -> tuple[Signals, str]:
    """The strategy's vectorized signals when it offers them, else `decide` per bar (asked about a short
    book only with `shorts`: a spot run has no use for it); and which of the two it was."""
    if has_signals(strategy):
        sig: Signals = strategy.signals(bars)  # type: ignore[attr-defined]
        return sig, VECTORIZED
    return signals_from_decide(strategy, bars, shorts=shorts), DECIDE_PER_BAR
