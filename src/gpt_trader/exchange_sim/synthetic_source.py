"""Adapter from the shared seeded generator (`core.synthetic.SyntheticMarket`) to the feed loop.

The generator keeps its own fixed-step clock; this adapter steps it up to the simulator's clock. A big
admin clock jump is caught up at most `max_catchup_steps` per tick (the path then runs behind; prints
are stamped with simulator time), so jumping a day never stalls the event loop.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from gpt_trader.exchange_sim.marketdata import MarketStep, Print
from gpt_trader.features.brokerages.core.interfaces import Candle, Product
from gpt_trader.features.brokerages.core.synthetic import SyntheticConfig, SyntheticMarket

HISTORY_1M = 1440  # one day of one-minute bars
HISTORY_1H = 24 * 30  # thirty days of hourly bars before that


class SyntheticSource:
    def __init__(
        self,
        products: list[Product],
        *,
        seed: int,
        levels: int = 50,
        start: dt.datetime | None = None,
        max_catchup_steps: int = 600,
        config: SyntheticConfig | None = None,
    ) -> None:
        self._products = {p.symbol: p for p in products}
        self._start = start
        self._seed = seed
        self._config = config
        self.levels = levels
        self.max_catchup_steps = max_catchup_steps
        self.market: SyntheticMarket | None = None
        self._sim_t0: dt.datetime | None = None
        self._steps_done = 0
        self._pending: dict[str, list[Print]] = {}
        self._stepped_at: dt.datetime | None = None
        self._last_key: dict[str, tuple[int, float, float, float]] = {}

    def covers(self, symbol: str) -> bool:
        return symbol in self._products

    def invalidate(self, symbol: str) -> None:
        self._last_key.pop(symbol, None)

    def _ensure(self, now: dt.datetime) -> SyntheticMarket:
        if self.market is None:
            self.market = SyntheticMarket(
                list(self._products.values()), seed=self._seed, start=self._start or now, config=self._config
            )
            self._sim_t0 = self.market.start
        return self.market

    def _catch_up(self, now: dt.datetime) -> None:
        market = self._ensure(now)
        if self._stepped_at == now:
            return
        self._stepped_at = now
        assert self._sim_t0 is not None
        target = int((now - self._sim_t0).total_seconds() / market.config.step_s)
        todo = min(target - self._steps_done, self.max_catchup_steps)
        if todo <= 0:
            return
        for _ in range(todo):
            for tick in market.step():
                side = tick.side
                self._pending.setdefault(tick.symbol, []).append(Print(tick.price, tick.size, side))
        self._steps_done += todo

    def step(self, product: Product, now: dt.datetime) -> MarketStep | None:
        if product.symbol not in self._products:
            return None
        self._catch_up(now)
        assert self.market is not None
        sym = self.market.market(product.symbol)
        prints = tuple(self._pending.pop(product.symbol, ()))
        key = (sym.steps, sym.log_mid, sym.spread_scale, sym.depth_scale)
        if self._last_key.get(product.symbol) == key and not prints:
            return MarketStep((), (), (), unchanged=True)  # books are a pure function of this key
        self._last_key[product.symbol] = key
        book = sym.book(self.levels)
        return MarketStep(book.bids, book.asks, prints)

    def history(self, product: Product, now: dt.datetime) -> list[tuple[list[Candle], int]]:
        """One day of one-minute bars, and hourly bars strictly before them (no overlap, no double count)."""
        market = self._ensure(now)
        minutes = market.history(product.symbol, HISTORY_1M, 60)
        cutoff = market.start - dt.timedelta(seconds=60 * HISTORY_1M)
        hours = [
            c for c in market.history(product.symbol, HISTORY_1H, 3600) if c.start + dt.timedelta(hours=1) <= cutoff
        ]
        return [(minutes, 60), (hours, 3600)]

    def set_price(self, product: Product, price: Decimal, now: dt.datetime) -> None:
        self._ensure(now).set_mid(product.symbol, price)
