"""Replay of recorded market data (candle or trade CSV, optionally gzipped) as a price path.

Files in /work/shared/data/market come in several column layouts; the loader detects the time,
OHLCV and trade columns by name. A candle is walked open -> high -> low -> close (or open -> low ->
high -> close for an up bar) across its interval, so replay yields a continuous mid price.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import gzip
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from gpt_trader.features.brokerages.core.interfaces import Candle, OrderSide

TIME_COLUMNS = ("timestamp", "date", "datetime", "open_time", "time", "ts")
VOLUME_COLUMNS = ("volume", "volume_btc", "base_volume", "amount", "size", "qty")


class ReplayFileError(ValueError):
    pass


@dataclass(frozen=True)
class ReplayTrade:
    ts: dt.datetime
    price: Decimal
    size: Decimal
    side: OrderSide  # taker side in the source file


@dataclass(frozen=True)
class ReplaySeries:
    """Bars (or trades) sorted by time. `interval_s` is the bar length (0 for trades)."""

    kind: str  # candles | trades
    candles: tuple[Candle, ...]
    trades: tuple[ReplayTrade, ...]
    interval_s: int

    @property
    def start(self) -> dt.datetime:
        return self.candles[0].start if self.kind == "candles" else self.trades[0].ts

    @property
    def end(self) -> dt.datetime:
        if self.kind == "candles":
            return self.candles[-1].start + dt.timedelta(seconds=self.interval_s)
        return self.trades[-1].ts


def _open_text(path: Path) -> io.TextIOBase:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return io.StringIO(raw.decode())


def _parse_ts(value: str, column: str) -> dt.datetime:
    text = value.strip()
    if text.replace(".", "", 1).isdigit():
        number = float(text)
        if number > 1e14:  # microseconds
            number /= 1e6
        elif number > 1e11:  # milliseconds
            number /= 1e3
        return dt.datetime.fromtimestamp(number, dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ReplayFileError(f"column {column!r}: cannot parse time {value!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _dec(row: dict[str, str], column: str, line: int) -> Decimal:
    try:
        return Decimal(row[column].strip())
    except (InvalidOperation, KeyError, AttributeError) as exc:
        raise ReplayFileError(f"line {line}: column {column!r} is not a number: {row.get(column)!r}") from exc


def load_series(path: str | Path, *, timeframe: str | None = None) -> ReplaySeries:
    """Load candles (open/high/low/close columns) or trades (price + size/amount columns)."""
    p = Path(path)
    if not p.exists():
        raise ReplayFileError(f"replay file not found: {p}")
    reader = csv.DictReader(_open_text(p))
    columns = [c.strip().lower() for c in (reader.fieldnames or [])]
    reader.fieldnames = columns
    time_col = next((c for c in TIME_COLUMNS if c in columns), None)
    if time_col is None:
        raise ReplayFileError(f"{p.name}: no time column; expected one of {', '.join(TIME_COLUMNS)}")
    vol_col = next((c for c in VOLUME_COLUMNS if c in columns), None)
    if {"open", "high", "low", "close"} <= set(columns):
        return _load_candles(p, reader, time_col, vol_col, timeframe, "timeframe" in columns)
    if "price" in columns and vol_col is not None:
        return _load_trades(reader, time_col, vol_col, "side" in columns)
    raise ReplayFileError(f"{p.name}: need open/high/low/close columns (candles) or price+size (trades)")


def _load_candles(
    p: Path,
    reader: csv.DictReader[str],
    time_col: str,
    vol_col: str | None,
    timeframe: str | None,
    multi: bool,
) -> ReplaySeries:
    rows = list(reader)
    if multi:
        frames = sorted({r["timeframe"] for r in rows})
        chosen = timeframe or ("1m" if "1m" in frames else frames[0])
        if chosen not in frames:
            raise ReplayFileError(f"{p.name}: timeframe {chosen!r} not in file; available: {', '.join(frames)}")
        rows = [r for r in rows if r["timeframe"] == chosen]
    candles = []
    for i, r in enumerate(rows, start=2):
        candles.append(
            Candle(
                start=_parse_ts(r[time_col], time_col),
                open=_dec(r, "open", i),
                high=_dec(r, "high", i),
                low=_dec(r, "low", i),
                close=_dec(r, "close", i),
                volume=_dec(r, vol_col, i) if vol_col else Decimal(0),
            )
        )
    if len(candles) < 2:
        raise ReplayFileError(f"{p.name}: need at least 2 candles, got {len(candles)}")
    candles.sort(key=lambda c: c.start)
    gaps = sorted((b.start - a.start).total_seconds() for a, b in itertools.pairwise(candles))
    interval = int(gaps[len(gaps) // 2]) or 60
    return ReplaySeries("candles", tuple(candles), (), interval)


def _load_trades(reader: csv.DictReader[str], time_col: str, vol_col: str, has_side: bool) -> ReplaySeries:
    trades = []
    for i, r in enumerate(reader, start=2):
        side = OrderSide.SELL if has_side and r["side"].strip().lower() in ("sell", "s", "ask") else OrderSide.BUY
        trades.append(ReplayTrade(_parse_ts(r[time_col], time_col), _dec(r, "price", i), _dec(r, vol_col, i), side))
    if not trades:
        raise ReplayFileError("trade file has no rows")
    trades.sort(key=lambda t: t.ts)
    return ReplaySeries("trades", (), tuple(trades), 0)


class ReplayCursor:
    """Price at any time inside the series; past the end it loops back to the start (continuous runs)."""

    def __init__(self, series: ReplaySeries) -> None:
        self.series = series
        self._times = (
            [c.start.timestamp() for c in series.candles]
            if series.kind == "candles"
            else [t.ts.timestamp() for t in series.trades]
        )
        self._t0 = series.start.timestamp()
        self._span = max(series.end.timestamp() - self._t0, 1.0)

    def _wrap(self, at: dt.datetime) -> float:
        t = at.timestamp()
        if t < self._t0:
            return self._t0
        return self._t0 + (t - self._t0) % self._span

    def price_at(self, at: dt.datetime) -> Decimal:
        t = self._wrap(at)
        i = max(bisect.bisect_right(self._times, t) - 1, 0)
        if self.series.kind == "trades":
            return self.series.trades[i].price
        bar = self.series.candles[i]
        frac = min(max((t - self._times[i]) / self.series.interval_s, 0.0), 1.0)
        up = bar.close >= bar.open
        path = [bar.open, bar.low, bar.high, bar.close] if up else [bar.open, bar.high, bar.low, bar.close]
        pos = frac * 3
        k = min(int(pos), 2)
        w = Decimal(str(round(pos - k, 6)))
        return path[k] + (path[k + 1] - path[k]) * w

    def trades_between(self, start: dt.datetime, end: dt.datetime) -> Iterator[ReplayTrade]:
        """Recorded trades in (start, end], for trade files (candle files yield none)."""
        if self.series.kind != "trades" or end <= start:
            return iter(())
        a, b = self._wrap(start), self._wrap(end)
        if b < a:
            return iter(())
        lo = bisect.bisect_right(self._times, a)
        hi = bisect.bisect_right(self._times, b)
        return iter(self.series.trades[lo:hi])

    def candles_until(self, at: dt.datetime) -> list[Candle]:
        """Completed bars up to `at` (for REST candle history before the replay clock)."""
        if self.series.kind != "candles":
            return []
        t = at.timestamp()
        return [c for c in self.series.candles if c.start.timestamp() + self.series.interval_s <= t]
