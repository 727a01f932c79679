"""Results and engine-only events. Order, Fill, OrderUpdate, BookUpdate and TradeTick come from interfaces."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import msgspec

from gpt_trader.features.brokerages.core.interfaces import (
    BookUpdate,
    Fill,
    Order,
    OrderSide,
    OrderUpdate,
    TradeTick,
)


class FundingEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One account's funding settlement. `payment` > 0 means the account paid."""

    account_id: str
    symbol: str
    position_size: Decimal
    mark_price: Decimal
    rate: Decimal
    payment: Decimal
    ts: datetime


class LiquidationEvent(msgspec.Struct, frozen=True, kw_only=True):
    account_id: str
    symbol: str
    size: Decimal  # signed size that was closed
    mark_price: Decimal
    liquidation_price: Decimal | None
    equity: Decimal
    maintenance_margin: Decimal
    order_id: str
    ts: datetime


#: Listener payloads. OrderUpdate/Fill carry no account: `MatchingEngine.account_of(order_id)` tells.
EngineEvent = OrderUpdate | Fill | BookUpdate | TradeTick | FundingEvent | LiquidationEvent


class SubmitResult(msgspec.Struct, kw_only=True):
    order: Order
    fills: list[Fill] = msgspec.field(default_factory=list)
    events: list[EngineEvent] = msgspec.field(default_factory=list)
    duplicate: bool = False  # True when client_order_id matched an existing order


class Preview(msgspec.Struct, kw_only=True):
    """What an order would do now, without doing it (Coinbase preview_order)."""

    symbol: str
    side: OrderSide
    base_size: Decimal
    quote_size: Decimal  # notional expected to trade (fills now + resting remainder at its limit)
    avg_price: Decimal | None
    fee: Decimal
    total: Decimal  # BUY: quote spent incl. fee; SELL: quote received after fee
    slippage: Decimal  # fraction of the best price, immediate part only
    best_bid: Decimal | None
    best_ask: Decimal | None
    errors: list[str] = msgspec.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors
