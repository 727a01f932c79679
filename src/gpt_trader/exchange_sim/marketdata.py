"""Where the simulator's external liquidity comes from: replayed files, the seeded synthetic generator,
or books pinned through the admin API. Each source answers "what is the book / what printed" at a
simulated time; the feed loop pushes that into the matching engine.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Protocol

from gpt_trader.exchange_sim.replay import ReplayCursor, ReplaySeries
from gpt_trader.features.brokerages.core.interfaces import BookLevel, Candle, OrderSide, Product
from gpt_trader.features.brokerages.core.quantization import quantize_price_nearest


@dataclass(frozen=True)
class Print:
    price: Decimal
    size: Decimal
    side: OrderSide  # maker side


@dataclass(frozen=True)
class MarketStep:
    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]
    prints: tuple[Print, ...] = ()
    unchanged: bool = False  # same book as the previous step: the engine need not be touched


class MarketSource(Protocol):
    def covers(self, symbol: str) -> bool: ...

    def invalidate(self, symbol: str) -> None:
        """Forget any cached book so the next step re-sends it (after a pinned book is released)."""

    def step(self, product: Product, now: dt.datetime) -> MarketStep | None: ...

    def history(self, product: Product, now: dt.datetime) -> list[tuple[list[Candle], int]]: ...

    def set_price(self, product: Product, price: Decimal, now: dt.datetime) -> None: ...


class BookShaper:
    """Builds a plausible L2 book around a mid: spread in bps, sizes growing away from the touch."""

    def __init__(self, *, seed: int = 0, levels: int = 50, spread_bps: Decimal = Decimal("2")) -> None:
        self._rng = random.Random(seed)
        self.levels = levels
        self.spread_bps = spread_bps

    def build(
        self, product: Product, mid: Decimal, notional_per_level: Decimal = Decimal("20000")
    ) -> tuple[tuple[BookLevel, ...], tuple[BookLevel, ...]]:
        tick = product.price_increment
        half = max(mid * self.spread_bps / Decimal(20000), tick)
        step = max(tick, (mid * Decimal("0.0001")).quantize(tick, rounding=ROUND_DOWN))
        best_bid = quantize_price_nearest(mid - half, product)
        best_ask = quantize_price_nearest(mid + half, product)
        if best_ask <= best_bid:
            best_ask = best_bid + tick
        bids: list[BookLevel] = []
        asks: list[BookLevel] = []
        base_inc = product.base_increment
        for i in range(self.levels):
            scale = Decimal(1 + i // 5) * Decimal(str(round(0.6 + self._rng.random() * 0.8, 3)))
            bid_px = best_bid - step * i
            ask_px = best_ask + step * i
            if bid_px > 0:
                size = (notional_per_level * scale / bid_px).quantize(base_inc, rounding=ROUND_DOWN)
                if size > 0:
                    bids.append(BookLevel(bid_px, max(size, product.base_min_size)))
            size = (notional_per_level * scale / ask_px).quantize(base_inc, rounding=ROUND_DOWN)
            if size > 0:
                asks.append(BookLevel(ask_px, max(size, product.base_min_size)))
        return tuple(bids), tuple(asks)


class ReplaySource:
    """Recorded candles/trades for the products they were mapped to (looping at the end)."""

    def __init__(self, series: dict[str, ReplaySeries], *, seed: int = 0, levels: int = 50) -> None:
        self.cursors = {sym: ReplayCursor(s) for sym, s in series.items()}
        self.shaper = BookShaper(seed=seed, levels=levels)
        self._last: dict[str, dt.datetime] = {}
        self._rng = random.Random(seed)

    def covers(self, symbol: str) -> bool:
        return symbol in self.cursors

    def invalidate(self, symbol: str) -> None:
        return None  # replay books are rebuilt every step

    def step(self, product: Product, now: dt.datetime) -> MarketStep | None:
        cursor = self.cursors.get(product.symbol)
        if cursor is None:
            return None
        mid = cursor.price_at(now)
        bids, asks = self.shaper.build(product, mid)
        prev = self._last.get(product.symbol, now)
        self._last[product.symbol] = now
        prints: list[Print] = []
        if cursor.series.kind == "trades":
            for t in cursor.trades_between(prev, now):
                size = t.size.quantize(product.base_increment, rounding=ROUND_DOWN)
                if size > 0:
                    price = quantize_price_nearest(t.price, product)
                    prints.append(Print(price, size, t.side.opposite))
        elif now > prev:
            bar_volume = cursor.series.candles[0].volume
            elapsed = Decimal(str((now - prev).total_seconds()))
            size = (bar_volume * elapsed / cursor.series.interval_s).quantize(
                product.base_increment, rounding=ROUND_DOWN
            )
            if size > 0:
                side = OrderSide.BUY if self._rng.random() < 0.5 else OrderSide.SELL
                px = bids[0].price if side is OrderSide.BUY else asks[0].price
                prints.append(Print(px, size, side))
        return MarketStep(bids, asks, tuple(prints))

    def history(self, product: Product, now: dt.datetime) -> list[tuple[list[Candle], int]]:
        cursor = self.cursors.get(product.symbol)
        if cursor is None:
            return []
        return [(cursor.candles_until(now), cursor.series.interval_s)]

    def set_price(self, product: Product, price: Decimal, now: dt.datetime) -> None:
        raise ValueError(f"{product.symbol} is replayed from a file; its price cannot be set (pin a book instead)")


class PinnedBooks:
    """Books set through the admin API; they override every other source until released."""

    def __init__(self) -> None:
        self.books: dict[str, tuple[tuple[BookLevel, ...], tuple[BookLevel, ...]]] = {}

    def pin(self, symbol: str, bids: tuple[BookLevel, ...], asks: tuple[BookLevel, ...]) -> None:
        self.books[symbol] = (bids, asks)

    def release(self, symbol: str) -> bool:
        return self.books.pop(symbol, None) is not None

    def step(self, product: Product) -> MarketStep | None:
        pinned = self.books.get(product.symbol)
        if pinned is None:
            return None
        return MarketStep(pinned[0], pinned[1])

    def covers(self, symbol: str) -> bool:
        return symbol in self.books
