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
_BUY = OrderSide.BUY  # an Enum class attribute lookup costs ~65 ns per call
SECONDS_PER_YEAR = 365.25 * 24 * 3600
#: Variance below this is running-sum rounding noise (a flat price), not volatility: 1e-14 is a
#: per-sample return stdev of 1e-7, far under any traded market's.
_NOISE = 1e-14


# ---------------------------------------------------------------------------------- order book
def walk_book(book: OrderBook, side: OrderSide, size: Decimal) -> Decimal | None:
    """Average fill price of a market order of `size` walking `book`; None when the book is too thin."""
    levels = book.asks if side is _BUY else book.bids
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


def depth_usd(book: OrderBook, side: OrderSide, levels: int, enough: Decimal | None = None) -> Decimal:
    """Quote value resting on the side a `side` order consumes, over the best `levels` levels.

    Stops adding once `enough` is reached (the liquidity guard only needs to know "at least this much").
    """
    book_side = book.asks if side is _BUY else book.bids
    total = ZERO
    for i in range(min(levels, len(book_side))):
        lvl = book_side[i]
        total += lvl.price * lvl.size
        if enough is not None and total >= enough:
            break
    return total


# ------------------------------------------------------------------------------------- perps
def initial_margin_rate(product: Product, leverage: Decimal | None = None) -> Decimal:
    """Initial margin per unit of notional at `leverage` (an order's or a position's; the venue's default
    is 1x), never below the product's floor of one over its maximum leverage."""
    lev = leverage if leverage is not None and leverage > ONE else ONE
    if product.max_leverage > 0 and lev > product.max_leverage:
        lev = product.max_leverage
    return ONE / lev


def estimate_liquidation_price(
    position: Position, product: Product, *, equity: Decimal | None = None, mark: Decimal | None = None
) -> Decimal | None:
    """Where margin falls to maintenance, when the venue gave no liquidation price.

    Cross margin (the default, and whenever `equity` is given for a cross position): the account's
    equity backs the position, so liquidation is where equity + size * (P - mark) = mmr * |size| * P.
    Isolated: the position's own margin (entry / leverage): long entry * (1 - 1/lev + mmr), short
    entry * (1 + 1/lev - mmr). None when the position cannot be liquidated (fully collateralized).
    """
    size = position.size
    if size == 0 or position.entry_price <= 0:
        return None
    mmr = product.maintenance_margin_rate
    isolated = position.margin_type is not None and position.margin_type.value == "ISOLATED"
    if not isolated and equity is not None:
        m = mark if mark is not None and mark > 0 else position.mark_price
        long = (size * m - equity) / (size * (ONE - mmr)) if size > 0 else None
        price = long if long is not None else (-size * m + equity) / (-size * (ONE + mmr))
        return price if price > 0 else None
    lev = position.leverage if position.leverage > 0 else ONE
    if size > 0:
        price = position.entry_price * (ONE - ONE / lev + mmr)
        return price if price > 0 else None
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


class _Series:
    """One symbol's returns with running sums over three windows (short, long, correlation)."""

    __slots__ = (
        "inv_sd",
        "mean_corr",
        "n_corr",
        "n_long",
        "n_short",
        "prices",
        "rets",
        "s_corr",
        "s_long",
        "s_short",
        "ss_corr",
        "ss_long",
        "ss_short",
    )

    def __init__(self, short_window: int) -> None:
        self.rets: deque[float] = deque()
        self.prices: deque[float] = deque(maxlen=short_window + 1)
        self.s_short = self.ss_short = self.s_long = self.ss_long = self.s_corr = self.ss_corr = 0.0
        self.n_short = self.n_long = self.n_corr = 0
        # over the correlation window: mean return and 1 / sqrt(centered sum of squares), 0.0 when flat
        self.mean_corr = 0.0
        self.inv_sd = 0.0


class _PairWindow:
    """Products of two symbols' returns over the correlation window and their running sum, plus the
    correlation computed from them, cached until the next update (`version`)."""

    __slots__ = ("corr", "s", "values", "version")

    def __init__(self) -> None:
        self.values: deque[float] = deque()
        self.s = 0.0
        self.version = -1
        self.corr: float | None = None


def _stdev(s: float, ss: float, n: int) -> float | None:
    if n < 2:
        return None
    var = (ss - s * s / n) / (n - 1)
    return math.sqrt(var) if var > _NOISE else 0.0


class MarketStats:
    """Per-symbol log returns sampled once per cycle, with rolling volatility and pairwise correlation.

    Every `update` takes one price per symbol; a symbol without a price that cycle pauses (no return is
    recorded, and its pairs skip the cycle). Sums are running sums, recomputed from scratch now and then
    to shed float drift; correlations are cached until the next update.
    """

    _RESUM_EVERY = 2000

    def __init__(self, *, short_window: int, long_window: int, corr_window: int) -> None:
        self.short_window = short_window
        self.long_window = long_window
        self.corr_window = corr_window
        self._keep = max(long_window, corr_window)
        self._series: dict[str, _Series] = {}
        self._pairs: list[tuple[int, int, _PairWindow]] = []  # indexes into the series order
        self._pair_index: dict[tuple[str, str], tuple[_PairWindow, _Series, _Series]] = {}
        # symbol -> other -> the same entries, so a scan over one symbol's pairs builds no key tuples
        self._neighbors: dict[str, dict[str, tuple[_PairWindow, _Series, _Series]]] = {}
        self._corr_cache: dict[tuple[str, str], tuple[float | None, int]] = {}
        self._updates = 0

    def _add_symbol(self, symbol: str) -> None:
        new = _Series(self.short_window)
        me = len(self._series)
        for j, (other, ser) in enumerate(self._series.items()):
            window = _PairWindow()
            self._pairs.append((me, j, window))
            self._pair_index[(symbol, other)] = (window, new, ser)
            self._pair_index[(other, symbol)] = (window, ser, new)
            self._neighbors.setdefault(symbol, {})[other] = (window, new, ser)
            self._neighbors.setdefault(other, {})[symbol] = (window, ser, new)
        self._series[symbol] = new

    def update(self, prices: Mapping[str, float]) -> None:
        series = self._series
        for symbol in prices:
            if symbol not in series:
                self._add_symbol(symbol)
        short, long, corr, keep = self.short_window, self.long_window, self.corr_window, self._keep
        i_short, i_long, i_corr = -short - 1, -long - 1, -corr - 1  # the return leaving each window
        rets: list[float | None] = [None] * len(series)
        log = math.log
        sqrt = math.sqrt
        for i, (symbol, ser) in enumerate(series.items()):
            price = prices.get(symbol)
            if price is None or price <= 0:
                continue
            window_prices = ser.prices
            if window_prices:
                r = log(price / window_prices[-1])
                rets[i] = r
                values = ser.rets
                values.append(r)
                n = len(values)
                r2 = r * r
                ser.s_short += r
                ser.ss_short += r2
                ser.s_long += r
                ser.ss_long += r2
                ser.s_corr += r
                ser.ss_corr += r2
                if n > short:
                    o = values[i_short]
                    ser.s_short -= o
                    ser.ss_short -= o * o
                else:
                    ser.n_short = n
                if n > long:
                    o = values[i_long]
                    ser.s_long -= o
                    ser.ss_long -= o * o
                else:
                    ser.n_long = n
                if n > corr:
                    o = values[i_corr]
                    ser.s_corr -= o
                    ser.ss_corr -= o * o
                else:
                    ser.n_corr = n
                if n > keep:
                    values.popleft()
                nc = ser.n_corr
                mean = ser.s_corr / nc
                centered = ser.ss_corr - ser.s_corr * mean
                ser.mean_corr = mean
                ser.inv_sd = 1.0 / sqrt(centered) if centered > _NOISE else 0.0
            window_prices.append(price)
        for a, b, pw in self._pairs:
            ra = rets[a]
            if ra is None:
                continue
            rb = rets[b]
            if rb is None:
                continue
            x = ra * rb
            pvals = pw.values
            pvals.append(x)
            pw.s += x
            if len(pvals) > corr:
                pw.s -= pvals.popleft()
        self._corr_cache.clear()
        self._updates += 1
        if self._updates % self._RESUM_EVERY == 0:
            self._resum()

    def _resum(self) -> None:
        for ser in self._series.values():
            vals = list(ser.rets)
            for attr, size in (("short", self.short_window), ("long", self.long_window), ("corr", self.corr_window)):
                tail = vals[-size:]
                setattr(ser, f"s_{attr}", math.fsum(tail))
                setattr(ser, f"ss_{attr}", math.fsum(v * v for v in tail))
        for _, _, pw in self._pairs:
            pw.s = math.fsum(pw.values)

    def samples(self, symbol: str) -> int:
        ser = self._series.get(symbol)
        return ser.n_long if ser is not None else 0

    def short_vol(self, symbol: str) -> float | None:
        ser = self._series.get(symbol)
        if ser is None or ser.n_short < self.short_window:
            return None
        return _stdev(ser.s_short, ser.ss_short, ser.n_short)

    def long_vol(self, symbol: str) -> float | None:
        ser = self._series.get(symbol)
        return None if ser is None else _stdev(ser.s_long, ser.ss_long, ser.n_long)

    def volatility(self, symbol: str) -> tuple[float | None, float | None, float | None, int]:
        """(move_pct, short-window stdev, long-window stdev, long-window samples) in one lookup."""
        ser = self._series.get(symbol)
        if ser is None:
            return None, None, None, 0
        prices = ser.prices
        move = None
        if len(prices) >= 2:
            latest = prices[-1]
            up = latest / min(prices) - 1.0
            down = 1.0 - latest / max(prices)
            move = (up if up > down else down) * 100.0
        n_long = ser.n_long
        short = _stdev(ser.s_short, ser.ss_short, ser.n_short) if ser.n_short >= self.short_window else None
        return move, short, _stdev(ser.s_long, ser.ss_long, n_long), n_long

    def volatile(self, symbols: Iterable[str], max_move_pct: float, min_samples: int, multiple: float) -> list[str]:
        """The symbols whose `volatility` trips the volatility breaker (a short-window move above
        max_move_pct, or with at least min_samples returns a short/long stdev ratio above multiple);
        one pass with no per-symbol tuples, for the guard's scan."""
        out: list[str] = []
        series = self._series
        short_window = self.short_window
        sqrt = math.sqrt
        exp = math.exp
        # below this bound no price in the window can be max_move_pct away from the latest (see below)
        calm = max_move_pct / 100.0 * (1.0 - 1e-9)
        for symbol in symbols:
            ser = series.get(symbol)
            if ser is None:
                continue
            prices = ser.prices
            k = len(prices) - 1  # the window's returns: exactly the short window's (ss_short)
            # |log(latest / p)| <= sum |r| <= sqrt(k * sum r^2) for every p in the window (Cauchy-Schwarz),
            # and both the up move latest/min - 1 and the down move 1 - latest/max are at most
            # exp(that) - 1; only a window that might reach the limit pays for min() and max(). The
            # 1e-9 absorbs the running sum's float drift; NaN, a negative sum or a bound past 1 (a move
            # over 170 %, beyond any allowed max_move_pct; exp could overflow) fail the test: no skip.
            ss = ser.ss_short
            bound = k * (ss + 1e-9)
            if k >= 1 and not (ss >= 0.0 and bound < 1.0 and exp(sqrt(bound)) - 1.0 < calm):
                latest = prices[-1]
                up = latest / min(prices) - 1.0
                down = 1.0 - latest / max(prices)
                if (up if up > down else down) * 100.0 > max_move_pct:
                    out.append(symbol)
                    continue
            n_long = ser.n_long
            n_short = ser.n_short
            if n_long < min_samples or n_short < short_window or n_long < 2 or n_short < 2:
                continue
            # _stdev inlined (same expressions): a flat long window (variance at noise level) never trips
            s = ser.s_long
            var_long = (ser.ss_long - s * s / n_long) / (n_long - 1)
            if var_long <= _NOISE:
                continue
            s = ser.s_short
            var_short = (ser.ss_short - s * s / n_short) / (n_short - 1)
            short = sqrt(var_short) if var_short > _NOISE else 0.0
            if short / sqrt(var_long) > multiple:
                out.append(symbol)
        return out

    def move_pct(self, symbol: str) -> float | None:
        """Largest |price change| in % between the latest price and any price in the short window."""
        ser = self._series.get(symbol)
        if ser is None or len(ser.prices) < 2:
            return None
        prices = ser.prices
        latest = prices[-1]
        lo = min(prices)
        hi = max(prices)
        return max(latest / lo - 1.0, 1.0 - latest / hi) * 100.0

    def correlation(self, a: str, b: str) -> tuple[float | None, int]:
        """(correlation of a's and b's returns over the shared window, sample count)."""
        key = (a, b) if a < b else (b, a)
        cached = self._corr_cache.get(key)
        if cached is not None:
            return cached
        entry = self._pair_index.get(key)
        if entry is None:
            ser = self._series.get(a)
            result: tuple[float | None, int] = (1.0, ser.n_corr) if a == b and ser is not None else (None, 0)
        else:
            result = _pair_correlation(*entry)
        self._corr_cache[key] = result
        return result

    @property
    def version(self) -> int:
        """Changes with every update: results computed from the stats are valid while it stays put."""
        return self._updates

    def max_correlation(
        self,
        symbol: str,
        others: Iterable[tuple[str, int]],
        min_samples: int,
        sign: int = 0,
        *,
        start: tuple[float, str] = (0.0, ""),
    ) -> tuple[float, str]:
        """Strongest correlation of `symbol` with any of `others` ((symbol, position sign) pairs).

        sign=0 compares |corr| (direction unknown); +1/-1 is the entry's direction, so only exposure to the
        same moves counts (a long BTC and a short ETH entry hedge each other). Returns (0.0, "") if none.
        `start` continues a scan whose earlier part `signed_correlations` already did (unclamped).
        """
        best, best_with = start
        row = self._neighbors.get(symbol)
        if row is None:
            return (1.0 if best > 1.0 else best), best_with
        version = self._updates
        for other, psign in others:
            entry = row.get(other)
            if entry is None:
                continue
            pw = entry[0]
            n = len(pw.values)
            if n < min_samples or n < 2:
                continue
            corr = pw.corr if pw.version == version else _fresh_correlation(entry, n, version)
            if corr is None:
                continue
            value = (corr if corr >= 0.0 else -corr) if sign == 0 else corr * psign * sign
            if value > best:
                best, best_with = value, other
        return (1.0 if best > 1.0 else best), best_with

    def signed_correlations(
        self, symbol: str, others: Iterable[tuple[str, int]], min_samples: int
    ) -> tuple[float, str, float, str, float, str]:
        """max_correlation for sign 0, +1 and -1 in one pass, unclamped: (best, with) three times.

        The correlation guard scans the open book once per symbol; a later entry in that symbol picks
        up its direction's result as `start` instead of scanning the open book again."""
        b0, w0, bu, wu, bd, wd = 0.0, "", 0.0, "", 0.0, ""
        row = self._neighbors.get(symbol)
        if row is None:
            return b0, w0, bu, wu, bd, wd
        version = self._updates
        for other, psign in others:
            entry = row.get(other)
            if entry is None:
                continue
            pw, sa, sb = entry
            n = len(pw.values)
            if n < min_samples or n < 2:
                continue
            if pw.version == version:
                corr = pw.corr
            elif sa.n_corr == n and sb.n_corr == n:  # the usual fresh case, as _fresh_correlation does it
                corr = (
                    (pw.s - n * sa.mean_corr * sb.mean_corr) * sa.inv_sd * sb.inv_sd
                    if sa.inv_sd != 0.0 and sb.inv_sd != 0.0
                    else None
                )
                pw.version = version
                pw.corr = corr
            else:
                corr = _fresh_correlation(entry, n, version)
            if corr is None:
                continue
            value = corr if corr >= 0.0 else -corr
            if value > b0:
                b0, w0 = value, other
            value = corr * psign
            if value > bu:
                bu, wu = value, other
            value = -value
            if value > bd:
                bd, wd = value, other
        return b0, w0, bu, wu, bd, wd

    def symbols(self) -> Iterable[str]:
        return tuple(self._series)


def _fresh_correlation(entry: tuple[_PairWindow, _Series, _Series], n: int, version: int) -> float | None:
    """A pair's correlation over its n-sample window, stored on the window for the rest of `version`."""
    pw, sa, sb = entry
    corr: float | None
    if sa.n_corr == n and sb.n_corr == n:  # aligned windows: everything is precomputed
        if sa.inv_sd == 0.0 or sb.inv_sd == 0.0:
            corr = None
        else:
            corr = (pw.s - n * sa.mean_corr * sb.mean_corr) * sa.inv_sd * sb.inv_sd
    else:
        corr, _ = _pair_correlation(pw, sa, sb)
    pw.version = version
    pw.corr = corr
    return corr


def _pair_correlation(pair: _PairWindow, sa_ser: _Series, sb_ser: _Series) -> tuple[float | None, int]:
    n = len(pair.values)
    if n < 2:
        return None, n
    if sa_ser.n_corr == n and sb_ser.n_corr == n:
        sa, saa, sb, sbb = sa_ser.s_corr, sa_ser.ss_corr, sb_ser.s_corr, sb_ser.ss_corr
    else:  # series of different lengths (a symbol joined late or paused): sum the shared tail
        xa = list(sa_ser.rets)[-n:]
        xb = list(sb_ser.rets)[-n:]
        sa, saa = math.fsum(xa), math.fsum(x * x for x in xa)
        sb, sbb = math.fsum(xb), math.fsum(x * x for x in xb)
    va = saa - sa * sa / n
    vb = sbb - sb * sb / n
    if va <= _NOISE or vb <= _NOISE:
        return None, n
    corr = (pair.s - sa * sb / n) / math.sqrt(va * vb)
    return (1.0 if corr > 1.0 else -1.0 if corr < -1.0 else corr), n
