"""Per-symbol book state: external (synthetic/replayed) liquidity plus resting user orders, price-time."""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from gpt_trader.features.brokerages.core.interfaces import Product

ZERO = Decimal("0")


class UserSide:
    """One side of the resting user orders: sorted prices, each a FIFO of order ids."""

    __slots__ = ("is_bid", "levels", "prices")

    def __init__(self, is_bid: bool) -> None:
        self.is_bid = is_bid
        self.prices: list[Decimal] = []  # ascending
        self.levels: dict[Decimal, deque[str]] = {}

    def add(self, price: Decimal, order_id: str) -> None:
        level = self.levels.get(price)
        if level is None:
            level = deque()
            self.levels[price] = level
            insort(self.prices, price)
        level.append(order_id)

    def remove(self, price: Decimal, order_id: str) -> None:
        level = self.levels.get(price)
        if level is None:
            return
        try:
            level.remove(order_id)
        except ValueError:
            return
        if not level:
            del self.levels[price]
            idx = bisect_left(self.prices, price)
            if idx < len(self.prices) and self.prices[idx] == price:
                del self.prices[idx]

    def best(self) -> Decimal | None:
        if not self.prices:
            return None
        return self.prices[-1] if self.is_bid else self.prices[0]

    def next_after(self, price: Decimal) -> Decimal | None:
        """The next worse price level after `price` (which may no longer exist)."""
        prices = self.prices
        if self.is_bid:
            idx = bisect_left(prices, price) - 1
            return prices[idx] if idx >= 0 else None
        idx = bisect_right(prices, price)
        return prices[idx] if idx < len(prices) else None

    def prices_best_first(self) -> Iterator[Decimal]:
        return reversed(self.prices) if self.is_bid else iter(self.prices)

    def __len__(self) -> int:
        return sum(len(q) for q in self.levels.values())


@dataclass(slots=True)
class SymbolState:
    product: Product
    ext_bids: list[list[Decimal]] = field(default_factory=list)  # [price, size], best first
    ext_asks: list[list[Decimal]] = field(default_factory=list)
    ext_index: tuple[dict[Decimal, list[Decimal]], dict[Decimal, list[Decimal]]] = field(
        default_factory=lambda: ({}, {})
    )
    user_bids: UserSide = field(default_factory=lambda: UserSide(True))
    user_asks: UserSide = field(default_factory=lambda: UserSide(False))
    stops: list[str] = field(default_factory=list)  # untriggered stop-limit order ids
    brackets: list[str] = field(default_factory=list)  # resting brackets whose stop leg is armed
    book_ts: datetime | None = None
    mid: Decimal | None = None
    last: Decimal | None = None
    mark_override: Decimal | None = None
    funding_rate: Decimal = ZERO
    next_funding: datetime | None = None

    @property
    def mark(self) -> Decimal | None:
        if self.mark_override is not None:
            return self.mark_override
        return self.mid if self.mid is not None else self.last

    @property
    def reference(self) -> Decimal | None:
        """Trigger/notional reference: mid when a two-sided book exists, else the last trade."""
        return self.mid if self.mid is not None else self.last

    def set_external(self, bids: list[list[Decimal]], asks: list[list[Decimal]]) -> None:
        self.ext_bids = bids
        self.ext_asks = asks
        self.ext_index = ({lvl[0]: lvl for lvl in bids}, {lvl[0]: lvl for lvl in asks})

    def ext_size_at(self, is_bid: bool, price: Decimal) -> Decimal:
        lvl = self.ext_index[0 if is_bid else 1].get(price)
        return lvl[1] if lvl is not None and lvl[1] > 0 else ZERO

    def purge_ext(self) -> None:
        """Drop emptied levels; takers and crosses consume best-first, so they sit at the front."""
        for ext in (self.ext_bids, self.ext_asks):
            i = 0
            while i < len(ext) and ext[i][1] <= 0:
                i += 1
            if i:
                del ext[:i]

    def best_bid(self) -> Decimal | None:
        ext = next((lvl[0] for lvl in self.ext_bids if lvl[1] > 0), None)
        usr = self.user_bids.best()
        if ext is None:
            return usr
        return ext if usr is None else max(ext, usr)

    def best_ask(self) -> Decimal | None:
        ext = next((lvl[0] for lvl in self.ext_asks if lvl[1] > 0), None)
        usr = self.user_asks.best()
        if ext is None:
            return usr
        return ext if usr is None else min(ext, usr)
