"""Candle history for REST candles / WS candles: bars built from trade prints plus seeded history."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from gpt_trader.features.brokerages.core.interfaces import Candle

BASE_S = 60


class _Bar:
    __slots__ = ("close", "high", "low", "open", "volume")

    def __init__(self, price: Decimal, volume: Decimal) -> None:
        self.open = self.high = self.low = self.close = price
        self.volume = volume

    def add(self, price: Decimal, volume: Decimal) -> None:
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        self.close = price
        self.volume += volume


class CandleStore:
    """Per-symbol bars keyed by start second at their native interval (>= 60 s).

    Live prints land in one-minute bars; seeded history keeps its own interval. Queries aggregate to
    any granularity that is a multiple of the stored bars' interval.
    """

    def __init__(self, max_bars: int = 200_000) -> None:
        self._bars: dict[str, dict[tuple[int, int], _Bar]] = defaultdict(dict)
        self.max_bars = max_bars

    def record(self, symbol: str, ts: dt.datetime, price: Decimal, volume: Decimal) -> None:
        t = int(ts.timestamp())
        key = (t - t % BASE_S, BASE_S)
        bars = self._bars[symbol]
        bar = bars.get(key)
        if bar is None:
            bars[key] = _Bar(price, volume)
            if len(bars) > self.max_bars:
                for old in sorted(bars)[: len(bars) - self.max_bars]:
                    del bars[old]
        else:
            bar.add(price, volume)

    def seed(self, symbol: str, candles: list[Candle], interval_s: int) -> None:
        bars = self._bars[symbol]
        for c in candles:
            bar = _Bar(c.open, c.volume)
            bar.high, bar.low, bar.close = c.high, c.low, c.close
            bars[(int(c.start.timestamp()), interval_s)] = bar

    def query(self, symbol: str, granularity_s: int, start: dt.datetime, end: dt.datetime) -> list[Candle]:
        """Bars with start in [start, end), aggregated to `granularity_s`; oldest first."""
        lo, hi = int(start.timestamp()), int(end.timestamp())
        groups: dict[int, list[tuple[int, _Bar]]] = defaultdict(list)
        for (t, interval), bar in self._bars.get(symbol, {}).items():
            if interval > granularity_s or granularity_s % interval:
                continue
            bucket = t - t % granularity_s
            if lo - granularity_s < bucket < hi:
                groups[bucket].append((t, bar))
        out: list[Candle] = []
        for bucket in sorted(groups):
            if bucket < lo - lo % granularity_s:
                continue
            parts = sorted(groups[bucket], key=lambda it: it[0])
            bars = [b for _, b in parts]
            out.append(
                Candle(
                    start=dt.datetime.fromtimestamp(bucket, dt.UTC),
                    open=bars[0].open,
                    high=max(b.high for b in bars),
                    low=min(b.low for b in bars),
                    close=bars[-1].close,
                    volume=sum((b.volume for b in bars), Decimal(0)),
                    symbol=symbol,
                )
            )
        return out

    def latest(self, symbol: str, granularity_s: int, now: dt.datetime) -> Candle | None:
        start = dt.datetime.fromtimestamp(int(now.timestamp()) - int(now.timestamp()) % granularity_s, dt.UTC)
        got = self.query(symbol, granularity_s, start, now + dt.timedelta(seconds=1))
        return got[-1] if got else None

    def window_stats(
        self, symbol: str, now: dt.datetime, seconds: int = 86_400
    ) -> tuple[Decimal | None, Decimal, Decimal | None, Decimal | None]:
        """(open price `seconds` ago, volume, low, high) over the trailing window."""
        lo = int(now.timestamp()) - seconds
        first_t: int | None = None
        first_open: Decimal | None = None
        volume = Decimal(0)
        low: Decimal | None = None
        high: Decimal | None = None
        for (t, _interval), bar in self._bars.get(symbol, {}).items():
            if t < lo:
                continue
            volume += bar.volume
            low = bar.low if low is None or bar.low < low else low
            high = bar.high if high is None or bar.high > high else high
            if first_t is None or t < first_t:
                first_t, first_open = t, bar.open
        return first_open, volume, low, high
