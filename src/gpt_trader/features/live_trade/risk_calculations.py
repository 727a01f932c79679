"""Risk arithmetic shared by the guards, the pre-trade rules and the sizer.

Money stays Decimal. Volatility and correlation are analytics and use floats, kept as rolling sums so a
cycle costs O(symbols^2) additions, never a pass over the whole window (the risk cycle budget is
microseconds, see benchmarks/risk_cycle.py).
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from gpt_trader.features.brokerages.core.interfaces import OrderBook, OrderSide, Position, Product

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)
BPS = Decimal(10000)
SECONDS_PER_YEAR = 365.25 * 24 * 3600


# ---------------------------------------------------------------------------------- order book
def walk_book(book: OrderBook, side: OrderSide, size: Decimal) -> Decimal | None:
    """Average fill price of a market order of `size` walking `book`; None when the book is too thin."""
    levels = book.asks if side is OrderSide.BUY else book.bids
    remaining = size
    cost = ZERO
    for lvl in levels:
        lsize = lvl.size
        if lsize >= remaining:
            cost += remaining * lvl.price
            return cost / size
        cost += lsize * lvl.price
        remaining -= lsize
    return None


def impact_bps(book: OrderBook, side: OrderSide, size: Decimal) -> tuple[Decimal | None, Decimal | None]:
    """(impact in bps of the mid, average fill price) for a market order of `size`; (None, None) if thin."""
    if not book.bids or not book.asks or size <= 0:
        return None, None
    mid = (book.bids[0].price + book.asks[0].price) / 2
    avg = walk_book(book, side, size)
    if avg is None or mid <= 0:
        return None, avg
    return abs(avg - mid) / mid * BPS, avg


def depth_usd(book: OrderBook, side: OrderSide, levels: int) -> Decimal:
    """Quote value resting on the side a `side` order consumes, over the best `levels` levels."""
    book_side = book.asks if side is OrderSide.BUY else book.bids
    total = ZERO
    for lvl in book_side[:levels]:
        total += lvl.price * lvl.size
    return total


# ------------------------------------------------------------------------------------- perps
def initial_margin_rate(product: Product) -> Decimal:
    """Exchange initial margin: one over the product's maximum leverage."""
    return ONE / product.max_leverage if product.max_leverage > 0 else ONE


def estimate_liquidation_price(position: Position, product: Product) -> Decimal | None:
    """Isolated-margin estimate when the venue gave none: the price at which margin falls to maintenance.

    long: entry * (1 - 1/lev + mmr); short: entry * (1 + 1/lev - mmr).
    """
    if position.size == 0 or position.entry_price <= 0:
        return None
    lev = position.leverage if position.leverage > 0 else ONE
    mmr = product.maintenance_margin_rate
    if position.size > 0:
        return position.entry_price * (ONE - ONE / lev + mmr)
    return position.entry_price * (ONE + ONE / lev - mmr)


def liquidation_distance_pct(mark: Decimal, liquidation_price: Decimal, long: bool) -> Decimal:
    """How far (in % of mark) price must move against the position to reach liquidation; <= 0 is past it."""
    if mark <= 0:
        return ZERO
    move = (mark - liquidation_price) if long else (liquidation_price - mark)
    return move / mark * HUNDRED


# ----------------------------------------------------------------------------------- volatility
def annualized_volatility(closes: Sequence[float], bar_seconds: float) -> float | None:
    """Annualized realized volatility of log returns of `closes`; None with fewer than 3 closes."""
    if len(closes) < 3 or bar_seconds <= 0:
        return None
    rets = [math.log(b / a) for a, b in itertools.pairwise(closes) if a > 0 and b > 0]
    n = len(rets)
    if n < 2:
        return None
    mean = sum(rets) / n
    var = sum((r - mean) ** 2 for r in rets) / (n - 1)
    return math.sqrt(var) * math.sqrt(SECONDS_PER_YEAR / bar_seconds)


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Plain correlation of two equal-length samples (reference for the rolling version)."""
    n = min(len(xs), len(ys))
    if n < 2:
        return None
    xs, ys = xs[-n:], ys[-n:]
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx <= 0 or syy <= 0:
        return None
    return sxy / math.sqrt(sxx * syy)


class _Window:
    """Rolling sum and sum of squares over the last `size` values."""

    __slots__ = ("s", "size", "ss", "values")

    def __init__(self, size: int) -> None:
        self.size = size
        self.values: deque[float] = deque()
        self.s = 0.0
        self.ss = 0.0

    def push(self, x: float) -> None:
        values = self.values
        values.append(x)
        self.s += x
        self.ss += x * x
        if len(values) > self.size:
            old = values.popleft()
            self.s -= old
            self.ss -= old * old

    def resum(self) -> None:
        self.s = math.fsum(self.values)
        self.ss = math.fsum(v * v for v in self.values)

    def stdev(self) -> float | None:
        n = len(self.values)
        if n < 2:
            return None
        var = (self.ss - self.s * self.s / n) / (n - 1)
        return math.sqrt(var) if var > 0 else 0.0


class MarketStats:
    """Per-symbol log returns sampled once per cycle, with rolling volatility and pairwise correlation.

    Every `update` appends one return for every tracked symbol (0 when a symbol has no new price), so
    all series stay aligned cycle by cycle and correlations compare the same instants.
    """

    _RESUM_EVERY = 2000  # recompute sums from scratch now and then to shed float drift

    def __init__(self, *, short_window: int, long_window: int, corr_window: int) -> None:
        self.short_window = short_window
        self.long_window = long_window
        self.corr_window = corr_window
        self.last_price: dict[str, float] = {}
        self.anchor: dict[str, deque[float]] = {}  # prices over the short window (for the move check)
        self._short: dict[str, _Window] = {}
        self._long: dict[str, _Window] = {}
        self._corr: dict[str, _Window] = {}
        self._pairs: dict[tuple[str, str], _Window] = {}  # products x*y over the correlation window
        self._symbols: list[str] = []
        self._updates = 0

    def _add_symbol(self, symbol: str) -> None:
        for other in self._symbols:
            self._pairs[_pair_key(symbol, other)] = _Window(self.corr_window)
        self._symbols.append(symbol)
        self._short[symbol] = _Window(self.short_window)
        self._long[symbol] = _Window(self.long_window)
        self._corr[symbol] = _Window(self.corr_window)
        self.anchor[symbol] = deque(maxlen=self.short_window + 1)

    def update(self, prices: Mapping[str, float]) -> None:
        for symbol in prices:
            if symbol not in self._short:
                self._add_symbol(symbol)
        rets: dict[str, float] = {}
        last = self.last_price
        for symbol in self._symbols:
            price = prices.get(symbol)
            prev = last.get(symbol)
            if price is None or price <= 0:
                continue  # no sample this cycle: series for this symbol pauses (pairs skip too)
            if prev is not None and prev > 0:
                r = math.log(price / prev)
                rets[symbol] = r
                self._short[symbol].push(r)
                self._long[symbol].push(r)
                self._corr[symbol].push(r)
            last[symbol] = price
            self.anchor[symbol].append(price)
        for (a, b), window in self._pairs.items():
            ra = rets.get(a)
            rb = rets.get(b)
            if ra is not None and rb is not None:
                window.push(ra * rb)
        self._updates += 1
        if self._updates % self._RESUM_EVERY == 0:
            for group in (self._short, self._long, self._corr):
                for w in group.values():
                    w.resum()
            for w in self._pairs.values():
                w.resum()

    def samples(self, symbol: str) -> int:
        w = self._long.get(symbol)
        return len(w.values) if w is not None else 0

    def short_vol(self, symbol: str) -> float | None:
        w = self._short.get(symbol)
        return w.stdev() if w is not None and len(w.values) >= self.short_window else None

    def long_vol(self, symbol: str) -> float | None:
        w = self._long.get(symbol)
        return w.stdev() if w is not None else None

    def move_pct(self, symbol: str) -> float | None:
        """Largest |price change| in % between the latest price and any price in the short window."""
        prices = self.anchor.get(symbol)
        if not prices or len(prices) < 2:
            return None
        latest = prices[-1]
        return max(abs(latest / p - 1.0) for p in prices) * 100.0

    def correlation(self, a: str, b: str) -> tuple[float | None, int]:
        """(correlation of a's and b's returns over the shared window, sample count)."""
        if a == b:
            return 1.0, len(self._corr[a].values) if a in self._corr else 0
        pair = self._pairs.get(_pair_key(a, b))
        if pair is None:
            return None, 0
        n = len(pair.values)
        wa, wb = self._corr[a], self._corr[b]
        if n < 2:
            return None, n
        if len(wa.values) == n and len(wb.values) == n:
            sa, saa, sb, sbb = wa.s, wa.ss, wb.s, wb.ss
        else:  # series of different lengths (a symbol joined late or paused): sum the shared tail
            xa = list(wa.values)[-n:]
            xb = list(wb.values)[-n:]
            sa, saa = sum(xa), sum(x * x for x in xa)
            sb, sbb = sum(xb), sum(x * x for x in xb)
        cov = pair.s - sa * sb / n
        va = saa - sa * sa / n
        vb = sbb - sb * sb / n
        if va <= 1e-18 or vb <= 1e-18:
            return None, n
        return max(-1.0, min(1.0, cov / math.sqrt(va * vb))), n

    def state(self) -> dict[str, list[float]]:
        """Recent prices per symbol (persisted so a restart keeps its volatility context)."""
        return {s: list(self.anchor[s]) for s in self._symbols}

    def symbols(self) -> Iterable[str]:
        return tuple(self._symbols)


def _pair_key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)
