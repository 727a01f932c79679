"""Per-account money: asset totals, order holds, spot cost basis and signed perpetual positions.

Cash moves only here, so "balances conserve value minus fees" is checked against one place. Perpetuals
are cross-margined against the account's USD: equity = USD + unrealized PnL; initial margin =
notional / leverage; maintenance margin = notional x product.maintenance_margin_rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from gpt_trader.features.brokerages.core.interfaces import Fill, Product
from gpt_trader.features.brokerages.core.matching.fees import VolumeWindow

ZERO = Decimal("0")
ONE = Decimal("1")


@dataclass(slots=True)
class PerpPosition:
    symbol: str
    size: Decimal = ZERO  # signed
    entry_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO
    funding_paid: Decimal = ZERO
    leverage: Decimal = ONE


@dataclass(slots=True)
class SpotCost:
    """Average cost of the base held, tracked from fills (deposits enter at the mark when known)."""

    size: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized_pnl: Decimal = ZERO


@dataclass(slots=True)
class Account:
    account_id: str
    volume: VolumeWindow
    totals: dict[str, Decimal] = field(default_factory=dict)
    holds: dict[str, Decimal] = field(default_factory=dict)
    perps: dict[str, PerpPosition] = field(default_factory=dict)
    spot_cost: dict[str, SpotCost] = field(default_factory=dict)  # keyed by base asset
    leverage: dict[str, Decimal] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    order_ids: list[str] = field(default_factory=list)
    open_ids: dict[str, None] = field(default_factory=dict)  # insertion-ordered; pruned lazily
    client_ids: dict[str, str] = field(default_factory=dict)
    fee_override: object | None = None  # FeeTier; typed loosely to avoid an import cycle

    @classmethod
    def new(cls, account_id: str, window: timedelta) -> Account:
        return cls(account_id=account_id, volume=VolumeWindow(window))

    # ------------------------------------------------------------------ plain balances
    def total(self, asset: str) -> Decimal:
        return self.totals.get(asset, ZERO)

    def hold(self, asset: str) -> Decimal:
        return self.holds.get(asset, ZERO)

    def credit(self, asset: str, amount: Decimal) -> None:
        self.totals[asset] = self.totals.get(asset, ZERO) + amount

    def add_hold(self, asset: str, amount: Decimal) -> None:
        if amount:
            self.holds[asset] = self.holds.get(asset, ZERO) + amount

    def release_hold(self, asset: str, amount: Decimal) -> None:
        if amount:
            left = self.holds.get(asset, ZERO) - amount
            self.holds[asset] = left if left > 0 else ZERO

    # ------------------------------------------------------------------ spot cost basis
    def spot_buy(self, base: str, size: Decimal, price: Decimal) -> None:
        cost = self.spot_cost.setdefault(base, SpotCost())
        new_size = cost.size + size
        if new_size > 0:
            cost.avg_price = (cost.size * cost.avg_price + size * price) / new_size
        cost.size = new_size

    def spot_sell(self, base: str, size: Decimal, price: Decimal) -> None:
        cost = self.spot_cost.setdefault(base, SpotCost())
        closed = min(size, cost.size)
        cost.realized_pnl += (price - cost.avg_price) * closed
        cost.size -= closed

    # ------------------------------------------------------------------ perps
    def position(self, symbol: str) -> PerpPosition | None:
        return self.perps.get(symbol)

    def perp_size(self, symbol: str) -> Decimal:
        pos = self.perps.get(symbol)
        return pos.size if pos is not None else ZERO

    def apply_perp_fill(self, product: Product, signed_size: Decimal, price: Decimal, leverage: Decimal) -> Decimal:
        """Update the position for a fill; return realized PnL (quote, rounded to quote_increment)."""
        pos = self.perps.get(product.symbol)
        if pos is None:
            pos = PerpPosition(symbol=product.symbol, leverage=leverage)
            self.perps[product.symbol] = pos
        realized = ZERO
        old = pos.size
        new = old + signed_size
        if old == 0 or (old > 0) == (signed_size > 0):
            # opening or adding: weighted entry
            pos.entry_price = (abs(old) * pos.entry_price + abs(signed_size) * price) / abs(new)
            pos.leverage = leverage
        else:
            closed = min(abs(signed_size), abs(old))
            direction = ONE if old > 0 else -ONE
            realized = ((price - pos.entry_price) * closed * direction).quantize(
                product.quote_increment, rounding=ROUND_HALF_EVEN
            )
            if new != 0 and (new > 0) != (old > 0):
                pos.entry_price = price  # flipped: the remainder opened at this price
                pos.leverage = leverage
            elif new == 0:
                pos.entry_price = ZERO
        pos.size = new
        pos.realized_pnl += realized
        return realized


def unrealized_pnl(pos: PerpPosition, mark: Decimal) -> Decimal:
    return pos.size * (mark - pos.entry_price)


def liquidation_price(pos: PerpPosition, mmr: Decimal, other_equity: Decimal) -> Decimal | None:
    """Mark at which equity falls to maintenance margin for this position, others held fixed.

    `other_equity` = cash + other positions' unrealized PnL - their maintenance margin. Long:
    E + s(P - e) = s P m  =>  P = (s e - E) / (s (1 - m)). Short (s = |size|): E - s(P - e) = s P m
    =>  P = (E + s e) / (s (1 + m)). None when the position cannot be liquidated (P <= 0).
    """
    if pos.size == 0:
        return None
    s = abs(pos.size)
    if pos.size > 0:
        denom = s * (ONE - mmr)
        if denom <= 0:
            return None
        price = (s * pos.entry_price - other_equity) / denom
    else:
        price = (other_equity + s * pos.entry_price) / (s * (ONE + mmr))
    return price if price > 0 else None
