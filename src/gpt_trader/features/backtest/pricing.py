"""The fill-price and sizing rules both engines share, in integer ticks so they agree exactly.

Market price of a bar = round-half-even(open x 10**k) ticks (the same float product in every engine).
Buy fill = ceil(ticks x (1 + slip)), sell fill = floor(ticks x (1 - slip)): slippage always hurts.
"""

from __future__ import annotations

import math
from decimal import ROUND_FLOOR, Decimal


def open_ticks(open_price: float, price_scale: int) -> int:
    return round(open_price * price_scale)


def buy_ticks(ticks: int, slip_num: int, slip_den: int) -> int:
    return -((-ticks * (slip_den + slip_num)) // slip_den)


def sell_ticks(ticks: int, slip_num: int, slip_den: int) -> int:
    return (ticks * (slip_den - slip_num)) // slip_den


def entry_size(cash: Decimal, size_pct: Decimal, price: Decimal, fee_rate: Decimal, base_increment: Decimal) -> Decimal:
    """All-in style sizing: cash x P/100 / (price x (1 + fee)), floored to the base increment."""
    raw = cash * size_pct / Decimal(100) / (price * (Decimal(1) + fee_rate))
    return raw.quantize(base_increment, rounding=ROUND_FLOOR)


#: `intrabar_exit` kinds
EXIT_NONE, EXIT_STOP, EXIT_TRAIL, EXIT_TARGET = 0, 1, 2, 3


def intrabar_exit(
    open_: float,
    high: float,
    low: float,
    entry_px: float,
    anchor: float,
    stop_loss: float,
    take_profit: float,
    trailing: float,
    price_scale: int,
    slip_num: int,
    slip_den: int,
) -> tuple[int, int]:
    """(kind, exit price in ticks) of a long's protective exit inside one OHLC bar; kind 0: none.

    The stated pessimistic rule (both engines run this very function; the fast kernel compiles it):
    - the stop is checked before the target: a bar whose range holds both exits at the stop;
    - the trailing stop trails `anchor`, the best high of the bars *before* this one (entry price on the
      entry bar): this bar's high may come after its low;
    - a stop fills at the stop price floored to the tick (at the open when the bar gaps through it),
      less slippage, like a market sell;
    - a target (a resting limit) fills only when the high crosses it (high > target), at the target
      ceiled to the tick (at the open when the bar opens beyond it), no slippage.
    """
    stop = 0.0
    kind = EXIT_NONE
    if stop_loss > 0.0:
        stop = entry_px * (1.0 - stop_loss)
        kind = EXIT_STOP
    if trailing > 0.0:
        trail = anchor * (1.0 - trailing)
        if trail > stop:
            stop = trail
            kind = EXIT_TRAIL
    if kind != EXIT_NONE and low <= stop:
        ticks = round(open_ * price_scale) if open_ <= stop else math.floor(stop * price_scale)
        return kind, (ticks * (slip_den - slip_num)) // slip_den
    if take_profit > 0.0:
        target = entry_px * (1.0 + take_profit)
        if high > target:
            return EXIT_TARGET, round(open_ * price_scale) if open_ > target else math.ceil(target * price_scale)
    return EXIT_NONE, 0
