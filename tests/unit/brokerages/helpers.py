"""Test helpers for the venue core: a controllable clock and book-level shorthand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from gpt_trader.features.brokerages.core.interfaces import BookLevel, OrderRequest, OrderSide, OrderType

D = Decimal
T0 = datetime(2025, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def tick(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def lv(price: str, size: str) -> BookLevel:
    return BookLevel(D(price), D(size))


def limit(side: OrderSide, size: str, price: str, symbol: str = "BTC-USD", **kw: Any) -> OrderRequest:
    return OrderRequest(symbol=symbol, side=side, order_type=OrderType.LIMIT, size=D(size), limit_price=D(price), **kw)


def market(
    side: OrderSide, size: str | None = None, quote: str | None = None, symbol: str = "BTC-USD", **kw: Any
) -> OrderRequest:
    return OrderRequest(
        symbol=symbol,
        side=side,
        order_type=OrderType.MARKET,
        size=D(size) if size else None,
        quote_size=D(quote) if quote else None,
        **kw,
    )
