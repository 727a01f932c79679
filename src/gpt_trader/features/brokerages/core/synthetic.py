"""Seeded synthetic markets: regime-switching random walks with jumps, trades, candles and an L2 book.

Each symbol has its own `random.Random`, seeded from sha256(seed, symbol), so adding a symbol never
changes another's path, and a run is reproducible across processes. Time moves in fixed sub-steps
(`step_s`); `advance` carries the fractional remainder, so the path does not depend on how a caller
chunks time. Books are a pure function of (seed, symbol, step index, mid, regime, liquidity settings),
so pulling a book never consumes path randomness. Floats drive the walk; every output is Decimal on the
product's grid.
"""

from __future__ import annotations

import hashlib
import math
import random
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from gpt_trader.features.brokerages.core.interfaces import (
    BookLevel,
    Candle,
    OrderBook,
    OrderSide,
    Product,
    Quote,
    TradeTick,
)
from gpt_trader.features.brokerages.core.products import reference_price

SECONDS_PER_YEAR = 365.0 * 86400.0
BAR_S = 60  # stored base bar; candles of any multiple of it are aggregated on demand
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Regime:
    name: str
    vol_mult: float
    mean_duration_s: float
    jumps_per_day: float
    jump_sigma: float  # log-return stdev of a jump
    spread_mult: float
    depth_mult: float
    trade_rate_mult: float


CALM = Regime("calm", 0.6, 4 * 3600, 0.5, 0.004, 0.7, 1.3, 0.6)
NORMAL = Regime("normal", 1.0, 6 * 3600, 2.0, 0.008, 1.0, 1.0, 1.0)
TURBULENT = Regime("turbulent", 2.5, 1 * 3600, 12.0, 0.015, 3.0, 0.4, 2.5)
DEFAULT_REGIMES: tuple[Regime, ...] = (CALM, NORMAL, TURBULENT)
#: Where a leaving regime goes (rows follow DEFAULT_REGIMES order).
DEFAULT_TRANSITIONS: tuple[tuple[float, ...], ...] = ((0.0, 0.9, 0.1), (0.6, 0.0, 0.4), (0.2, 0.8, 0.0))
#: No volatility, no jumps, never left: the mid moves only when set (`set_mid`); trades still print.
STILL = Regime("still", 0.0, math.inf, 0.0, 0.0, 1.0, 1.0, 1.0)


@dataclass(frozen=True, slots=True)
class AssetProfile:
    annual_vol: float
    spread_bps: float
    level_notional_usd: float
    trades_per_s: float
    trade_notional_usd: float


DEFAULT_PROFILE = AssetProfile(0.8, 4.0, 20_000, 0.3, 400)
ASSET_PROFILES: dict[str, AssetProfile] = {
    "BTC": AssetProfile(0.50, 0.5, 150_000, 1.5, 1_500),
    "ETH": AssetProfile(0.65, 0.8, 80_000, 1.0, 1_000),
    "SOL": AssetProfile(0.85, 2.0, 40_000, 0.8, 600),
    "XRP": AssetProfile(0.90, 2.0, 30_000, 0.6, 500),
    "LTC": AssetProfile(0.75, 4.0, 15_000, 0.3, 300),
    "ADA": AssetProfile(0.90, 3.0, 15_000, 0.3, 300),
    "DOGE": AssetProfile(1.00, 3.0, 20_000, 0.5, 300),
    "BCH": AssetProfile(0.80, 5.0, 10_000, 0.2, 300),
    "AVAX": AssetProfile(0.95, 4.0, 10_000, 0.3, 300),
    "LINK": AssetProfile(0.90, 4.0, 10_000, 0.3, 300),
}


@dataclass(slots=True)
class SyntheticConfig:
    step_s: float = 1.0
    book_levels: int = 20
    level_gap_bps: float = 1.0
    regimes: tuple[Regime, ...] = DEFAULT_REGIMES
    transitions: tuple[tuple[float, ...], ...] = DEFAULT_TRANSITIONS
    initial_regime: int = 1
    history_substeps: int = 8
    profiles: dict[str, AssetProfile] = field(default_factory=lambda: dict(ASSET_PROFILES))


def still_config() -> SyntheticConfig:
    """A market that holds its price until a test (or the simulator's admin) sets it: bars still close on
    the prints, but no random move can cross a price a test relies on (a stop, a limit)."""
    return SyntheticConfig(regimes=(STILL,), transitions=((1.0,),), initial_regime=0)


def derive_seed(seed: int, *parts: object) -> int:
    """Stable across processes (unlike hash()): sha256 of the seed and the parts."""
    text = ":".join([str(seed), *(str(p) for p in parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _bucket(ts: datetime, seconds: int) -> datetime:
    elapsed = int((ts - EPOCH).total_seconds())
    return EPOCH + timedelta(seconds=elapsed - elapsed % seconds)


class _Grid:
    """Fast float -> Decimal on a product's increments."""

    __slots__ = ("base", "base_min", "price")

    def __init__(self, product: Product) -> None:
        self.price = product.price_increment
        self.base = product.base_increment
        self.base_min = product.base_min_size

    def px(self, value: float, rounding: str = ROUND_HALF_EVEN) -> Decimal:
        ticks = (Decimal(repr(value)) / self.price).to_integral_value(rounding=rounding)
        return (max(ticks, Decimal(1)) * self.price).quantize(self.price)

    def px_ticks(self, ticks: int) -> Decimal:
        return (Decimal(max(ticks, 1)) * self.price).quantize(self.price)

    def size(self, value: float) -> Decimal:
        units = int(value / float(self.base))
        out = (Decimal(units) * self.base).quantize(self.base)
        return out if out >= self.base_min else self.base_min


class SymbolMarket:
    """One symbol's path. Driven by `SyntheticMarket`; usable alone for tests and data generation."""

    def __init__(
        self,
        product: Product,
        *,
        seed: int,
        start: datetime,
        config: SyntheticConfig,
        start_price: Decimal | None = None,
    ) -> None:
        self.product = product
        self.symbol = product.symbol
        self.config = config
        self.profile = config.profiles.get(product.base_asset, DEFAULT_PROFILE)
        self._seed = derive_seed(seed, product.symbol)
        self._rng = random.Random(self._seed)
        self._grid = _Grid(product)
        self.start = start
        self.start_price = start_price if start_price is not None else reference_price(product)
        self.log_mid = math.log(float(self.start_price))
        self.regime_idx = config.initial_regime
        self.steps = 0
        self.now = start
        self.spread_scale = 1.0
        self.depth_scale = 1.0
        self.last_trade: float | None = None
        self._trade_seq = 0
        self._bars: list[_Bar] = []  # 60 s bars, oldest first
        self._history: dict[int, _HistoryCache] = {}
        self._mark_bar(self.mid_float, Decimal(0))  # the session's first candle opens at the start price

    # ------------------------------------------------------------------ state
    @property
    def regime(self) -> Regime:
        return self.config.regimes[self.regime_idx]

    @property
    def mid_float(self) -> float:
        return math.exp(self.log_mid)

    def mid(self) -> Decimal:
        return self._grid.px(self.mid_float)

    def set_mid(self, price: Decimal) -> None:
        """Jump the path to `price` now (flash crash / squeeze scenarios)."""
        if price <= 0:
            raise ValueError(f"{self.symbol}: price must be > 0, got {price}")
        self.log_mid = math.log(float(price))
        self.last_trade = float(price)  # the move prints: the last trade is no longer the old level
        self._mark_bar(self.mid_float, Decimal(0))

    def set_liquidity(self, spread_bps: float | None = None, depth_scale: float | None = None) -> None:
        """Override the spread (absolute bps, regime still scales it) and scale every level's size."""
        if spread_bps is not None:
            if spread_bps <= 0:
                raise ValueError(f"spread_bps must be > 0, got {spread_bps}")
            self.spread_scale = spread_bps / self.profile.spread_bps
        if depth_scale is not None:
            if depth_scale <= 0:
                raise ValueError(f"depth_scale must be > 0, got {depth_scale}")
            self.depth_scale = depth_scale

    # ------------------------------------------------------------------ stepping
    def step(self) -> list[TradeTick]:
        cfg = self.config
        rng = self._rng
        dt = cfg.step_s
        regime = self.regime
        if rng.random() < dt / regime.mean_duration_s:
            weights = cfg.transitions[self.regime_idx]
            self.regime_idx = rng.choices(range(len(cfg.regimes)), weights=weights)[0]
            regime = self.regime
        sigma = self.profile.annual_vol * regime.vol_mult * math.sqrt(dt / SECONDS_PER_YEAR)
        r = rng.gauss(0.0, sigma) - 0.5 * sigma * sigma
        if rng.random() < regime.jumps_per_day * dt / 86400.0:
            r += rng.gauss(0.0, regime.jump_sigma)
        self.log_mid += r
        self.steps += 1
        self.now = self.start + timedelta(seconds=self.steps * dt)
        mid = self.mid_float
        trades: list[TradeTick] = []
        lam = self.profile.trades_per_s * regime.trade_rate_mult * dt
        volume = Decimal(0)
        for _ in range(self._poisson(lam)):
            taker_buys = rng.random() < 0.5
            half = mid * self._spread_bps() / 2e4
            price = mid + half if taker_buys else mid - half
            notional = self.profile.trade_notional_usd * rng.lognormvariate(0.0, 1.0)
            size = self._grid.size(notional / mid)
            self._trade_seq += 1
            px = self._grid.px(price)
            trades.append(
                TradeTick(
                    symbol=self.symbol,
                    trade_id=str(self._trade_seq),
                    price=px,
                    size=size,
                    side=OrderSide.SELL if taker_buys else OrderSide.BUY,
                    ts=self.now,
                )
            )
            self.last_trade = float(px)
            volume += size
        self._mark_bar(mid, volume)
        return trades

    def _poisson(self, lam: float) -> int:
        if lam <= 0:
            return 0
        limit = math.exp(-lam)
        k = 0
        p = self._rng.random()
        while p > limit:
            k += 1
            p *= self._rng.random()
        return k

    def _mark_bar(self, price: float, volume: Decimal) -> None:
        elapsed = int((self.now - EPOCH).total_seconds())
        bucket = elapsed - elapsed % BAR_S
        bars = self._bars
        if bars and bars[-1].bucket == bucket:
            bars[-1].add(price, volume)
        else:
            bars.append(_Bar(bucket, price, price, price, price, volume))

    # ------------------------------------------------------------------ book & quote
    def _spread_bps(self) -> float:
        return self.profile.spread_bps * self.regime.spread_mult * self.spread_scale

    def top(self) -> tuple[Decimal, Decimal]:
        mid = self.mid_float
        tick = float(self._grid.price)
        half = max(mid * self._spread_bps() / 2e4, tick / 2)
        bid_ticks = math.floor((mid - half) / tick + 1e-9)
        ask_ticks = math.ceil((mid + half) / tick - 1e-9)
        if ask_ticks <= bid_ticks:
            ask_ticks = bid_ticks + 1
        return self._grid.px_ticks(bid_ticks), self._grid.px_ticks(ask_ticks)

    def book(self, depth: int | None = None, ts: datetime | None = None) -> OrderBook:
        levels = depth or self.config.book_levels
        rng = random.Random(self._seed ^ (self.steps * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF))
        mid = self.mid_float
        tick = float(self._grid.price)
        regime = self.regime
        half = max(mid * self._spread_bps() / 2e4, tick / 2)
        bid0 = math.floor((mid - half) / tick + 1e-9)
        ask0 = math.ceil((mid + half) / tick - 1e-9)
        if ask0 <= bid0:
            ask0 = bid0 + 1
        gap = max(1, round(mid * self.config.level_gap_bps * regime.spread_mult * self.spread_scale / 1e4 / tick))
        notional = self.profile.level_notional_usd * regime.depth_mult * self.depth_scale
        bids: list[BookLevel] = []
        asks: list[BookLevel] = []
        for i in range(levels):
            shape = 1.0 + 0.15 * i
            b_ticks = bid0 - i * gap
            if b_ticks >= 1:
                bids.append(
                    BookLevel(
                        self._grid.px_ticks(b_ticks),
                        self._grid.size(notional * shape * rng.uniform(0.5, 1.5) / mid),
                    )
                )
            a_ticks = ask0 + i * gap
            asks.append(
                BookLevel(
                    self._grid.px_ticks(a_ticks),
                    self._grid.size(notional * shape * rng.uniform(0.5, 1.5) / mid),
                )
            )
        return OrderBook(symbol=self.symbol, bids=tuple(bids), asks=tuple(asks), ts=ts or self.now)

    def quote(self, ts: datetime | None = None) -> Quote:
        bid, ask = self.top()
        last = self._grid.px(self.last_trade) if self.last_trade is not None else (bid + ask) / 2
        return Quote(symbol=self.symbol, bid=bid, ask=ask, last=last, ts=ts or self.now)

    # ------------------------------------------------------------------ candles
    def candles(self, granularity_s: int, start: datetime | None = None, end: datetime | None = None) -> list[Candle]:
        """Session candles (oldest first) aggregated from 60 s bars, incl. the one still forming.
        Only bars inside [start, end) are converted, so polling a long session stays cheap."""
        _check_granularity(granularity_s)
        g = granularity_s
        bars = self._bars
        lo = 0
        hi = len(bars)
        if start is not None:
            first = -(-int((start - EPOCH).total_seconds()) // g) * g  # ceil to a candle boundary
            lo = bisect_left(bars, first, key=lambda b: b.bucket)
        if end is not None:
            last = -(-int((end - EPOCH).total_seconds()) // g) * g
            hi = bisect_left(bars, last, key=lambda b: b.bucket)
        out: list[Candle] = []
        current: _Bar | None = None
        for bar in bars[lo:hi]:
            bucket = bar.bucket - bar.bucket % g
            if current is None or current.bucket != bucket:
                if current is not None:
                    out.append(self._candle(current))
                current = _Bar(bucket, bar.open, bar.high, bar.low, bar.close, bar.volume)
            else:
                current.high = max(current.high, bar.high)
                current.low = min(current.low, bar.low)
                current.close = bar.close
                current.volume += bar.volume
        if current is not None:
            out.append(self._candle(current))
        return out

    def _candle(self, bar: _Bar) -> Candle:
        g = self._grid
        return Candle(
            start=EPOCH + timedelta(seconds=bar.bucket),
            open=g.px(bar.open),
            high=g.px(bar.high),
            low=g.px(bar.low),
            close=g.px(bar.close),
            volume=bar.volume.quantize(g.base, rounding=ROUND_FLOOR),
            symbol=self.symbol,
        )

    def history(self, n_candles: int, granularity_s: int) -> list[Candle]:
        """`n_candles` candles (oldest first) ending where the session starts; the last close meets the
        session's starting mid. Each granularity has its own deterministic path."""
        _check_granularity(granularity_s)
        if n_candles <= 0:
            return []
        cache = self._history.get(granularity_s)
        if cache is None:
            cache = _HistoryCache(
                rng=random.Random(derive_seed(self._seed, "history", granularity_s)),
                price=float(self.start_price),
                regime_idx=self.config.initial_regime,
                end=_bucket(self.start, granularity_s),
            )
            self._history[granularity_s] = cache
        while len(cache.candles) < n_candles:
            self._extend_history(cache, granularity_s)
        return list(reversed(cache.candles[:n_candles]))

    def _extend_history(self, cache: _HistoryCache, g: int) -> None:
        cfg = self.config
        rng = cache.rng
        k = max(1, cfg.history_substeps)
        regime = cfg.regimes[cache.regime_idx]
        if rng.random() < min(1.0, g / regime.mean_duration_s):
            cache.regime_idx = rng.choices(range(len(cfg.regimes)), weights=cfg.transitions[cache.regime_idx])[0]
            regime = cfg.regimes[cache.regime_idx]
        sigma = self.profile.annual_vol * regime.vol_mult * math.sqrt(g / k / SECONDS_PER_YEAR)
        close = cache.price
        path = [close]
        price = close
        jump_p = min(1.0, regime.jumps_per_day * g / 86400.0) / k
        for _ in range(k):
            r = rng.gauss(0.0, sigma)
            if rng.random() < jump_p:
                r += rng.gauss(0.0, regime.jump_sigma)
            price = price * math.exp(-r)
            path.append(price)
        open_ = path[-1]
        wick = abs(rng.gauss(0.0, sigma))
        high = max(path) * (1 + wick)
        low = min(path) * (1 - wick)
        volume = (
            self.profile.trades_per_s
            * regime.trade_rate_mult
            * g
            * self.profile.trade_notional_usd
            * rng.lognormvariate(0.0, 0.5)
            / close
        )
        start = cache.end - timedelta(seconds=g * (len(cache.candles) + 1))
        bucket = int((start - EPOCH).total_seconds())
        cache.candles.append(self._candle(_Bar(bucket, open_, high, low, close, Decimal(repr(volume)))))
        cache.price = open_


@dataclass(slots=True)
class _Bar:
    bucket: int  # epoch seconds of the bar start
    open: float
    high: float
    low: float
    close: float
    volume: Decimal

    def add(self, price: float, volume: Decimal) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price
        self.volume += volume


@dataclass(slots=True)
class _HistoryCache:
    rng: random.Random
    price: float
    regime_idx: int
    end: datetime
    candles: list[Candle] = field(default_factory=list)  # newest first


def _check_granularity(granularity_s: int) -> None:
    if granularity_s <= 0 or granularity_s % BAR_S:
        raise ValueError(f"granularity_s must be a positive multiple of {BAR_S}, got {granularity_s}")


class SyntheticMarket:
    """All symbols on one clock. Entry point for the mock broker, the simulator and `data synth`."""

    def __init__(
        self,
        products: list[Product],
        *,
        seed: int = 42,
        start: datetime | None = None,
        step_s: float = 1.0,
        config: SyntheticConfig | None = None,
        start_prices: dict[str, Decimal] | None = None,
    ) -> None:
        if step_s <= 0:
            raise ValueError(f"step_s must be > 0, got {step_s}")
        self.config = config or SyntheticConfig()
        self.config.step_s = step_s
        self.start = start or datetime(2025, 1, 1, tzinfo=UTC)
        if self.start.tzinfo is None:
            raise ValueError("start must be timezone-aware UTC")
        self.seed = seed
        prices = start_prices or {}
        self.markets: dict[str, SymbolMarket] = {
            p.symbol: SymbolMarket(p, seed=seed, start=self.start, config=self.config, start_price=prices.get(p.symbol))
            for p in products
        }
        self._steps = 0
        self._carry = 0.0

    @property
    def symbols(self) -> list[str]:
        return list(self.markets)

    @property
    def now(self) -> datetime:
        return self.start + timedelta(seconds=self._steps * self.config.step_s)

    def market(self, symbol: str) -> SymbolMarket:
        m = self.markets.get(symbol)
        if m is None:
            raise KeyError(f"unknown symbol {symbol!r}; known: {', '.join(sorted(self.markets))}")
        return m

    def steps_for(self, seconds: float) -> int:
        """How many sub-steps `advance(seconds)` will take (remainders carry to the next call)."""
        if seconds < 0:
            raise ValueError(f"seconds must be >= 0, got {seconds}")
        total = self._carry + seconds
        return int(total / self.config.step_s + 1e-9)

    def advance(self, seconds: float, on_step: Callable[[list[TradeTick]], None] | None = None) -> list[TradeTick]:
        """Run whole sub-steps; `on_step` sees each step's trades (the mock broker pushes books there)."""
        n = self.steps_for(seconds)
        total = self._carry + seconds
        self._carry = max(0.0, total - n * self.config.step_s)
        trades: list[TradeTick] = []
        for _ in range(n):
            step_trades = self.step()
            trades.extend(step_trades)
            if on_step is not None:
                on_step(step_trades)
        return trades

    def step(self) -> list[TradeTick]:
        """One sub-step for every symbol."""
        self._steps += 1
        trades: list[TradeTick] = []
        for m in self.markets.values():
            trades.extend(m.step())
        return trades

    def mid(self, symbol: str) -> Decimal:
        return self.market(symbol).mid()

    def quote(self, symbol: str) -> Quote:
        return self.market(symbol).quote()

    def book(self, symbol: str, depth: int | None = None) -> OrderBook:
        return self.market(symbol).book(depth)

    def candles(
        self, symbol: str, granularity_s: int, start: datetime | None = None, end: datetime | None = None
    ) -> list[Candle]:
        return self.market(symbol).candles(granularity_s, start, end)

    def history(self, symbol: str, n_candles: int, granularity_s: int) -> list[Candle]:
        return self.market(symbol).history(n_candles, granularity_s)

    def set_mid(self, symbol: str, price: Decimal) -> None:
        self.market(symbol).set_mid(price)

    def set_liquidity(self, symbol: str, spread_bps: float | None = None, depth_scale: float | None = None) -> None:
        self.market(symbol).set_liquidity(spread_bps, depth_scale)
