"""The fill-price and sizing rules both engines share, in integer ticks so they agree exactly.

Market price of a bar = round-half-even(open x 10**k) ticks (the same float product in every engine).
Buy fill = ceil(ticks x (1 + slip)), sell fill = floor(ticks x (1 - slip)): slippage always hurts.
"""

from __future__ import annotations

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
