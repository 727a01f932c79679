"""Bars from the trade stream: a bar closes when the stream says so (the first trade stamped past its
end, or the venue clock past it), never on a local sleep. A bar the stream may not have seen whole (the
bot subscribed mid-bar, a gap, a reconnect, a stall) is marked `suspect`; the bot repairs it with one REST
candle read before deciding on it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import msgspec

from gpt_trader.features.brokerages.core.interfaces import Candle


class ClosedBar(msgspec.Struct, frozen=True, kw_only=True):
    candle: Candle
    suspect: bool


class _OpenBar:
    __slots__ = ("close", "high", "low", "open", "start", "suspect", "volume")

    def __init__(self, start: datetime, price: Decimal, size: Decimal, suspect: bool) -> None:
        self.start = start
        self.open = self.high = self.low = self.close = price
        self.volume = size
        self.suspect = suspect

    def add(self, price: Decimal, size: Decimal) -> None:
        if price > self.high:
            self.high = price
        if price < self.low:
            self.low = price
        self.close = price
        self.volume += size


class BarBuilder:
    """One symbol's OHLCV bars of `granularity_s` from trade prints (venue timestamps). Why: the bot
    decides on a bar the moment the stream closes it, with no REST candle poll per cycle."""

    def __init__(self, symbol: str, granularity_s: int) -> None:
        if granularity_s <= 0:
            raise ValueError(f"granularity_s must be > 0, got {granularity_s}")
        self.symbol = symbol
        self.granularity_s = granularity_s
        self.span = timedelta(seconds=granularity_s)
        self._open: _OpenBar | None = None
        self._last_closed: datetime | None = None
        #: the next bar opened is suspect (nothing seen yet: the stream joined mid-bar)
        self._next_suspect = True
        self.late_trades = 0

    def bar_start(self, ts: datetime) -> datetime:
        epoch = int(ts.timestamp())
        return datetime.fromtimestamp(epoch - epoch % self.granularity_s, tz=UTC)

    def mark_suspect(self) -> None:
        """The stream may have lost trades (gap, reconnect, stall): the open bar (or the next) is suspect."""
        if self._open is not None:
            self._open.suspect = True
        else:
            self._next_suspect = True

    def on_trade(self, price: Decimal, size: Decimal, ts: datetime) -> ClosedBar | None:
        """Add a print; returns the bar it closed, if its time is past the open bar's end."""
        start = self.bar_start(ts)
        bar = self._open
        if bar is not None and start == bar.start:
            bar.add(price, size)
            return None
        if (bar is not None and start < bar.start) or (self._last_closed is not None and start <= self._last_closed):
            self.late_trades += 1  # a print for a bar already closed: the next REST reconciliation sees it
            return None
        closed = self._close()
        self._open = _OpenBar(start, price, size, self._next_suspect)
        self._next_suspect = False
        return closed

    def would_close(self, now: datetime) -> bool:
        bar = self._open
        return bar is not None and now >= bar.start + self.span

    def on_time(self, now: datetime) -> ClosedBar | None:
        """The venue clock (heartbeats, frames) passed the open bar's end: close it without a trade."""
        bar = self._open
        if bar is None or now < bar.start + self.span:
            return None
        return self._close()

    def _close(self) -> ClosedBar | None:
        bar = self._open
        if bar is None:
            return None
        self._open = None
        self._last_closed = bar.start
        candle = Candle(
            symbol=self.symbol,
            start=bar.start,
            open=bar.open,
            high=bar.high,
            low=bar.low,
            close=bar.close,
            volume=bar.volume,
        )
        return ClosedBar(candle=candle, suspect=bar.suspect)
