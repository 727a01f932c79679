"""The bot's own ledger of positions and PnL, built only from its fills (average-cost method).

Reconciliation compares it with the venue; the summary and the risk guards read it.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec

from gpt_trader.features.brokerages.core.interfaces import ZERO, Fill


class SymbolLedger(msgspec.Struct, kw_only=True):
    size: Decimal = ZERO  # signed base units
    entry_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO  # before fees
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    fills: int = 0
    volume: Decimal = ZERO  # quote notional traded
    closed_trades: list[Decimal] = msgspec.field(default_factory=list)  # net PnL per round trip
    _trip_pnl: Decimal = ZERO

    def unrealized(self, mark: Decimal) -> Decimal:
        return (mark - self.entry_price) * self.size if self.size else ZERO


class PositionBook:
    def __init__(self) -> None:
        self.ledgers: dict[str, SymbolLedger] = {}

    def ledger(self, symbol: str) -> SymbolLedger:
        return self.ledgers.setdefault(symbol, SymbolLedger())

    def size(self, symbol: str) -> Decimal:
        led = self.ledgers.get(symbol)
        return led.size if led else ZERO

    def apply_fill(self, fill: Fill) -> Decimal | None:
        """Apply one fill. Returns the round trip's net PnL when the fill flattens the position."""
        led = self.ledger(fill.symbol)
        signed = fill.size * fill.side.sign
        led.fills += 1
        led.fees += fill.fee
        led.volume += fill.price * fill.size
        led._trip_pnl -= fill.fee
        if led.size == 0 or (led.size > 0) == (signed > 0):
            # opening or adding: new average entry
            new_size = led.size + signed
            led.entry_price = (led.entry_price * abs(led.size) + fill.price * fill.size) / abs(new_size)
            led.size = new_size
            return None
        closing = min(abs(signed), abs(led.size))
        direction = 1 if led.size > 0 else -1
        pnl = (fill.price - led.entry_price) * closing * direction
        led.realized_pnl += pnl
        led._trip_pnl += pnl
        remainder = abs(signed) - closing
        led.size += signed if remainder == 0 else -led.size
        if led.size == 0:
            trip = led._trip_pnl
            led.closed_trades.append(trip)
            led._trip_pnl = ZERO
            led.entry_price = ZERO
            if remainder > 0:  # flipped through zero: the rest opens a new position
                led.size = remainder * (1 if signed > 0 else -1)
                led.entry_price = fill.price
            return trip
        return None

    def apply_funding(self, symbol: str, amount: Decimal) -> None:
        led = self.ledger(symbol)
        led.funding += amount
        led._trip_pnl -= amount

    def trade_history(self) -> list[Decimal]:
        out: list[Decimal] = []
        for led in self.ledgers.values():
            out.extend(led.closed_trades)
        return out
