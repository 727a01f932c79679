"""Figure formatting shared by the terminal and the web views, so both show a figure the same way."""

from __future__ import annotations

from decimal import Decimal


def money(value: Decimal | None, places: int = 2) -> str:
    """`12,345.68`; `-` when unknown."""
    return "-" if value is None else f"{value:,.{places}f}"


def signed(value: Decimal | None, places: int = 2) -> str:
    """`+1,234.50` / `-20.52`; `-` when unknown."""
    return "-" if value is None else f"{value:+,.{places}f}"


def plain(value: Decimal | None) -> str:
    """A store figure as its exact value without trailing zeros (0.00100000 -> 0.001)."""
    return "-" if value is None else format(value.normalize(), "f")
